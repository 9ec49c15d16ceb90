"""A scripted generator for unit tests of the policy branches: no model, replies chosen by the test."""

from __future__ import annotations

from typing import Callable, Iterator

from rag.backends.generators.base import GenerationReport, Messages


class FakeGenerator:
    """Answers with `reply(messages)` word by word and reports `p_watch` as the first-token probability."""

    def __init__(self, reply: str | Callable[[Messages], str], p_watch: float | None = 0.0, name: str = "fake",
                 choice: dict[str, float] | None = None) -> None:
        self.reply = reply
        self.p_watch = p_watch
        self.choice = choice  # what `choose` answers (None: the backend cannot tell)
        self.name = name
        self.calls: list[Messages] = []
        self.choose_calls: list[Messages] = []

    def stream(
        self, messages: Messages, max_tokens: int, temperature: float, report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """Yield the scripted reply in word-sized pieces."""
        self.calls.append(messages)
        text = self.reply(messages) if callable(self.reply) else self.reply
        words = text.split(" ")[:max_tokens]
        if report is not None:
            report.p_watch = self.p_watch if report.watch else None
            report.prompt_tokens = sum(len(m["content"].split()) for m in messages)
            report.completion_tokens = len(words)
        for i, w in enumerate(words):
            yield w if i == 0 else " " + w

    def choose(self, messages: Messages, options: dict[str, list[str]]) -> dict[str, float] | None:
        """The scripted option probabilities."""
        self.choose_calls.append(messages)
        return dict(self.choice) if self.choice is not None else None
