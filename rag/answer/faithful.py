"""Faithful figures and names: every number and proper name in an answer must be found in what the model saw.

Numbers are compared by value, read the way Indonesian and English news write them: "8,02" is 8.02 (decimal
comma) and never 802; "1.000.000" is a million (thousands dots); "1,500" may be 1500 (English) or 1.5
(Indonesian), so both readings are kept; "15 juta" is both 15 and 15,000,000; word-numbers count ("tiga" is 3,
"dua puluh" 20, "twelve" 12). A figure in the answer is supported when one of its readings equals a reading of a
figure in the evidence or the question.

Names are the capitalised words of the answer. One that is a near miss of a word in the evidence ("Sitsithiphone"
for "Sitthiphone") is snapped to the evidence's spelling. In an answer written in the evidence's language a
capitalised word found nowhere in the evidence or the question is unsupported; in an answer in another language
(English over Indonesian articles, where titles are translated) only acronyms and words with digits are held to
that, since "Ministry" or "Communication" are translations, not inventions.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator

from rag.answer.language import text_language
from rag.text import MONTHS, is_marker, stopwords, strip_markers

_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*(?!\d)")
_SCALE = {
    "ribu": 1e3, "rb": 1e3, "thousand": 1e3, "juta": 1e6, "jt": 1e6, "million": 1e6, "miliar": 1e9, "milyar": 1e9,
    "billion": 1e9, "triliun": 1e12, "trillion": 1e12,
}
_UNITS_ID = {"satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6, "tujuh": 7, "delapan": 8,
             "sembilan": 9}
_WORDS_EN = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
}
_SE = {"sepuluh": 10, "sebelas": 11, "seratus": 100, "seribu": 1000, "sejuta": 1e6}
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def _number_readings(raw: str) -> set[float]:
    """The values a written number can mean (one, or two when the separator is ambiguous)."""
    if "." in raw and "," in raw:  # both separators: the last one is the decimal mark
        dec = "," if raw.rfind(",") > raw.rfind(".") else "."
        whole, frac = raw.rsplit(dec, 1)
        return {float(re.sub(r"[.,]", "", whole) + "." + frac)}
    sep = "." if "." in raw else "," if "," in raw else None
    if sep is None:
        return {float(raw)}
    parts = raw.split(sep)
    grouped = len(parts[0]) <= 3 and all(len(p) == 3 for p in parts[1:])
    readings = set()
    if grouped:
        readings.add(float("".join(parts)))  # thousands separators: 1.000.000, 1,500
    if len(parts) == 2:
        readings.add(float(parts[0] + "." + parts[1]))  # a decimal mark: 8,02 / 8.02 / 1,500 (Indonesian 1.5)
    return readings or {float("".join(parts))}


_JOINERS = {"belas": lambda v: v + 10, "puluh": lambda v: v * 10, "ratus": lambda v: v * 100,
            "ribu": lambda v: v * 1e3, "juta": lambda v: v * 1e6}


def word_numbers(words: list[str]) -> list[tuple[str, float]]:
    """The number words in a list of lower-case words with their values ('tiga', 'dua puluh', 'twelve')."""
    found: list[tuple[str, float]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _UNITS_ID and i + 1 < len(words) and words[i + 1] in _JOINERS:
            value, j = _JOINERS[words[i + 1]](float(_UNITS_ID[w])), i + 2
            if words[i + 1] == "puluh" and j < len(words) and words[j] in _UNITS_ID:  # dua puluh lima
                value, j = value + _UNITS_ID[words[j]], j + 1
            found.append((" ".join(words[i:j]), value))
            i = j
            continue
        value = _UNITS_ID.get(w) or _SE.get(w) or _WORDS_EN.get(w)
        if value:
            found.append((w, float(value)))
        i += 1
    return found


def figures(text: str) -> dict[str, set[float]]:
    """Every figure written in a text (digits or number words) with the values it can mean."""
    text = strip_markers(text, " ")
    out: dict[str, set[float]] = {}
    scale_word = re.compile(r"\s*([^\W\d_]+)")
    for m in _NUMBER.finditer(text):
        raw = m.group()
        readings = _number_readings(raw)
        nxt = scale_word.match(text, m.end())
        if nxt and nxt.group(1).lower() in _SCALE:  # "15 juta", "1,5 triliun": both 15 and 15,000,000
            readings |= {r * _SCALE[nxt.group(1).lower()] for r in readings}
        out.setdefault(raw, set()).update(readings)
    for word, value in word_numbers([w.lower() for w in _WORD.findall(text)]):
        out.setdefault(word, set()).add(value)
    return out


def unsupported_figures(answer: str, sources: list[str]) -> list[str]:
    """The figures of the answer that no figure of the sources (evidence, question) can mean."""
    known: set[float] = set()
    for text in sources:
        for readings in figures(text).values():
            known |= readings
    return sorted(raw for raw, readings in figures(answer).items() if not readings & known)


# ---------------------------------------------------------------- names


def _fold(word: str) -> str:
    word = unicodedata.normalize("NFKC", word).casefold().replace("’", "'")
    return re.sub(r"'s$", "", word)


_TOKEN = re.compile(r"[^\W_][\w'’-]*")  # a word as the answer writes it: letters, digits, inner hyphens (P2P, SATRIA-1)
_DATES = re.compile(r"\b(?:\d{4})-(\d{2})-\d{2}\b|\(\d{1,2}/(\d{1,2})(?:/\d{2,4})?\)|\b\d{1,2}/(\d{1,2})/\d{4}\b")


def _months(text: str) -> set[int]:
    """Months a text names or writes as a date (2024-06-20, (20/6), 20/6/2024), in any language."""
    found = {MONTHS[w.lower()] for w in _WORD.findall(text) if w.lower() in MONTHS and len(w) > 3}
    for m in _DATES.finditer(text):
        month = int(next(g for g in m.groups() if g))
        if 1 <= month <= 12:
            found.add(month)
    return found


def _vocabulary(sources: list[str]) -> tuple[set[str], dict[str, str]]:
    """Folded words of the sources (whole tokens and their parts), and the capitalised spellings they use."""
    folded: set[str] = set()
    spelled: dict[str, str] = {}
    for text in sources:
        for w in _TOKEN.findall(text) + _WORD.findall(text):
            f = _fold(w)
            folded.add(f)
            for part in f.split("-"):
                folded.add(part)
            if w[:1].isupper():
                spelled.setdefault(f, re.sub(r"['’]s$", "", w))
    return folded, spelled


@dataclass
class NameCheck:
    """The answer with near-miss names respelled as in the evidence, what was respelled and what is unsupported."""

    text: str
    snapped: list[tuple[str, str]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def near_miss(word: str, spellings: dict[str, str], cutoff: float = 0.8) -> str | None:
    """The evidence's spelling of a name the answer misspelt (same first letter, similar letters), if one is close."""
    f = _fold(word)
    pool = [k for k in spellings if k[:1] == f[:1] and abs(len(k) - len(f)) <= 3 and len(k) >= 4]
    best = difflib.get_close_matches(f, pool, n=1, cutoff=cutoff)
    return spellings[best[0]] if best else None


