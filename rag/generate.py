"""The generator: a GGUF model through llama.cpp, loaded once per process, streaming tokens."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from rag.errors import ModelError
from rag.models import resolve_gguf
from rag.settings import Settings

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, int], Generator] = {}


@contextmanager
def _without_extra_buffers() -> Iterator[None]:
    """Load with use_extra_bufts=False: avoids the AMX repack crash (llama.cpp#20824) on native CPU builds."""
    import llama_cpp.llama_cpp as ll

    original = ll.llama_model_default_params

    def params():  # noqa: ANN202 - ctypes struct
        p = original()
        p.use_extra_bufts = False
        return p

    ll.llama_model_default_params = params
    try:
        yield
    finally:
        ll.llama_model_default_params = original


@dataclass
class FirstTokenProbe:
    """Reads the model's probability of starting with given tokens at the first generated position (no extra cost)."""

    token_ids: list[int]
    p: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """llama.cpp logits processor: record once, change nothing."""
        if self.p is None:
            z = scores.astype(np.float64) - float(np.max(scores))
            probs = np.exp(z)
            probs /= probs.sum()
            self.p = float(probs[self.token_ids].sum()) if self.token_ids else 0.0
            best = np.argsort(-probs)[:5]
            self.top = [(int(i), float(probs[i])) for i in best]
        return scores


class Generator:
    """A loaded llama.cpp model. One generation at a time (llama.cpp contexts are not thread-safe)."""

    def __init__(self, name: str, path: Path, n_ctx: int, n_threads: int) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelError("llama-cpp-python is not installed", "run `python3 rag/bootstrap.py`") from e
        self.name = name
        self.path = path
        self.lock = threading.Lock()
        try:
            with _without_extra_buffers():
                self.llm = Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                    n_batch=512, verbose=False,
                )
        except Exception as e:  # llama.cpp reports a bad file as a generic error
            raise ModelError(f"llama.cpp could not load {path}: {e}") from e

    def count_tokens(self, text: str) -> int:
        """Number of tokens in text for this model."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """Approximate prompt size in tokens (message contents plus template overhead)."""
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def first_tokens(self, texts: list[str]) -> list[int]:
        """The first token of each text (how the model would start writing it)."""
        ids = {self.llm.tokenize(t.encode("utf-8"), add_bos=False, special=False)[0] for t in texts if t}
        return sorted(ids)

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
        probe: FirstTokenProbe | None = None,
    ) -> Iterator[str]:
        """Yield the answer piece by piece as the model writes it (a probe reads the first token's distribution)."""
        from llama_cpp import LogitsProcessorList

        with self.lock:
            chunks = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, top_p=0.9,
                repeat_penalty=1.1, stream=True, seed=0,
                logits_processor=LogitsProcessorList([probe]) if probe else None,
            )
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece

    def complete(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        """The whole (greedy) answer at once, for short internal tasks."""
        return "".join(self.stream(messages, max_tokens, 0.0)).strip()


def get_generator(settings: Settings) -> Generator:
    """The process-wide generator for these settings (verified and loaded on first use)."""
    threads = settings.n_threads or os.cpu_count() or 2
    key = (settings.generator, settings.n_ctx)
    with _LOCK:
        if key not in _CACHE:
            path = resolve_gguf(settings.generator, settings.cache_dir, settings.generator_sha256)
            _CACHE[key] = Generator(settings.generator, path, settings.n_ctx, threads)
        return _CACHE[key]
