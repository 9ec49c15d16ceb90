"""The generator protocol: chat messages in, answer text streamed out, usage and the first-token signal reported."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Protocol, runtime_checkable

Messages = list[dict[str, str]]


@dataclass
class GenerationReport:
    """Filled in by a generator while it streams.

    `watch` lists texts (the refusal sentences); `p_watch` is the model's probability of starting its answer with
    the first token of any of them, read at the first generated position (None when the backend cannot tell).
    With `ban_below` set, a watched text may not start the answer when `p_watch` is below it: the model is more
    likely to answer than to refuse, so it writes its likeliest answer. `banned` says a watched token was the
    likeliest first token and was set aside (the answer differs from the greedy one). `cached_tokens` is how many of
    the prompt's tokens the backend reused from its previous prompt instead of reading them again (llama.cpp keeps
    the longest common prefix; None when the backend cannot tell)."""

    watch: list[str] = field(default_factory=list)
    p_watch: float | None = None
    ban_below: float | None = None
    banned: bool = False
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    completion_tokens: int | None = None


@runtime_checkable
class Generator(Protocol):
    """A chat model that streams its answer.

    Optional, looked up with getattr: `warm_up()` loads the model now; `prime(messages)` reads a prompt into a model
    context that keeps it, so later prompts with the same start read only the rest (llama.cpp in this process)."""

    name: str

    def stream(
        self, messages: Messages, max_tokens: int, temperature: float, report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """Yield the answer piece by piece; fill `report` (usage, first-token probability) on the way."""

    def choose(self, messages: Messages, options: dict[str, list[str]]) -> dict[str, float] | None:
        """The model's probability of replying with each option (by the first token of its spellings), normalised
        over the options; None when the backend cannot tell."""


def normalise_choice(mass: dict[str, float]) -> dict[str, float] | None:
    """Option masses as probabilities that sum to 1 (None when the model gave the options no mass at all)."""
    total = sum(mass.values())
    return {k: v / total for k, v in mass.items()} if total > 0 else None


class FifoLock:
    """A lock granted in arrival order (threading.Lock is not fair), so queued generations are served in turn."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


def complete(generator: Generator, messages: Messages, max_tokens: int) -> str:
    """The whole greedy answer at once, for short internal tasks (question rewriting)."""
    return "".join(generator.stream(messages, max_tokens, 0.0)).strip()