def check_names(answer: str, sources: list[str], same_language: bool) -> NameCheck:
    """Snap near-miss names to the evidence's spelling and list the capitalised words found in no source."""
    folded, spelled = _vocabulary(sources)
    months = set().union(*(_months(t) for t in sources)) if sources else set()
    common = stopwords()  # capitalised only because a sentence starts with them
    out = NameCheck(answer)
    pieces: list[str] = []
    cursor = 0
    for m in _TOKEN.finditer(answer):
        word = m.group()
        if not word[:1].isupper() or is_marker(word):
            continue
        f = _fold(word)
        parts = [p for p in f.split("-") if p]
        if f in folded or (parts and all(p in folded or p.isdigit() for p in parts)):
            continue
        if f in MONTHS and MONTHS[f] in months:  # "June" for "Juni", or for a date written 2024-06-24 or (24/6)
            continue
        if any(ch.isdigit() for ch in f) and not unsupported_figures(word, sources) and \
                (not (letters := re.sub(r"[\d.,]+", "", f).strip("-")) or letters in folded):
            continue  # Rp131, HD 11977: the figure is in the evidence and so are its letters
        if f in common or (len(f) < 3 and not word.isupper()):
            continue
        fix = near_miss(word, spelled)
        if fix and _fold(fix) != f:
            pieces += [answer[cursor : m.start()], fix]
            cursor = m.end()
            out.snapped.append((word, fix))
            continue
        acronym = word.isupper() and len(word) >= 2
        if same_language or acronym or any(ch.isdigit() for ch in word):
            out.unsupported.append(word)
    out.text = "".join(pieces) + answer[cursor:]
    return out


