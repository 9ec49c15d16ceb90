"""The question-file format: one JSON object per line, validated into `Question`s (`rag eval --questions`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import BadInputError
from rag.settings import PROJECT_ROOT

DEFAULT_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"


@dataclass
class Question:
    """One evaluation question with its gold labels."""

    id: str
    question: str
    answerable: bool
    language: str = "id"
    type: str = "unspecified"
    reference_answer: str = ""
    gold_articles: list[str] = field(default_factory=list)
    key_facts: list[str] = field(default_factory=list)
    gold_passage: str = ""
    near_topic: bool = False  # unanswerable, yet about the articles' people and events


_STR_FIELDS = ("id", "question", "language", "type", "reference_answer", "gold_passage")
_LIST_FIELDS = ("gold_articles", "key_facts")


def parse_question(obj: Any, where: str) -> Question:
    """Validate one decoded JSON line; BadInputError names `where` (file:line) and the problem."""
    if not isinstance(obj, dict):
        raise BadInputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - {f for f in Question.__dataclass_fields__})
    if unknown:
        raise BadInputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for name in ("id", "question", "answerable"):
        if name not in obj:
            raise BadInputError(f"{where}: missing required field {name!r}")
    for name in ("answerable", "near_topic"):
        if name in obj and not isinstance(obj[name], bool):
            raise BadInputError(f"{where}: {name!r} must be true or false")
    for name in _STR_FIELDS:
        if name in obj and not isinstance(obj[name], str):
            raise BadInputError(f"{where}: {name!r} must be a string")
    for name in _LIST_FIELDS:
        if name in obj and not (isinstance(obj[name], list) and all(isinstance(x, str) and x for x in obj[name])):
            raise BadInputError(f"{where}: {name!r} must be a list of non-empty strings")
    if not obj["id"].strip() or not obj["question"].strip():
        raise BadInputError(f"{where}: 'id' and 'question' must not be empty")
    if "language" in obj and obj["language"] not in ("id", "en"):
        raise BadInputError(f"{where}: 'language' must be \"id\" or \"en\", not {obj['language']!r}")
    return Question(**obj)


def load_questions(path: Path) -> list[Question]:
    """Read a JSONL question file (blank lines allowed); BadInputError with the line number for a bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"cannot read question file {path}: {e}") from e
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise BadInputError(f"{where}: not valid JSON ({e.msg} at column {e.colno})",
                                "each line must be one JSON object, see eval/questions.jsonl") from e
        q = parse_question(obj, where)
        if q.id in seen:
            raise BadInputError(f"{where}: duplicate id {q.id!r} (first used on line {seen[q.id]})")
        seen[q.id] = number
        questions.append(q)
    if not questions:
        raise BadInputError(f"{path}: no questions in the file")
    return questions
