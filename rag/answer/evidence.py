"""Evidence selection: from the fused candidates, pick the few sentences that answer the question, plus neighbours.

Each candidate sentence is scored by the cosine between its stored vector and the question's vector plus a
lexical bonus (share of the question's content terms it contains). The best sentences are taken while they stay
close to the best score and within a character budget; near-duplicates (syndicated copies of one story) are
taken once; each key sentence brings its neighbours for context; adjacent sentences of one article become one
numbered snippet. The model then reads a few hundred tokens of evidence instead of whole chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.backends.stores.lexical import analyze
from rag.backends.stores.base import StoreReader
from rag.types import ArticleFilter, Passage


@dataclass(frozen=True)
class EvidenceParams:
    """How much evidence to select and how to score it (from Settings; tuned on the dev collection)."""

    candidate_chunks: int = 8  # fused chunks whose sentences are candidates
    dense_sentences: int = 20  # plus this many nearest sentences from the whole index
    lexical_weight: float = 0.15  # bonus for full coverage of the question's content terms
    chunk_prior: float = 0.05  # bonus for lying in a top fused chunk: chunk_prior / (1 + its rank)
    max_key: int = 5  # key sentences at most
    margin: float = 0.12  # a key sentence scores at least best - margin
    max_chars: int = 1200  # budget for all evidence text
    neighbours: int = 1  # sentences on each side of a key sentence, while the budget lasts
    min_words: int = 4  # shorter sentences are never key sentences (headings, datelines)
    duplicate_jaccard: float = 0.7  # term overlap above which two sentences count as the same
    window: int = 0  # > 0: contiguous windows of this many sentences each side of a key sentence, plus the
    # article's opening sentence, instead of one neighbour each (context that keeps the referent)


@dataclass
class ScoredSentence:
    """A candidate sentence with its evidence score and the parts of it."""

    pos: int
    score: float
    dense: float
    lexical: float


def _terms(text: str) -> set[str]:
    return set(analyze(text))


def jaccard(a: set[str], b: set[str]) -> float:
    """Overlap of two term sets (0 when both are empty)."""
    return len(a & b) / len(a | b) if a or b else 0.0


def score_sentences(
    index: StoreReader, question: str, query_vector: np.ndarray, ranked_chunks: list[tuple[int, float]], p: EvidenceParams,
    where: ArticleFilter | None = None,
) -> list[ScoredSentence]:
    """Candidate sentences (from the top fused chunks and the nearest sentences), best first."""
    candidates: dict[int, float] = {}  # position -> prior from the best fused chunk holding it
    for rank, (pos, _) in enumerate(ranked_chunks[: p.candidate_chunks]):
        c = index.chunk(pos)
        for sp in index.sentences_in(c.article_id, c.start, c.end):
            candidates.setdefault(sp, p.chunk_prior / (1 + rank))
    for pos, _ in index.dense_sentence_search(query_vector, p.dense_sentences, where):
        candidates.setdefault(pos, 0.0)
    if not candidates:
        return []
    positions = list(candidates)
    dense = index.sentence_vectors_of(positions) @ query_vector.astype(np.float32)
    q_terms = _terms(question)
    out = []
    for pos, d in zip(positions, dense):
        cover = len(q_terms & _terms(index.sentence_text(pos))) / len(q_terms) if q_terms else 0.0
        out.append(ScoredSentence(pos, float(d) + p.lexical_weight * cover + candidates[pos], float(d), cover))
    return sorted(out, key=lambda s: -s.score)


def pick_keys(index: StoreReader, scored: list[ScoredSentence], p: EvidenceParams) -> tuple[dict[int, ScoredSentence], list[set[str]], int]:
    """The key sentences (best first, within the margin of the best, syndicated repeats once, within the budget),
    their term sets and the characters they use."""
    best = scored[0].score
    chosen: dict[int, ScoredSentence] = {}
    chosen_terms: list[set[str]] = []
    used = 0
    for s in scored:
        if len(chosen) == p.max_key or s.score < best - p.margin:
            break
        text = index.sentence_text(s.pos)
        if len(text.split()) < p.min_words:
            continue
        terms = _terms(text)
        if any(jaccard(terms, t) >= p.duplicate_jaccard for t in chosen_terms):
            continue  # the same sentence from a syndicated copy: one is enough
        if chosen and used + len(text) > p.max_chars:
            continue
        chosen[s.pos] = s
        chosen_terms.append(terms)
        used += len(text)
    return chosen, chosen_terms, used


def select_evidence(
    index: StoreReader, question: str, query_vector: np.ndarray, ranked_chunks: list[tuple[int, float]], p: EvidenceParams,
    where: ArticleFilter | None = None,
) -> list[Passage]:
    """Numbered snippets of the best sentences (with neighbours, or whole windows), best first (admitted articles)."""
    scored = score_sentences(index, question, query_vector, ranked_chunks, p, where)
    if not scored:
        return []
    chosen, chosen_terms, used = pick_keys(index, scored, p)
    selected = set(chosen)

    def take(n: int) -> bool:
        """Add sentence n if it fits the budget and repeats no chosen sentence."""
        nonlocal used
        if n in selected:
            return True
        text = index.sentence_text(n)
        if used + len(text) > p.max_chars:
            return False
        terms = _terms(text)
        if any(jaccard(terms, t) >= p.duplicate_jaccard for t in chosen_terms):
            return False
        selected.add(n)
        chosen_terms.append(terms)
        used += len(text)
        return True

    if p.window:  # contiguous windows: grow every key sentence one sentence each side at a time, best key first
        for radius in range(1, p.window + 1):
            for key in chosen:
                first, last = index.sentence_range(index.sentence(key).article_id)
                for n in (key - radius, key + radius):
                    if first <= n < last and all(m in selected for m in _between(key, n)):
                        take(n)
        for key in chosen:  # the article's opening sentence names its subject ("the satellite" -> which one)
            first, _ = index.sentence_range(index.sentence(key).article_id)
            take(first)
        runs = _runs(index, sorted(selected))
        for a, b in zip(runs, runs[1:]):  # a one-sentence gap between two runs of one article: fill it
            if b[0] - a[-1] == 2 and index.sentence(a[-1]).article_id == index.sentence(b[0]).article_id:
                take(a[-1] + 1)
        return _snippets(index, sorted(selected), chosen, by_article=True)

    for key in list(chosen):  # neighbours, best key sentence first, previous sentence before the next one
        first, last = index.sentence_range(index.sentence(key).article_id)
        for offset in [o for k in range(1, p.neighbours + 1) for o in (-k, k)]:
            n = key + offset
            if first <= n < last:
                take(n)
    return _snippets(index, sorted(selected), chosen)


def _between(key: int, n: int) -> range:
    """The positions strictly between a key sentence and n (a window grows without holes)."""
    return range(min(key, n) + 1, max(key, n))


def _runs(index: StoreReader, positions: list[int]) -> list[list[int]]:
    """Runs of adjacent sentence positions of one article."""
    runs: list[list[int]] = []
    for pos in positions:
        if runs and pos == runs[-1][-1] + 1 and index.sentence(pos).article_id == index.sentence(runs[-1][-1]).article_id:
            runs[-1].append(pos)
        else:
            runs.append([pos])
    return runs


def _snippets(index: StoreReader, positions: list[int], keys: dict[int, ScoredSentence],
              by_article: bool = False) -> list[Passage]:
    """Runs of adjacent sentences of one article become one passage, ordered by their best key sentence (by_article:
    an article's runs stay together, in reading order, articles ordered by their best key sentence)."""
    passages = []
    for run in _runs(index, positions):
        first, last = index.sentence(run[0]), index.sentence(run[-1])
        d = index.document(first.article_id)
        best = max((keys[x] for x in run if x in keys), key=lambda s: s.score, default=None)
        scores = {"evidence": round(best.score, 4), "dense": round(best.dense, 4), "lexical": round(best.lexical, 4)} \
            if best else {"evidence": 0.0}
        passages.append(Passage(
            source=d.source, start=first.start, end=last.end, text=d.text[first.start : last.end],
            chunk_ids=[], scores=scores, sentence_ids=list(run),
        ))
    if by_article:
        best = {}
        for x in passages:
            best[x.source.article_id] = max(best.get(x.source.article_id, 0.0), x.scores["evidence"])
        passages.sort(key=lambda x: (-best[x.source.article_id], x.source.article_id, x.start))
    else:
        passages.sort(key=lambda x: -x.scores["evidence"])
    for n, p in enumerate(passages, start=1):
        p.n = n
    return passages


def lead_passages(index: StoreReader, article_ids: list[str], max_chars: int, sentences_each: int = 2) -> list[Passage]:
    """The opening sentences of each article, in the order given, within a character budget (period questions)."""
    passages: list[Passage] = []
    used = 0
    for aid in article_ids:
        first, last = index.sentence_range(aid)
        run: list[int] = []
        for key in range(first, min(last, first + sentences_each)):
            text = index.sentence_text(key)
            if (run or passages) and used + len(text) > max_chars:
                break
            run.append(key)
            used += len(text)
        if not run:
            break
        d, a, b = index.document(aid), index.sentence(run[0]), index.sentence(run[-1])
        passages.append(Passage(
            source=d.source, start=a.start, end=b.end, text=d.text[a.start : b.end], chunk_ids=[], sentence_ids=run,
            n=len(passages) + 1,
        ))
    return passages


def within_budget(passages: list[Passage], max_chars: int) -> list[Passage]:
    """The best passages, in order, while their text fits the character budget (at least the first)."""
    out: list[Passage] = []
    used = 0
    for p in passages:
        if out and used + len(p.text) > max_chars:
            break
        out.append(p)
        used += len(p.text)
    return out
