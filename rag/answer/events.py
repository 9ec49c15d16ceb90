"""What an ask streams: Retrieved, then Token pieces, then Done with the AskResult (light: the client reads these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Union

from rag.answer.policy import Reason
from rag.types import Citation, Passage


@dataclass
class AskResult:
    """Everything about one answered (or refused) question; `to_dict` is the `rag ask --json` object."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    passages: list[Passage]
    timings: dict[str, float | None]
    model: dict[str, str]
    language: str
    refusal_reason: Reason | None = None
    uncited: bool = False  # answered, but no verified citation (the shells add a note)
    invalid_markers: list[int] = field(default_factory=list)
    standalone_question: str | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    raw_answer: str = ""  # what the model wrote, before verification
    signals: dict[str, Any] = field(default_factory=dict)  # what the policy decided on
    attribution: dict[str, int] = field(default_factory=dict)  # markers confirmed/moved/added/dropped
    filters: dict[str, Any] | None = None  # the article filter searched under (given, or the period asked about)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AskResult:
        """The result back from its JSON form (what a server sends)."""
        d = dict(d)
        d["citations"] = [Citation(**c) for c in d.get("citations", [])]
        d["passages"] = [Passage(**p) for p in d.get("passages", [])]
        d["refusal_reason"] = Reason(d["refusal_reason"]) if d.get("refusal_reason") else None
        return cls(**d)


@dataclass
class Retrieved:
    """Event: retrieval finished (the UI shows the evidence now)."""

    passages: list[Passage]
    standalone_question: str | None
    refused: bool


@dataclass
class Token:
    """Event: a piece of the answer text."""

    text: str


@dataclass
class Done:
    """Event: the final, verified result."""

    result: AskResult


Event = Union[Retrieved, Token, Done]
