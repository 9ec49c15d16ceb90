"""Check the model's [n] markers against the passages it was given, and resolve each to its source."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.backends.stores.lexical import analyze
from rag.text import (
    MARKER, format_marker, marker_numbers, parse_plain_markers, split_sentences, strip_plain_markers,
)
from rag.types import Citation, Passage

_REFUSAL_PATTERNS = re.compile(
    r"tidak (ditemukan|terdapat|disebutkan|dijelaskan|ada informasi)|tidak memuat"
    r"|tidak mengandung (jawaban|informasi|keterangan)"
    r"|informasi .{0,30}tidak (ada|tersedia)"
    r"|tidak (ada|terdapat|disebutkan) (di|dalam) konteks|bukan berdasarkan konteks"
    r"|not (found|mentioned|stated|provided|contain)|do(es)? not (contain|mention|provide|say)|no information"
    r"|not (in|within|based (in|on)) the (provided |given )?context",
    re.I,
)


@dataclass
class CheckedAnswer:
    """The answer with only valid markers, its citations in marker order, and what was removed."""

    text: str
    citations: list[Citation]
    invalid_markers: list[int] = field(default_factory=list)

    @property
    def uncited(self) -> bool:
        """True when no valid citation is left."""
        return not self.citations


def _support(passage: Passage, claim: str) -> tuple[str, int, int]:
    """The passage sentence sharing most terms with the claim (what the UI highlights)."""
    claim_terms = set(analyze(claim))
    best, best_score = (0, len(passage.text)), -1.0
    for a, b in split_sentences(passage.text):
        terms = set(analyze(passage.text[a:b]))
        score = len(claim_terms & terms) / (len(terms) ** 0.5 or 1)
        if score > best_score:
            best, best_score = (a, b), score
    a, b = best
    return passage.text[a:b], passage.start + a, passage.start + b


def check_citations(answer: str, passages: list[Passage]) -> CheckedAnswer:
    """Keep markers that name a given passage, drop the rest, and resolve citations in first-use order."""
    by_n = {p.n: p for p in passages}
    invalid: list[int] = []
    order: list[int] = []
    claims: dict[int, str] = {}

    def replace(m: re.Match[str]) -> str:
        kept = []
        for n in marker_numbers(m):
            if n in by_n:
                kept.append(n)
            else:
                invalid.append(n)
        return "".join(format_marker(n) for n in kept)

    text = MARKER.sub(replace, answer)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    for a, b in split_sentences(text) or [(0, len(text))]:
        sentence = text[a:b]
        for n in parse_plain_markers(sentence):
            if n not in order:
                order.append(n)
                claims[n] = strip_plain_markers(sentence)
    citations = []
    for n in order:
        p = by_n[n]
        support, s_start, s_end = _support(p, claims[n])
        citations.append(
            Citation(n=n, source=p.source, passage=p.text, support=support, start=s_start, end=s_end)
        )
    return CheckedAnswer(text=text, citations=citations, invalid_markers=invalid)


def says_not_found(answer: str, refusal: str) -> bool:
    """True when the model's answer is a 'the passages do not contain this' reply (after any question it echoed)."""
    a = answer.strip().lower()
    while (parts := re.split(r"(?<=\?)\s+", a, maxsplit=1)) and len(parts) == 2 and "[" not in parts[0]:
        a = parts[1]  # "Tanggal berapakah ...? Maaf, informasi tersebut tidak ditemukan ...": the echo answers nothing
    head = re.split(r"(?<=[.!?])\s", a, maxsplit=1)[0]
    return a.startswith(refusal.lower()[:40]) or bool(_REFUSAL_PATTERNS.search(head) and "[" not in head)
