"""The generator: a GGUF model through llama.cpp, loaded once per process, streaming tokens."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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

    def stream(self, messages: list[dict[str, str]], max_tokens: int, temperature: float) -> Iterator[str]:
        """Yield the answer piece by piece as the model writes it."""
        with self.lock:
            chunks = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, top_p=0.9,
                repeat_penalty=1.1, stream=True, seed=0,
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
