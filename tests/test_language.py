"""Question language detection, checked on the whole labelled question set."""

from __future__ import annotations

import json

import pytest

from rag.answer.language import SUPPORTED, detect_language
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


@pytest.mark.parametrize("text", [
    "Что подписали Вьетнам и Мозамбик?",  # Russian: was taken for Indonesian and answered
    "ماذا وقعت فيتنام وموزمبيق؟",  # Arabic
    "越南和莫桑比克签署了什么？",  # Chinese
    "เวียดนามและโมซัมบิกลงนามอะไร",  # Thai
    "Việt Nam và Mozambique đã ký gì?",  # Vietnamese (Latin letters with its own diacritics)
    "Ano ang nilagdaan ng Vietnam at Mozambique?",  # Tagalog
    "Что такое BSSN?",  # another script around a Latin acronym
])
def test_other_languages_whatever_the_script_are_not_supported(text: str) -> None:
    assert detect_language(text) not in SUPPORTED


@pytest.mark.parametrize("text, code", [
    ("BSSN", "id"), ("2024", "id"), ("Labuan Bajo", "id"), ("Konvensi Hanoi?", "id"), ("Nguyen Manh Hung?", "id"),
    ("Brain Cipher", "id"), ("SATRIA-1", "id"), ("Who?", "en"), ("How many?", "en"), ("Berapa?", "id"),
    ("What is WHO?", "en"), ("siapakah Director of Cancer Division WHO", "id"),
    ("Siapa pengarang buku The Clash of Civilizations?", "id"),
    ("Apakah yang ditandatangani oleh Vietnam dan Mozambique?", "id"),  # Malay-like Indonesian
])
def test_short_indonesian_and_english_questions_are_never_rejected(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_text_language_reads_indonesian_and_english_text_and_defaults_to_indonesian() -> None:
    from rag.answer.language import text_language

    assert text_language("Vietnam dan Indonesia menandatangani nota kesepahaman kerja sama keamanan siber.") == "id"
    assert text_language("Vietnam and Indonesia signed a memorandum of understanding on cyber security.") == "en"
    assert text_language("   ") == "id"
