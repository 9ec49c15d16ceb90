"""The default generator: a GGUF model run in-process by llama.cpp, streaming tokens."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
from pydantic import Field

from rag.backends.generators.base import FifoLock, GenerationReport, Messages, normalise_choice
from rag.backends.models import resolve_gguf
from rag.backends.options import BackendOptions
from rag.errors import ModelError

if TYPE_CHECKING:
    from rag.settings import Settings

_LOAD_LOCK = threading.RLock()


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
class FirstTokenDistribution:
    """Reads the probability of each of some tokens at the first generated position."""

    token_ids: list[int]
    p: dict[int, float] = field(default_factory=dict)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """llama.cpp logits processor: record once, change nothing."""
        if not self.p:
            z = scores.astype(np.float64) - float(np.max(scores))
            probs = np.exp(z)
            probs /= probs.sum()
            self.p = {i: float(probs[i]) for i in self.token_ids}
        return scores


@dataclass
class FirstTokenProbe:
    """Reads the model's probability of starting with given tokens at the first generated position (no extra cost);
    with `ban_below`, removes those tokens there when their probability is below it."""

    token_ids: list[int]
    ban_below: float | None = None
    p: float | None = None
    banned: bool = False  # a watched token was the likeliest and was removed
    top: list[tuple[int, float]] = field(default_factory=list)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """llama.cpp logits processor: at the first position only, record (and ban when asked)."""
        if self.p is not None:
            return scores
        z = scores.astype(np.float64) - float(np.max(scores))
        probs = np.exp(z)
        probs /= probs.sum()
        self.p = float(probs[self.token_ids].sum()) if self.token_ids else 0.0
        best = np.argsort(-probs)[:5]
        self.top = [(int(i), float(probs[i])) for i in best]
        if self.token_ids and self.ban_below is not None and self.p < self.ban_below:
            self.banned = int(best[0]) in self.token_ids
            scores = scores.copy()
            scores[self.token_ids] = -np.inf
        return scores


def reused_prefix(before: list[int], now: list[int]) -> int:
    """Prompt tokens llama.cpp kept from the previous call: the common prefix, less the one it reads again to
    refresh the logits when the whole prompt was cached."""
    n = 0
    for a, b in zip(before, now):
        if a != b:
            break
        n += 1
    return max(0, min(n, len(now) - 1))


class LlamaCppGenerator:
    """A GGUF model run in this process by llama.cpp, loaded on first use. One generation at a time."""

    class Options(BackendOptions):
        """[generator.llama_cpp] (also the flat n_ctx, n_threads, generator_sha256)."""

        n_ctx: int = Field(4096, ge=512, le=131_072, description="context window in tokens")
        n_threads: int | None = Field(None, ge=1, description="threads (default: one per core)")
        sha256: str | None = Field(None, description="expected sha256 of a custom GGUF")

    reads = ("cache_dir",)

    @classmethod
    def from_settings(cls, target: str, options: LlamaCppGenerator.Options, settings: Settings) -> LlamaCppGenerator:
        """The model `target` names: a packaged name, a .gguf path or an hf: reference (found and verified on first
        use)."""
        return cls(target, lambda: resolve_gguf(target, settings.cache_dir, options.sha256),
                   options.n_ctx, options.n_threads or os.cpu_count() or 2)

    def __init__(self, name: str, path: Path | Callable[[], Path], n_ctx: int, n_threads: int, top_p: float = 0.9,
                 repeat_penalty: float = 1.1) -> None:
        self.name = name
        self._path = path  # or how to find it: resolved (and verified) only when the model is first needed
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.top_p = top_p
        self.repeat_penalty = repeat_penalty
        self.lock = FifoLock()  # one generation at a time (a llama.cpp context is not thread-safe), in arrival order
        self._llm = None

    @property
    def path(self) -> Path:
        """The GGUF file (located and verified now if it was not yet)."""
        with _LOAD_LOCK:
            if callable(self._path):
                self._path = self._path()
            return self._path

    @property
    def llm(self):  # noqa: ANN201 - llama_cpp.Llama, imported lazily
        """The loaded llama.cpp model (loaded now if it was not yet)."""
        with _LOAD_LOCK:
            if self._llm is None:
                try:
                    from llama_cpp import Llama
                except ImportError as e:
                    raise ModelError("llama-cpp-python is not installed", "run `python3 rag/bootstrap.py`") from e
                try:
                    with _without_extra_buffers():
                        self._llm = Llama(
                            model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                            n_threads_batch=self.n_threads, n_batch=512, verbose=False,
                        )
                except Exception as e:  # llama.cpp reports a bad file as a generic error
                    raise ModelError(f"llama.cpp could not load {self.path}: {e}") from e
            return self._llm

    def warm_up(self) -> None:
        """Load the model now rather than on the first question."""
        _ = self.llm

    def count_tokens(self, text: str) -> int:
        """Number of tokens in text for this model."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, messages: Messages) -> int:
        """Approximate prompt size in tokens (message contents plus template overhead)."""
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def _context_tokens(self) -> list[int]:
        """The tokens llama.cpp's context holds now (its KV cache)."""
        return self.llm.input_ids[: self.llm.n_tokens].tolist()

    def first_tokens(self, texts: list[str]) -> list[int]:
        """The first token of each text (how the model would start writing it)."""
        ids = {self.llm.tokenize(t.encode("utf-8"), add_bos=False, special=False)[0] for t in texts if t}
        return sorted(ids)

    def stream(
        self, messages: Messages, max_tokens: int, temperature: float, report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """Yield the answer piece by piece; a logits processor reads the first token's distribution for `report`."""
        from llama_cpp import LogitsProcessorList

        probe = (FirstTokenProbe(self.first_tokens(report.watch), report.ban_below)
                 if report is not None and report.watch else None)
        pieces: list[str] = []
        with self.lock:
            before = self._context_tokens()  # what the context holds from the previous call
            chunks = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, top_p=self.top_p,
                repeat_penalty=self.repeat_penalty, stream=True, seed=0,
                logits_processor=LogitsProcessorList([probe]) if probe else None,
            )
            try:
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        if report is not None and report.cached_tokens is None:
                            # the prompt as read: exact, or one over when the first piece took two tokens
                            prompt = self._context_tokens()
                            report.prompt_tokens = len(prompt)
                            report.cached_tokens = reused_prefix(before, prompt)
                        if report is not None and probe is not None and report.p_watch is None:
                            report.p_watch = probe.p
                        pieces.append(piece)
                        yield piece
            finally:
                if report is not None:
                    report.p_watch = probe.p if probe is not None else None
                    report.banned = probe is not None and probe.banned
                    report.prompt_tokens = report.prompt_tokens or self.prompt_tokens(messages)
                    report.completion_tokens = self.count_tokens("".join(pieces).strip())

    def prime(self, messages: Messages) -> None:
        """Read a prompt into the context without answering it (one token is generated and dropped), so the next
        prompt that starts the same way reads only what follows."""
        with self.lock:
            for _ in self.llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0, stream=True):
                pass

    def choose(self, messages: Messages, options: dict[str, list[str]]) -> dict[str, float] | None:
        """One greedy step: each option's probability by the first tokens of its spellings, normalised."""
        from llama_cpp import LogitsProcessorList

        ids = {name: self.first_tokens(spellings) for name, spellings in options.items()}
        probe = FirstTokenDistribution(sorted({i for v in ids.values() for i in v}))
        with self.lock:
            for _ in self.llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0, stream=True,
                                                     logits_processor=LogitsProcessorList([probe])):
                pass
        return normalise_choice({name: sum(probe.p.get(i, 0.0) for i in v) for name, v in ids.items()})

