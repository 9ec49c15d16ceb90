"""Lexical retrieval: Indonesian-aware analysis (Snowball stemming, stopwords) and BM25 over analysed chunks.

Both stores rank by the same BM25 (bm25s's default "lucene" variant: k1 = 1.5, b = 0.75): `TermCounts` holds what
analysis found in each chunk, `idf` and `saturation` are the two halves of the formula, and `LexicalIndex` is the
in-memory index the FAISS store searches. The PostgreSQL store keeps the same counts in tables and scores with the
same two functions, so the rankings agree.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS
from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

K1, B = 1.5, 0.75  # bm25s's defaults
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
_QUESTION_WORDS = {
    "siapa", "apa", "apakah", "kapan", "berapa", "bagaimana", "mengapa", "kenapa", "dimana", "mana", "sebutkan",
    "jelaskan", "who", "what", "when", "where", "which", "why", "how", "many", "much", "did", "does", "do",
    "according", "article", "artikel", "berita", "menurut",
}


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return frozenset(StopWordRemoverFactory().get_stop_words()) | frozenset(STOPWORDS_EN_PLUS) | _QUESTION_WORDS


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("indonesian")


def content_words(text: str) -> list[str]:
    """Lower-case words without stopwords and question words (before stemming)."""
    stop = _stopwords()
    return [w for w in _WORD.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())]


def analyze(text: str) -> list[str]:
    """Lower-case words without stopwords, stemmed with Snowball Indonesian (harmless for English names)."""
    words = content_words(text)
    return _stemmer().stemWords(words)


def idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """BM25's inverse document frequency of terms found in df of n_docs chunks (the Lucene form, never negative)."""
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def saturation(tf: np.ndarray, length: np.ndarray, avg_length: float) -> np.ndarray:
    """BM25's term-frequency part: tf / (tf + k1 (1 - b + b length / avg_length)), in [0, 1)."""
    return tf / (tf + K1 * (1 - B) + (K1 * B / avg_length) * length)  # scalars first: float32 arrays stay float32


@dataclass
class TermCounts:
    """The analysed terms of a run of chunks: a vocabulary and, per chunk (CSR rows), which terms occur how often.

    A chunk with no content word counts as one occurrence of the empty term, as bm25s indexes it."""

    vocab: list[str]
    indptr: np.ndarray  # row i is ids[indptr[i]:indptr[i + 1]]
    ids: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, texts: Iterable[str]) -> TermCounts:
        """Analyse texts (one row each)."""
        vocab: dict[str, int] = {}
        indptr, ids, counts = [0], [], []
        for text in texts:
            for term, n in Counter(analyze(text) or [""]).items():
                ids.append(vocab.setdefault(term, len(vocab)))
                counts.append(n)
            indptr.append(len(ids))
        return cls(list(vocab), np.array(indptr, np.int64), np.array(ids, np.int32), np.array(counts, np.int32))

    @property
    def rows(self) -> int:
        """Number of chunks."""
        return len(self.indptr) - 1

    def lengths(self) -> np.ndarray:
        """Each chunk's length in terms (its BM25 document length)."""
        return np.add.reduceat(self.counts, self.indptr[:-1]) if len(self.counts) else np.zeros(self.rows, np.int32)

    def select(self, keep: np.ndarray) -> TermCounts:
        """Only the rows where keep (a boolean mask over rows) is True."""
        per_row = np.diff(self.indptr)
        entries = np.repeat(keep, per_row)
        return TermCounts(self.vocab, np.concatenate([[0], np.cumsum(per_row[keep])]), self.ids[entries],
                          self.counts[entries])

    @classmethod
    def concat(cls, parts: list[TermCounts]) -> TermCounts:
        """The rows of several runs one after the other, over one merged vocabulary."""
        vocab: dict[str, int] = {}
        ids, counts, lengths = [], [], []
        for p in parts:
            remap = np.array([vocab.setdefault(t, len(vocab)) for t in p.vocab], np.int32)
            ids.append(remap[p.ids] if len(p.ids) else p.ids)
            counts.append(p.counts)
            lengths.append(np.diff(p.indptr))
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]) if parts else np.zeros(1, np.int64)
        join = lambda arrays: np.concatenate(arrays) if arrays else np.zeros(0, np.int32)  # noqa: E731
        return cls(list(vocab), indptr.astype(np.int64), join(ids), join(counts))

    def save(self, path: Path) -> None:
        """Write to one .npz file."""
        np.savez(path, vocab=np.array(self.vocab, dtype=str), indptr=self.indptr, ids=self.ids, counts=self.counts)

    @classmethod
    def load(cls, path: Path) -> TermCounts:
        """Read a file written by save()."""
        with np.load(path, allow_pickle=False) as f:
            return cls(f["vocab"].tolist(), f["indptr"], f["ids"], f["counts"])


class LexicalIndex:
    """BM25 over analysed chunks, searched with bm25s (weights computed here from term counts, all at once:
    bm25s's own `index()` walks the chunks in Python, 3.6 s at 100,000 chunks against 0.3 s)."""

    def __init__(self, bm25: bm25s.BM25, n_docs: int) -> None:
        self.bm25 = bm25
        self.n_docs = n_docs

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        """Index the given texts (ids are their positions)."""
        return cls.from_counts(TermCounts.of(texts))

    @classmethod
    def from_counts(cls, terms: TermCounts) -> LexicalIndex:
        """Index chunks from their term counts (ids are row positions)."""
        n, bm25 = terms.rows, bm25s.BM25()
        df = np.bincount(terms.ids, minlength=len(terms.vocab))
        lengths = terms.lengths()
        row_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(terms.indptr))
        weights = idf(df, n)[terms.ids] * saturation(terms.counts, lengths[row_of], float(lengths.mean()) if n else 1)
        by_term = np.argsort(terms.ids, kind="stable")  # bm25s keeps a term-major (CSC) matrix
        bm25.scores = {"data": weights[by_term].astype(np.float32), "indices": row_of[by_term],
                       "indptr": np.concatenate([[0], np.cumsum(df)]).astype(np.int64), "num_docs": n}
        bm25.vocab_dict = {t: i for i, t in enumerate(terms.vocab)}
        bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
        bm25.nonoccurrence_array = None
        return cls(bm25, n)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best (position, BM25 score) pairs with a positive score (only where mask is True, if given)."""
        terms = [t for t in analyze(query) if t in self.bm25.vocab_dict] if self.n_docs else []
        if not terms:
            return []
        scores = self.bm25.get_scores(terms)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, self.n_docs)
        top = np.argpartition(-scores, k - 1)[:k]  # partial sort: O(n) rather than sorting every score
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def term_coverage(query: str, text: str) -> float:
    """Share of the query's content terms that occur in text (0 when the query has none)."""
    q = set(analyze(query))
    return len(q & set(analyze(text))) / len(q) if q else 0.0
