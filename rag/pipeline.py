"""The ask path shared by the CLI, the UI and evaluation: question -> passages -> streamed answer -> citations."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union

from rag.articles import read_article
from rag.citations import check_citations, says_not_found, unsupported_numbers
from rag.clean import clean_article
from rag.embed import get_embedder
from rag.errors import BadInputError
from rag.followup import needs_rewrite, rewrite_question
from rag.generate import get_generator
from rag.ingest import IngestReport, ingest
from rag.language import REFUSAL, SUPPORTED, UNCITED_NOTE, detect_language
from rag.prompt import build_messages
from rag.retrieve import Retrieval, retrieve
from rag.settings import Settings, get_settings
from rag.store import CURRENT, Index
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
    refusal_reason: str | None = None
    uncited: bool = False
    invalid_markers: list[int] = field(default_factory=list)
    standalone_question: str | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


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
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def validate_question(question: str, settings: Settings) -> str:
    """The question with control characters removed; BadInputError when it cannot be asked."""
    if not isinstance(question, str):
        raise BadInputError("the question must be text")
    q = unicodedata.normalize("NFC", _CONTROL.sub(" ", question.replace("\n", " ").replace("\t", " ")))
    q = re.sub(r"\s+", " ", q).strip()
    if not q:
        raise BadInputError("the question is empty", 'ask something, e.g. rag ask "Apa itu Konvensi Hanoi?"')
    if len(q) > settings.max_question_chars:
        raise BadInputError(
            f"the question is {len(q):,} characters long; the limit is {settings.max_question_chars:,}",
            "ask a shorter, focused question (the limit is the max_question_chars setting)",
        )
    if not re.search(r"\w", q):
        raise BadInputError("the question has no words in it")
    return q


class Assistant:
    """Holds the index and models for one process; every front end asks through it."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._index: Index | None = None
        self._index_pointer: str | None = None
        self._lock = threading.Lock()

    @property
    def index(self) -> Index:
        """The current index, reloaded when an ingest (from any process) has switched generations."""
        pointer_file = self.settings.index_dir / CURRENT
        pointer = pointer_file.read_text().strip() if pointer_file.is_file() else None
        with self._lock:
            if self._index is None or pointer != self._index_pointer:
                index = Index.load(self.settings.index_dir)
                index.check_compatible(self.settings)
                self._index, self._index_pointer = index, pointer
            return self._index

    def ingest(self, paths: list[Path], rebuild: bool = False, progress: bool = True) -> IngestReport:
        """Ingest articles; the next question sees the new index."""
        return ingest(paths, self.settings, rebuild=rebuild, progress=progress)

    def add_article(self, source: Path, filename: str) -> IngestReport:
        """Validate an uploaded .txt article, keep a copy in uploads_dir, and index it (no restart needed)."""
        name = Path(filename).name
        if Path(name).suffix.lower() != ".txt":
            raise BadInputError(f"{name}: only .txt articles can be added")
        size = source.stat().st_size
        if size > self.settings.ui_max_upload_bytes:
            raise BadInputError(f"{name}: {size:,} bytes is over the {self.settings.ui_max_upload_bytes:,}-byte limit")
        raw = read_article(source)  # raises with the reason: not UTF-8, binary, empty
        if not clean_article(raw, Path(name).stem).text:
            raise BadInputError(f"{name}: no article text is left after removing page boilerplate")
        self.settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        target = self.settings.uploads_dir / name
        tmp = target.with_name(f".{name}.part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return self.ingest([target], progress=False)

    def articles(self) -> list[dict[str, Any]]:
        """Metadata of every indexed article, newest first."""
        return self.index.article_list()

    def model_names(self) -> dict[str, str]:
        """Names of the configured generator and embedder."""
        return {"generator": self.settings.generator, "embedder": self.settings.embedder}

    def warm_up(self) -> None:
        """Load the index and both models now rather than on the first question."""
        _ = self.index
        get_embedder(self.settings)
        get_generator(self.settings)

    def retrieve(self, question: str, top_k: int | None = None) -> Retrieval:
        """Hybrid retrieval for a question (validated first)."""
        q = validate_question(question, self.settings)
        return retrieve(self.index, get_embedder(self.settings), q, self.settings, top_k)

    def ask_stream(
        self, question: str, top_k: int | None = None, max_tokens: int | None = None,
        history: list[tuple[str, str]] | None = None,
    ) -> Iterator[Event]:
        """Answer a question as events: Retrieved, then Token pieces, then Done with the verified result."""
        t0 = time.perf_counter()
        q = validate_question(question, self.settings)
        language = detect_language(q)
        if language not in SUPPORTED:
            raise BadInputError(
                f"the question seems to be in a language other than Indonesian or English (detected: {language}). "
                "Pertanyaan hanya didukung dalam bahasa Indonesia atau Inggris.",
                "ask in Indonesian or English",
            )
        index = self.index
        standalone = None
        if history and needs_rewrite(q, history):
            standalone = rewrite_question(get_generator(self.settings), q, history, language)
        search_q = standalone or q
        found = retrieve(index, get_embedder(self.settings), search_q, self.settings, top_k)
        timings: dict[str, float | None] = {"retrieval": round(found.seconds, 4), "first_token": None, "total": None}
        base = dict(question=q, model=self.model_names(), language=language, standalone_question=standalone)
        yield Retrieved(found.passages, standalone, refused=found.weak)

        if found.weak:
            timings["total"] = round(time.perf_counter() - t0, 4)
            yield Done(AskResult(answer=REFUSAL[language], refused=True, citations=[], passages=found.passages,
                                 timings=timings, refusal_reason="weak evidence: no passage matches the question well",
                                 **base))
            return

        generator = get_generator(self.settings)
        messages = build_messages(search_q, found.passages, language)
        pieces: list[str] = []
        for piece in generator.stream(messages, max_tokens or self.settings.max_tokens, self.settings.temperature):
            if timings["first_token"] is None:
                timings["first_token"] = round(time.perf_counter() - t0, 4)
            pieces.append(piece)
            yield Token(piece)
        raw = "".join(pieces).strip()
        timings["total"] = round(time.perf_counter() - t0, 4)
        checked = check_citations(raw, found.passages)
        result = AskResult(
            answer=checked.text, refused=False, citations=checked.citations, passages=found.passages, timings=timings,
            invalid_markers=checked.invalid_markers, uncited=checked.uncited,
            prompt_tokens=generator.prompt_tokens(messages), generated_tokens=generator.count_tokens(raw), **base,
        )
        invented = unsupported_numbers(checked.text, [p.text for p in found.passages] + [search_q, q])
        if not raw or says_not_found(raw, REFUSAL[language]):
            result.answer, result.refused, result.citations, result.uncited = REFUSAL[language], True, [], False
            result.refusal_reason = "the model found no answer in the passages"
        elif invented:
            result.answer, result.refused, result.citations, result.uncited = REFUSAL[language], True, [], False
            result.refusal_reason = f"the model's answer had figures found in no article ({', '.join(invented)})"
        elif checked.uncited:
            result.refusal_reason = None
            result.answer = f"{checked.text}\n\n{UNCITED_NOTE[language]}"
        yield Done(result)

    def ask(self, question: str, **kwargs: Any) -> AskResult:
        """Answer a question and return only the final result."""
        for event in self.ask_stream(question, **kwargs):
            if isinstance(event, Done):
                return event.result
        raise RuntimeError("ask_stream ended without a result")  # unreachable by construction
