"""What an ask streams: Retrieved, then Token pieces, then Done with the AskResult (light: the client reads these).

`encode` and `decode` are the one wire form of these events, written by the server and read by the client.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Union

from rag.answer.policy import Reason, Signals
from rag.errors import error_from
from rag.types import ArticleFilter, Citation, Passage


@dataclass
class Timings:
    """Seconds since the question arrived when each step ended (None: not reached), and the checks' own seconds."""

    retrieval: float | None = None
    first_token: float | None = None
    total: float | None = None
    check: float | None = None  # the answerability check, when it ran
    claim_check: float | None = None  # the claim check, when it ran
    queue_wait: float | None = None  # seconds waiting for the model (a server's answer only)

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready form: the three steps always, a check or the wait only when there was one."""
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("retrieval", "first_token", "total")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Timings:
        """Timings back from their JSON form."""
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


@dataclass
class Attribution:
    """What verification did to the answer's [n] markers and names (counts)."""

    confirmed: int = 0  # a marker kept where the model put it
    moved: int = 0  # a marker moved to the passage that supports the claim
    added: int = 0  # a marker added to an unmarked claim
    dropped: int = 0  # a marker of a claim that no passage supports
    unsupported: int = 0  # a claim the model marked but no passage supports
    invalid: int | None = None  # markers that name no passage (None: no claim was checked against evidence)
    names_respelled: int = 0  # names the model misspelt, respelled as the evidence spells them

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form: the counts that are not zero, and `invalid` whenever claims were checked."""
        return {k: v for k, v in asdict(self).items() if v or (k == "invalid" and v is not None)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attribution:
        """Counts back from their JSON form."""
        return cls(**{f.name: d.get(f.name, None if f.name == "invalid" else 0) for f in fields(cls)})


@dataclass
class AskResult:
    """Everything about one answered (or refused) question; `to_dict` is the `rag ask --json` object."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    passages: list[Passage]
    timings: Timings
    model: dict[str, str]
    language: str
    refusal_reason: Reason | None = None
    uncited: bool = False  # answered, but no verified citation (the shells add a note)
    invalid_markers: list[int] = field(default_factory=list)
    standalone_question: str | None = None
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # of prompt_tokens, those the model kept from its previous prompt (not read again)
    generated_tokens: int = 0
    raw_answer: str = ""  # what the model wrote, before verification
    signals: Signals | None = None  # what the policy decided on (None: refused before any was measured)
    attribution: Attribution = field(default_factory=Attribution)
    filters: ArticleFilter | None = None  # the article filter searched under (given, or the period asked about)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(citations=[c.to_dict() for c in self.citations], passages=[p.to_dict() for p in self.passages],
                   timings=self.timings.to_dict(), model=dict(self.model), invalid_markers=list(self.invalid_markers),
                   signals=self.signals.to_dict() if self.signals else {}, attribution=self.attribution.to_dict(),
                   filters=self.filters.to_dict() if self.filters is not None else None)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AskResult:
        """The result back from its JSON form (what a server sends)."""
        d = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        d["citations"] = [Citation.from_dict(c) for c in d.get("citations", [])]
        d["passages"] = [Passage.from_dict(p) for p in d.get("passages", [])]
        d["timings"] = Timings.from_dict(d.get("timings") or {})
        d["refusal_reason"] = Reason(d["refusal_reason"]) if d.get("refusal_reason") else None
        d["signals"] = Signals.from_dict(d["signals"]) if d.get("signals") else None
        d["attribution"] = Attribution.from_dict(d.get("attribution") or {})
        d["filters"] = ArticleFilter.from_dict(d["filters"]) if d.get("filters") is not None else None
        return cls(**d)


@dataclass
class Retrieved:
    """Event: retrieval finished (the UI shows the evidence now, in the question's language)."""

    passages: list[Passage]
    standalone_question: str | None
    refused: bool
    language: str  # the question's language as the assistant detected it ('id', 'en', or another code)


@dataclass
class Token:
    """Event: a piece of the answer text."""

    text: str


@dataclass
class Done:
    """Event: the final, verified result."""

    result: AskResult


Event = Union[Retrieved, Token, Done]


def encode(event: Event) -> tuple[str, dict[str, Any]]:
    """An event's server-sent-event name and JSON data."""
    if isinstance(event, Retrieved):
        return "retrieved", {"passages": [p.to_dict() for p in event.passages],
                             "standalone_question": event.standalone_question, "refused": event.refused,
                             "language": event.language}
    if isinstance(event, Token):
        return "token", {"text": event.text}
    return "done", event.result.to_dict()


def decode(name: str, data: dict[str, Any]) -> Event | None:
    """The event a server sent (None for one a client need not act on, e.g. 'queued'); an 'error' event is raised
    as the RagError it carries."""
    if name == "retrieved":
        return Retrieved([Passage.from_dict(p) for p in data["passages"]], data["standalone_question"],
                         data["refused"], data.get("language", ""))  # '' from a server older than the field
    if name == "token":
        return Token(data["text"])
    if name == "done":
        return Done(AskResult.from_dict(data))
    if name == "error":
        raise error_from(data)
    return None
