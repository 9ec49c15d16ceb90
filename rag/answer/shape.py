"""Does the answer have the shape of an answer to this question? Two checks by code, no thresholds.

- It says something the question does not: an answer whose every content word is already in the question ("Negara
  apakah yang ditinggalkan Maria Sharapova ...?" -> "Maria Sharapova ditinggalkan pada umur 9 tahun ...") repeats
  the question and answers nothing. A yes/no reply ("Ya, ...", "Tidak, ...") and a choice between options the
  question names ("A atau B?") may rightly use only the question's words, so they are not echoes; a figure the
  question lacks ("lima") and an acronym ("WHO") are content even where a stopword list holds the same word.
- A question about a quantity ("berapa", "how many") is answered with a figure, in digits or words: "Singapura telah
  mempersiapkan dana untuk ..." answers "Berapa dana ...?" with no amount.
"""

from __future__ import annotations

import re

from rag.answer.faithful import figures
from rag.text import stopwords, strip_markers

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_QUANTITY = re.compile(
    r"\bberapa(kah|lah)?\b|\bhow\s+(many|much|long|old|far|often)\b|\bwhat\s+(percentage|share|number|amount)\b", re.I)
_CHOICE = re.compile(r"\b(atau|or)\b", re.I)
_POLAR = frozenset({"ya", "iya", "tidak", "tak", "bukan", "benar", "belum", "sudah", "pernah", "yes", "no", "not",
                    "never", "true", "false", "correct"})


def _words(text: str) -> list[str]:
    return _WORDS.findall(strip_markers(text, " "))


def _adds_nothing(word: str, asked: set[str], stop: frozenset[str]) -> bool:
    """A word the question already has, or a function word (an acronym such as WHO, AS or ITU is never one)."""
    f = word.casefold()
    return f in asked or (f in stop and not (word.isupper() and len(word) >= 2))


def repeats_question(answer: str, question: str) -> bool:
    """True when every content word of the answer is already in the question (and it is no yes/no or choice reply)."""
    words = _words(answer)
    if not words or _POLAR & {w.casefold() for w in words} or _CHOICE.search(question):
        return False
    known = set().union(*figures(question).values())
    if any(not values & known for values in figures(answer).values()):
        return False  # a figure the question does not have ("lima" is a Sastrawi stopword, yet it answers "berapa")
    asked = {w.casefold() for w in _words(question)}
    stop = stopwords()
    return all(_adds_nothing(w, asked, stop) for w in words)


def asks_quantity(question: str) -> bool:
    """True when the question asks how many, how much, how long ... (berapa, how many/much)."""
    return bool(_QUANTITY.search(question))


def lacks_figure(answer: str, question: str) -> bool:
    """True when the question asks for a quantity and the answer writes no figure (digits or number words)."""
    return asks_quantity(question) and not figures(answer)
