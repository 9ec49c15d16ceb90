"""Hybrid retrieval: dense and lexical candidates from the store fused by reciprocal rank, overlaps merged."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from rag.backends.embedders.base import Embedder
from rag.backends.stores.lexical import term_coverage
from rag.settings import Settings
from rag.backends.stores.base import StoreReader
from rag.types import ArticleFilter, Passage


@dataclass
class Retrieval:
    """The passages for one question plus the evidence-strength signals used for refusal."""

    passages: list[Passage]
    best_dense: float
    best_coverage: float
    weak: bool
    seconds: float
    ranked: list[tuple[int, float]] = field(default_factory=list)  # fused chunk positions, best first
    query_vector: np.ndarray | None = None


def rrf(rankings: list[list[int]], weights: list[float], k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum of weight / (k + rank) over the rankings, best first."""
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda x: -x[1])


def merge_passages(
    index: StoreReader, ranked: list[tuple[int, float]], top_k: int, signals: dict[int, dict], max_chars: int = 1400
) -> list[Passage]:
    """Turn ranked chunk positions into at most top_k passages, merging overlapping chunks of one article."""
    passages: list[Passage] = []
    for pos, score in ranked:
        if len(passages) == top_k:
            break  # merging lower-ranked chunks into kept passages would only inflate the prompt
        c = index.chunk(pos)
        host = next(
            (p for p in passages if p.source.article_id == c.article_id and c.start <= p.end and p.start <= c.end
             and max(p.end, c.end) - min(p.start, c.start) <= max_chars),
            None,
        )
        if host:
            host.start, host.end = min(host.start, c.start), max(host.end, c.end)
            host.text = index.document(c.article_id).text[host.start : host.end]
            host.chunk_ids.append(c.chunk_id)
            for key, val in signals.get(pos, {}).items():
                host.scores[key] = max(host.scores.get(key, val), val)
            continue
        d = index.document(c.article_id)
        passages.append(
            Passage(
                source=d.source, start=c.start, end=c.end, text=c.text, chunk_ids=[c.chunk_id],
                scores={"fused": round(score, 6), **signals.get(pos, {})},
            )
        )
    for n, p in enumerate(passages, start=1):
        p.n = n
        p.sentence_ids = index.sentences_in(p.source.article_id, p.start, p.end)
    return passages


def retrieve(index: StoreReader, embedder: Embedder, query: str, settings: Settings, top_k: int | None = None,
             where: ArticleFilter | None = None) -> Retrieval:
    """Find the passages for a query (among the articles the filter admits) and judge whether the evidence is strong
    enough to answer."""
    t0 = time.perf_counter()
    top_k = top_k or settings.top_k
    qv = embedder.embed_query(query)
    where = where or None
    dense = index.dense_search(qv, settings.candidates, where) if settings.fusion != "lexical" else []
    lexical = index.lexical_search(query, settings.candidates, where) if settings.fusion != "dense" else []
    signals: dict[int, dict] = {}
    for pos, s in dense:
        signals.setdefault(pos, {})["dense"] = round(s, 4)
    for pos, s in lexical:
        signals.setdefault(pos, {})["lexical"] = round(s, 4)
    if settings.fusion == "rrf":
        ranked = rrf(
            [[p for p, _ in dense], [p for p, _ in lexical]], [settings.dense_weight, settings.lexical_weight],
            settings.rrf_k,
        )
    else:
        ranked = dense or lexical
    passages = merge_passages(index, ranked, top_k, signals, max_chars=2 * settings.chunk_chars)
    best_dense = max((s for _, s in dense), default=0.0)
    best_coverage = max((term_coverage(query, index.chunk(p).text) for p, _ in lexical[:5]), default=0.0)
    weak = best_dense < settings.min_dense_score and best_coverage < settings.min_lexical_coverage
    return Retrieval(passages, best_dense, best_coverage, weak or not passages, time.perf_counter() - t0, ranked, qv)
