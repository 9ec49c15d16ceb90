"""Verified attribution: code decides which given sentence each answer sentence comes from.

The model's [n] markers are proposals. Every answer sentence is compared with every evidence sentence by a
hybrid similarity (share of the claim's content terms found in the sentence, and the cosine of their vectors),
after RAGFlow's `insert_citations`. A marker is confirmed when its passage supports the claim nearly as well as
the best sentence, moved when another passage supports it clearly better, added when the model gave none, and
dropped when nothing supports the claim. The threshold decays (x0.8) while no sentence of the answer is
supported, down to a floor, as RAGFlow does.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from rag.answer.citations import CheckedAnswer
from rag.backends.stores.lexical import analyze
from rag.backends.stores.base import StoreReader
from rag.text import (format_marker, leading_plain_markers, parse_markers, split_sentences, strip_markers,
                      strip_possessives)
from rag.types import Citation, Passage


@dataclass(frozen=True)
class AttributionParams:
    """Weights and thresholds of the hybrid similarity (tuned on the dev collection)."""

    token_weight: float = 0.5
    cosine_floor: float = 0.75  # e5 cosines below this count as no similarity
    threshold: float = 0.45
    min_threshold: float = 0.25
    keep_margin: float = 0.1  # the model's marker stays when its passage is within this of the best


@dataclass
class Claim:
    """One answer sentence: its span in the answer text, its text without markers, and the markers given."""

    start: int
    end: int
    text: str
    proposed: list[int]
    chosen: list[int] = field(default_factory=list)
    support: int | None = None  # index position of the supporting sentence
    score: float = 0.0


def hybrid_similarity(claim_terms: set[str], sentence_terms: set[str], cosine: float, p: AttributionParams) -> float:
    """Token overlap (share of the claim's terms in the sentence) mixed with a rescaled cosine, in [0, 1]."""
    tok = len(claim_terms & sentence_terms) / len(claim_terms) if claim_terms else 0.0
    vec = max(0.0, (cosine - p.cosine_floor) / (1 - p.cosine_floor))
    return p.token_weight * tok + (1 - p.token_weight) * vec


def split_claims(answer: str) -> list[Claim]:
    """Answer sentences with the markers each carries; markers opening a sentence belong to the one before."""
    claims: list[Claim] = []
    for a, b in split_sentences(answer) or ([(0, len(answer))] if answer.strip() else []):
        sentence = answer[a:b]
        lead, lead_end = leading_plain_markers(sentence)
        if lead_end and claims:
            claims[-1].proposed += lead
            claims[-1].end = a + lead_end
            a, sentence = a + lead_end, sentence[lead_end:]
            if not sentence.strip():
                continue
        text = re.sub(r"\s+([.,;:!?])", r"\1", strip_markers(sentence)).strip()
        claims.append(Claim(a, b, text, parse_markers(sentence)))
    return claims


def attribute(
    answer: str, passages: list[Passage], index: StoreReader, claim_vectors: np.ndarray, p: AttributionParams
) -> tuple[CheckedAnswer, Counter]:
    """Re-mark the answer from evidence; returns the checked answer and counts of confirmed/moved/added/dropped."""
    claims = split_claims(answer)
    by_n = {x.n: x for x in passages}
    owner = {pos: x.n for x in passages for pos in x.sentence_ids}
    positions = list(owner)
    stats: Counter = Counter()
    if not claims or not positions:
        return CheckedAnswer(text=strip_markers(answer).strip(), citations=[]), stats
    ev_terms = [set(analyze(index.sentence_text(pos))) for pos in positions]
    cosines = claim_vectors @ index.sentence_vectors_of(positions).T  # claims x evidence sentences
    sims = np.array([
        [hybrid_similarity(set(analyze(strip_possessives(c.text))), t, float(cos), p)
         for t, cos in zip(ev_terms, row)]
        for c, row in zip(claims, cosines)
    ])
    threshold = p.threshold
    while True:
        for c, row in zip(claims, sims):
            _decide(c, row, positions, owner, threshold, p)
        if any(c.chosen for c in claims) or threshold * 0.8 < p.min_threshold:
            break
        threshold *= 0.8
    for c in claims:
        valid = [n for n in c.proposed if n in by_n]
        stats["invalid"] += len(c.proposed) - len(valid)
        if not c.chosen:
            stats["dropped" if valid else "unsupported"] += 1
        elif not valid:
            stats["added"] += 1
        elif c.chosen[0] in valid:
            stats["confirmed"] += 1
        else:
            stats["moved"] += 1
    checked = _render(answer, claims, by_n, index)
    checked.invalid_markers = [n for c in claims for n in c.proposed if n not in by_n]
    return checked, stats


def _decide(c: Claim, row: np.ndarray, positions: list[int], owner: dict[int, int], threshold: float,
            p: AttributionParams) -> None:
    """Pick the claim's marker: the model's passage if it is nearly as good as the best, else the best, else none."""
    c.chosen, c.support, c.score = [], None, 0.0
    if not c.text or not len(row):
        return
    best = int(np.argmax(row))
    own = [i for i, pos in enumerate(positions) if owner[pos] in c.proposed]
    own_best = max(own, key=lambda i: row[i], default=None)
    if own_best is not None and row[own_best] >= threshold and row[own_best] >= row[best] - p.keep_margin:
        pick = own_best
    elif row[best] >= threshold:
        pick = best
    else:
        return
    c.chosen, c.support, c.score = [owner[positions[pick]]], positions[pick], float(row[pick])


def _render(answer: str, claims: list[Claim], by_n: dict[int, Passage], index: StoreReader) -> CheckedAnswer:
    """The answer with each sentence's chosen marker before its final punctuation, and the citations in order."""
    parts, cursor = [], 0
    citations: dict[int, Citation] = {}
    for c in claims:
        parts.append(answer[cursor : c.start])
        text = c.text
        if c.chosen:
            marks = "".join(format_marker(n) for n in c.chosen)
            m = re.search(r"[.!?…]+[\"'”’)]*$", text)
            text = f"{text[: m.start()]} {marks}{text[m.start():]}" if m else f"{text} {marks}"
            for n in c.chosen:
                if n not in citations and c.support is not None:
                    citations[n] = _citation(by_n[n], c.support, index)
        parts.append(text)
        cursor = c.end
    parts.append(strip_markers(answer[cursor:]))
    text = re.sub(r"[ \t]{2,}", " ", "".join(parts)).strip()
    return CheckedAnswer(text=text, citations=list(citations.values()))


def _citation(p: Passage, support: int, index: StoreReader) -> Citation:
    """A citation of passage p whose supporting sentence is the index sentence at `support`."""
    s = index.sentence(support)
    return Citation(n=p.n, source=p.source, passage=p.text, support=index.sentence_text(support), start=s.start,
                    end=s.end)