def evidence_language(passages: list) -> str:
    """'id' or 'en': the language most of the evidence is written in (py3langid on its text)."""
    return text_language(" ".join(p.text for p in passages))


def question_subjects(question: str, same_language: bool = True) -> list[str]:
    """The distinct names and figures a question asks about: capitalised words after the first (not common words),
    and figures ("Siapa Bupati Blora periode 2005-2010?" -> Bupati, Blora, 2005, 2010); asked in another language
    than the evidence's, only its acronyms and figures ("Lao Minister" is "Menteri Laos" there)."""
    common = stopwords()  # capitalised only because a sentence starts with them
    words = list(_TOKEN.finditer(question))
    names = [m.group() for i, m in enumerate(words)
             if i and m.group()[:1].isupper() and not any(ch.isdigit() for ch in m.group())
             and _fold(m.group()) not in common]
    if not same_language:  # an English question over Indonesian text (or the reverse): words are translated,
        names = [w for w in names if w.isupper() and len(w) >= 2]  # acronyms and figures are not
    found = names + [raw for raw in figures(question) if raw[:1].isdigit()]
    return list({_fold(w): w for w in reversed(found)}.values())[::-1]  # each once, in order


_CONNECTORS = frozenset({"dan", "dari", "untuk", "dengan", "di", "ke", "of", "and", "for", "the", "de", "&"})


def _stretches(text: str) -> Iterator[tuple[str, list[str]]]:
    """Every stretch of two or more words in a text's capitalised runs, with its initials ("Badan Perwakilan Desa"
    -> bpd, bp, pd): the acronym it would be written as."""
    for run in _capital_runs(text):
        for i in range(len(run)):
            for j in range(i + 2, len(run) + 1):
                yield "".join(_fold(w)[0] for w in run[i:j]), run[i:j]


def _initials(text: str) -> set[str]:
    """Acronyms a text spells out (the initials of its stretches)."""
    return {initials for initials, _ in _stretches(text)}


def _inflected(f: str, folded: set[str]) -> bool:
    """Whether a word of five letters or more is in the vocabulary with a short suffix added or removed
    ("Airline" / "Airlines", "Jepang" / "Jepangnya")."""
    return len(f) >= 5 and any(w != f and min(len(w), len(f)) >= 5 and abs(len(w) - len(f)) <= 3
                               and (w.startswith(f) or f.startswith(w)) for w in folded if w[:3] == f[:3])


def missing_subjects(question: str, sources: list[str], same_language: bool = True) -> list[str]:
    """The question's subjects (question_subjects) that none of the sources (the evidence shown) contains.

    A question names its subject ("Siapa Bupati Blora periode 2005-2010?"): evidence that never mentions "Blora" may
    answer a neighbouring question (another regent), not this one. Found also counts what the evidence writes in
    another form, checked by code: a month as a date ("Agustus" for "23/8"), a name as its acronym ("Komisi
    Pemilihan Umum" for "KPU", or the reverse), and a word with a short suffix ("Airline" for "Airlines")."""
    folded, _ = _vocabulary(sources)
    known: set[float] = set()
    months: set[int] = set()
    spelled_out: set[str] = set()
    for text in sources:
        for readings in figures(text).values():
            known |= readings
        months |= _months(text)
        spelled_out |= _initials(text)
    numbers = figures(question)
    subjects = question_subjects(question, same_language)
    acronyms = {_fold(w) for text in sources for w in _TOKEN.findall(text) if w.isupper() and len(w) >= 2}
    abbreviated = {w for initials, words in _stretches(question) if initials in acronyms for w in words}
    missing = []
    for subject in subjects:
        if subject in numbers:
            if not numbers[subject] & known:
                missing.append(subject)
            continue
        f = _fold(subject)
        if f in folded or all(p in folded for p in f.split("-") if p) or subject in abbreviated:
            continue
        if f in MONTHS and len(f) > 3 and MONTHS[f] in months:
            continue
        if (subject.isupper() and len(subject) >= 2 and f in spelled_out) or _inflected(f, folded):
            continue
        missing.append(subject)
    return missing


def _capital_runs(text: str) -> list[list[str]]:
    """Runs of two or more consecutive capitalised words (connectors skipped), as a question names an organisation."""
    runs: list[list[str]] = []
    run: list[str] = []
    for w in _TOKEN.findall(text) + [""]:
        if w[:1].isupper() and not w.isupper():
            run.append(w)
        elif not (w.casefold() in _CONNECTORS and run):
            if len(run) >= 2:
                runs.append(run)
            run = []
    return runs
