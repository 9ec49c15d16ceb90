"""The store protocol: what ingest writes (whole articles with their vectors) and what the answer path reads.

Chunks and sentences are addressed by integer keys. A store gives the sentences of one article consecutive keys
in document order, so "the sentence before/after" is key - 1 / key + 1 within `sentence_range(article_id)`.
Keys are only meaningful within one `snapshot()`; the answer path takes one snapshot per question.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, runtime_checkable

import numpy as np

from rag.types import ArticleFilter, Chunk, Document, Sentence, Source
from rag.versions import CLEANING_VERSION

FORMAT_VERSION = 3  # 2: sentence spans and vectors; 3: format, encoding, author, JSONL line, near-duplicate fields


@dataclass
class ArticleRecord:
    """One article as written to a store: the document, its chunks and sentences, and their vectors (row i = unit i)."""

    doc: Document
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentences: list[Sentence]
    sentence_vectors: np.ndarray


@dataclass(frozen=True)
class IndexStats:
    """How much a store holds, known without loading its vectors or chunks (an ingest's summary line)."""

    articles: int
    chunks: int
    sentences: int
    copies: int  # articles stored as a syndicated copy of another (shown as "also reported by")


@runtime_checkable
class StoreReader(Protocol):
    """A consistent read view of a store: lookups by key and the three searches the answer path runs."""

    def document(self, article_id: str) -> Document:
        """The document with this id (KeyError when absent)."""

    def article_ids(self) -> set[str]:
        """Ids of every indexed article."""

    def article_list(self) -> list[dict[str, Any]]:
        """Metadata of every indexed article (no text), newest first."""

    def chunk_count(self) -> int:
        """Number of chunks."""

    def sentence_count(self) -> int:
        """Number of sentences."""

    def chunk(self, key: int) -> Chunk:
        """The chunk with this key."""

    def sentence(self, key: int) -> Sentence:
        """The sentence span with this key."""

    def sentence_text(self, key: int) -> str:
        """The text of the sentence with this key."""

    def sentence_vectors_of(self, keys: list[int]) -> np.ndarray:
        """The vectors of these sentences, one row per key in the order given."""

    def sentence_range(self, article_id: str) -> tuple[int, int]:
        """Keys [first, last + 1) of an article's sentences."""

    def sentences_in(self, article_id: str, start: int, end: int) -> list[int]:
        """Keys of the article's sentences that overlap the character span [start, end)."""

    def also_reported_by(self, article_id: str) -> list[Source]:
        """The stored near-duplicate copies of an article (other sites that ran the same story)."""

    def dense_search(self, query_vector: np.ndarray, k: int, where: ArticleFilter | None = None,
                     ) -> list[tuple[int, float]]:
        """The k chunks nearest to a query vector (of articles the filter admits): (key, cosine), best first."""

    def lexical_search(self, query: str, k: int, where: ArticleFilter | None = None) -> list[tuple[int, float]]:
        """The k best chunks for the query's words (of admitted articles): (key, score > 0), best first."""

    def dense_sentence_search(self, query_vector: np.ndarray, k: int, where: ArticleFilter | None = None,
                              ) -> list[tuple[int, float]]:
        """The k sentences nearest to a query vector (of admitted articles): (key, cosine), best first."""


@runtime_checkable
class Store(Protocol):
    """Where the index lives. Writes replace whole articles atomically; readers never see half an ingest."""

    def snapshot(self) -> StoreReader:
        """The current contents for reading (IndexError_ with a hint when nothing was ingested yet)."""

    def documents(self) -> dict[str, Document]:
        """Every stored document by id (empty when nothing was ingested yet)."""

    def fingerprint(self) -> dict[str, Any] | None:
        """What the stored vectors and chunks were built with (None when empty)."""

    def stats(self) -> IndexStats:
        """How many articles, chunks, sentences and copies are stored (all 0 when empty); cheaper than a snapshot."""

    def write(
        self, upserts: Iterable[ArticleRecord], deletes: list[str], fingerprint: dict[str, Any],
        replace_all: bool = False,
    ) -> None:
        """Add or replace these articles and remove those ids in one atomic step (replace_all: drop the rest).

        `upserts` is consumed once, in order, as ingest embeds it: a store may write each batch as it comes."""

    def write_lock(self) -> AbstractContextManager[None]:
        """Held for a whole ingest so two writers never interleave."""

    def describe(self) -> str:
        """Where the store is, for messages (never a password)."""


def fingerprint(embedder: str, passage_prefix: str, dim: int, chunk_chars: int, overlap: int) -> dict[str, Any]:
    """What an index's vectors and chunks depend on; a mismatch means the index must be rebuilt."""
    return {
        "format_version": FORMAT_VERSION,
        "cleaning_version": CLEANING_VERSION,
        "embedder": embedder,
        "passage_prefix": passage_prefix,
        "dim": dim,
        "chunk_chars": chunk_chars,
        "chunk_overlap_sentences": overlap,
    }


def compatibility_problems(have: dict[str, Any] | None, want: dict[str, Any]) -> str | None:
    """A description of how a stored fingerprint differs from the wanted one (None when they match)."""
    if have is None:
        return None
    diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
    return "; ".join(f"{k}: index has {a!r}, settings say {b!r}" for k, (a, b) in diff.items()) or None
