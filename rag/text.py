"""Text conventions shared by every layer: citation markers, sentence spans, month names and stopwords.

A citation marker is written `[2]` (`format_marker`). Models also write `[1, 3]`, `[2; 4]` or `[passage 2]`;
`MARKER` reads all of these. Once an answer is checked it holds only the plain form, which `PLAIN_MARKER` reads.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Any marker a model writes: "[2]", "[ 1, 3 ]", "[2; 4]", "[passage 2]", "[Sumber 1]" (the label word, the numbers).
MARKER = re.compile(
    r"\[\s*(?P<label>(?:passage|bagian|sumber|source)\s*)?(?P<numbers>\d+(?:\s*[,;]\s*\d+)*)\s*\]", re.I
)
# The one form a checked answer holds: "[2]"; group 1 holds the number.
PLAIN_MARKER = re.compile(r"\[(\d+)\]")
_LEADING_PLAIN = re.compile(rf"^(?:\s*{PLAIN_MARKER.pattern})+\s*")
_NUMBER_SEPARATOR = re.compile(r"\s*[,;]\s*")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Indonesian (Sastrawi) and English (bm25s) stopwords: words that name nothing and add no content."""
    from bm25s.stopwords import STOPWORDS_EN
    from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

    return frozenset(StopWordRemoverFactory().get_stop_words()) | frozenset(STOPWORDS_EN)


def format_marker(n: int) -> str:
    """The marker for passage n: '[n]'."""
    return f"[{n}]"


def marker_numbers(m: re.Match[str]) -> list[int]:
    """The passage numbers of one MARKER match, in the order written."""
    return [int(x) for x in _NUMBER_SEPARATOR.split(m.group("numbers"))]


def parse_markers(text: str) -> list[int]:
    """The passage numbers of every marker in any form ('[1, 3]', '[passage 2]'), in the order written."""
    return [n for m in MARKER.finditer(text) for n in marker_numbers(m)]


def strip_markers(text: str, replacement: str = "") -> str:
    """The text with every marker in any form replaced (removed by default)."""
    return MARKER.sub(replacement, text)


def strip_unlabelled_markers(text: str, replacement: str = " ") -> str:
    """The text with markers of numbers only ('[1]', '[1, 3]') replaced; labelled ones ('[passage 2]') are kept."""
    return MARKER.sub(lambda m: m.group(0) if m.group("label") else replacement, text)


def is_marker(text: str) -> bool:
    """True when the whole text is one marker in any form."""
    return MARKER.fullmatch(text) is not None


def parse_plain_markers(text: str) -> list[int]:
    """The numbers of the plain '[n]' markers only (the form of a checked answer), in order, repeats kept."""
    return [int(n) for n in PLAIN_MARKER.findall(text)]


def strip_plain_markers(text: str) -> str:
    """The text with the plain '[n]' markers removed (other bracketed forms are kept)."""
    return PLAIN_MARKER.sub("", text)


def leading_plain_markers(text: str) -> tuple[list[int], int]:
    """The numbers of the plain markers that open the text, and where the run ends with its spaces (0 when none)."""
    m = _LEADING_PLAIN.match(text)
    return (parse_plain_markers(m.group()), m.end()) if m else ([], 0)


# ---------------------------------------------------------------- sentences

# Abbreviations after which a period does not end a sentence (Indonesian and English news usage).
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")


def strip_possessives(text: str) -> str:
    """English possessives off the words they are attached to ("Azerbaijan's" -> "Azerbaijan"), so an English
    answer's names match the same names in any evidence."""
    return _POSSESSIVE.sub("", text)


_ABBREVIATIONS = {
    "no", "dr", "prof", "ir", "drs", "dll", "dsb", "dkk", "tsb", "yth", "jl", "rp", "st", "mr", "mrs",
    "ms", "vs", "etc", "e.g", "i.e", "hlm", "kab", "kec", "tn", "ny", "sdr", "bpk", "pt", "tbk", "u.s",
}
# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and an upper-case
# letter, a digit, or an opening quote/bracket.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"“'‘(\[]?[A-Z0-9À-ÖØ-Þ])")


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`; newlines are always boundaries; spans exclude whitespace."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        base, s = line.start(), line.group()
        start = 0
        for m in _BOUNDARY.finditer(s):
            word = re.search(r"(\S+)$", s[start : m.start() + 1])
            token = word.group(1).rstrip(".!?…\"'”’)]").lower() if word else ""
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue  # "Dr. X", "Johnny G. Plate"
            end = m.start() + len(m.group().rstrip())
            spans.append((base + start, base + end))
            start = m.end()
        if s[start:].strip():
            spans.append((base + start, base + len(s.rstrip())))
    return [(a + offset, b + offset) for a, b in spans if b > a]


# ---------------------------------------------------------------- months

# Each month's Indonesian and English name (as the page shows them), then the other spellings dates use.
_MONTH_SPELLINGS = (
    ("januari", "january", "jan"), ("februari", "february", "feb", "pebruari"), ("maret", "march", "mar"),
    ("april", "april", "apr"), ("mei", "may"), ("juni", "june", "jun"), ("juli", "july", "jul"),
    ("agustus", "august", "agu", "agt", "aug"), ("september", "september", "sep", "sept"),
    ("oktober", "october", "okt", "oct"), ("november", "november", "nov", "nop"), ("desember", "december", "des", "dec"),
)
# Every lower-case month name or abbreviation, Indonesian or English, to its number (1-12).
MONTHS = {name: i + 1 for i, names in enumerate(_MONTH_SPELLINGS) for name in names}
# The month names to show, by label language ('id', 'en'), January first.
MONTH_NAMES = {lang: [names[k].capitalize() for names in _MONTH_SPELLINGS] for k, lang in enumerate(("id", "en"))}
