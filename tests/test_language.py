"""Question language detection, checked on the whole labelled question set."""

from __future__ import annotations

import json

import pytest

from rag.answer.language import detect_language
from rag.settings import PROJECT_ROOT


def test_every_labelled_question_is_detected() -> None:
    rows = [json.loads(x) for x in (PROJECT_ROOT / "eval" / "questions.jsonl").read_text().splitlines() if x.strip()]
    wrong = [r["id"] for r in rows if detect_language(r["question"]) != r["language"]]
    assert not wrong


@pytest.mark.parametrize(
    "text, code",
    [("Kapan itu terjadi?", "id"), ("Who signed it?", "en"), ("Qui a signé la convention de Hanoï avec le Vietnam?", "fr"),
     ("Ai đã ký công ước Hà Nội?", "vi"), ("什么是河内公约？", "zh"), ("Boviengkham Vongdara?", "id")],
)
def test_examples(text: str, code: str) -> None:
    assert detect_language(text) == code
