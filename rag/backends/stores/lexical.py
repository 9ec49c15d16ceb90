"""Lexical retrieval: Indonesian-aware analysis (Snowball stemming, stopwords) and BM25 via bm25s."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS
from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

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


class LexicalIndex:
    """BM25 over analysed chunk texts; persisted with bm25s's own save/load."""

    def __init__(self, bm25: bm25s.BM25, n_docs: int) -> None:
        self.bm25 = bm25
        self.n_docs = n_docs

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        """Index the given texts (ids are their positions)."""
        bm25 = bm25s.BM25()
        tokens = [analyze(t) or [""] for t in texts]
        if texts:
            bm25.index(tokens, show_progress=False)
        return cls(bm25, len(texts))

    def save(self, folder: Path) -> None:
        """Write the index files into folder."""
        if self.n_docs:
            self.bm25.save(str(folder / "bm25"))

    @classmethod
    def load(cls, folder: Path, n_docs: int) -> LexicalIndex:
        """Read an index written by save()."""
        if not n_docs:
            return cls(bm25s.BM25(), 0)
        return cls(bm25s.BM25.load(str(folder / "bm25")), n_docs)

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
