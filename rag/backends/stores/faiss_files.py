"""The default store: documents, chunks, FAISS vectors and BM25 in a folder, written incrementally as segments.

A write puts only the articles it was given in a new segment and switches atomically to a new manifest that marks
their old rows dead (segments.py has the files); unchanged articles are never read back or rewritten, and small
segments are merged afterwards. `Index` is one loaded generation (the read side: every live segment in memory,
one FAISS flat index and one BM25 over all of them); `FaissStore` is the folder (snapshots, writes, the locks).
Keys are row positions within a generation; an article's rows are consecutive, in document order.
"""

from __future__ import annotations

import fcntl
import time
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import faiss
import numpy as np

from rag.backends.options import NoOptions
from rag.backends.stores.base import FORMAT_VERSION, ArticleRecord, IndexStats
from rag.backends.stores.lexical import LexicalIndex, TermCounts
from rag.backends.stores.segments import (CURRENT, LAYOUT, Segment, SegmentData, manifest, plan_merge, read_manifest,
                                          switch, write_segment)
from rag.errors import IndexError_, IndexMissingError
from rag.types import ArticleFilter, Chunk, Document, Sentence, Source

FLUSH_ROWS = 200_000  # chunk and sentence rows a write holds before putting them in a segment (memory bound)
__all__ = ["CURRENT", "FaissStore", "Index", "write_lock"]


class Index:
    """A loaded index generation: documents by id, chunks by position, vectors and BM25 aligned with chunks,
    and every sentence with its own vector (the unit of evidence and citation)."""

    def __init__(
        self, docs: dict[str, Document], chunks: list[Chunk], vectors: faiss.Index, lexical: LexicalIndex,
        meta: dict[str, Any], sentences: list[Sentence], sentence_vectors: np.ndarray, path: Path | None = None,
    ) -> None:
        self.docs = docs
        self.chunks = chunks
        self.vectors = vectors
        self.lexical = lexical
        self.meta = meta
        self.sentences = sentences
        self.sentence_vectors = sentence_vectors
        self.path = path
        self._sentences_of: dict[str, tuple[int, int]] | None = None
        self._masks: dict[tuple[ArticleFilter, str], np.ndarray] = {}
        self._copies: dict[str, list[Source]] | None = None

    @classmethod
    def build(
        cls, docs: list[Document], chunks: list[Chunk], vectors: np.ndarray, meta: dict[str, Any],
        sentences: list[Sentence], sentence_vectors: np.ndarray,
    ) -> Index:
        """Assemble an in-memory index from parts (vectors row i belongs to chunks[i], likewise for sentences)."""
        flat = faiss.IndexFlatIP(meta["fingerprint"]["dim"])
        if len(vectors):
            flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
        lexical = LexicalIndex.build([c.text for c in chunks])
        sv = np.ascontiguousarray(sentence_vectors, dtype=np.float32).reshape(len(sentences), -1)
        return cls({d.article_id: d for d in docs}, chunks, flat, lexical, meta, sentences, sv)

    def sentence_range(self, article_id: str) -> tuple[int, int]:
        """Positions [first, last+1) of an article's sentences (they are stored in document order)."""
        if self._sentences_of is None:
            ranges: dict[str, tuple[int, int]] = {}
            for i, s in enumerate(self.sentences):
                a, _ = ranges.get(s.article_id, (i, i))
                ranges[s.article_id] = (a, i + 1)
            self._sentences_of = ranges
        return self._sentences_of.get(article_id, (0, 0))

    def sentence_text(self, pos: int) -> str:
        """The text of the sentence at a position."""
        s = self.sentences[pos]
        return self.docs[s.article_id].text[s.start : s.end]

    def sentences_in(self, article_id: str, start: int, end: int) -> list[int]:
        """Positions of the article's sentences that overlap the span [start, end)."""
        a, b = self.sentence_range(article_id)
        return [i for i in range(a, b) if self.sentences[i].start < end and start < self.sentences[i].end]

    def _admitted(self, where: ArticleFilter, rows: str) -> np.ndarray:
        """A boolean mask over chunk or sentence rows: True where the row's article passes the filter (cached)."""
        key = (where, rows)
        if key not in self._masks:
            ok = {aid for aid, d in self.docs.items() if where.admits(d.date, d.site)}
            units = self.chunks if rows == "chunks" else self.sentences
            self._masks[key] = np.fromiter((u.article_id in ok for u in units), dtype=bool, count=len(units))
        return self._masks[key]

    def dense_sentence_search(self, query_vector: np.ndarray, k: int, where: ArticleFilter | None = None,
                              ) -> list[tuple[int, float]]:
        """The k sentences nearest to a query vector: (position, cosine), best first."""
        if not len(self.sentences):
            return []
        scores = self.sentence_vectors @ query_vector.astype(np.float32)
        if where:
            scores = np.where(self._admitted(where, "sentences"), scores, -np.inf)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def also_reported_by(self, article_id: str) -> list[Source]:
        """The stored copies of an article, earliest first."""
        if self._copies is None:
            self._copies = {}
            for d in self.docs.values():
                if d.duplicate_of:
                    self._copies.setdefault(d.duplicate_of, []).append(d.source)
            for copies in self._copies.values():
                copies.sort(key=lambda s: (s.date or "", s.article_id))
        return list(self._copies.get(article_id, []))

    def article_list(self) -> list[dict[str, Any]]:
        """Metadata of every indexed article, newest first (what `rag articles` and the page list)."""
        docs = [d.meta() for d in self.docs.values()]
        return sorted(docs, key=lambda d: (d["date"] or "", d["article_id"]), reverse=True)

    def all_vectors(self) -> np.ndarray:
        """Every chunk vector, in chunk order."""
        n = self.vectors.ntotal
        return self.vectors.reconstruct_n(0, n) if n else np.zeros((0, self.meta["fingerprint"]["dim"]), dtype=np.float32)

    def dense_search(self, query_vector: np.ndarray, k: int, where: ArticleFilter | None = None,
                     ) -> list[tuple[int, float]]:
        """The k nearest chunks by cosine similarity: (position, score)."""
        if not self.vectors.ntotal:
            return []
        params = None
        if where:
            allowed = np.flatnonzero(self._admitted(where, "chunks")).astype(np.int64)
            if not len(allowed):
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        scores, ids = self.vectors.search(query_vector.reshape(1, -1).astype(np.float32), min(k, self.vectors.ntotal),
                                          params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    # --- the StoreReader protocol -------------------------------------------------------------------------
    def document(self, article_id: str) -> Document:
        """The document with this id."""
        return self.docs[article_id]

    def article_ids(self) -> set[str]:
        """Ids of every indexed article."""
        return set(self.docs)

    def chunk_count(self) -> int:
        """Number of chunks."""
        return len(self.chunks)

    def sentence_count(self) -> int:
        """Number of sentences."""
        return len(self.sentences)

    def chunk(self, key: int) -> Chunk:
        """The chunk at this position."""
        return self.chunks[key]

    def sentence(self, key: int) -> Sentence:
        """The sentence span at this position."""
        return self.sentences[key]

    def sentence_vectors_of(self, keys: list[int]) -> np.ndarray:
        """The vectors of these sentences, in the order given."""
        return self.sentence_vectors[keys]

    def lexical_search(self, query: str, k: int, where: ArticleFilter | None = None) -> list[tuple[int, float]]:
        """BM25 over the chunks: (position, score), best first."""
        return self.lexical.search(query, k, self._admitted(where, "chunks") if where else None)

    @classmethod
    def load(cls, index_dir: Path, opened: dict[str, Segment] | None = None) -> Index:
        """Load the live generation; clear errors when it is missing or damaged (read again when a write switched
        to a newer one and removed files while they were being read). opened: segments already opened, by name."""
        for _ in range(5):
            pointer = _pointer(index_dir)
            if pointer is None:
                raise IndexMissingError.at(index_dir)
            try:
                return cls._load(index_dir, pointer, {} if opened is None else opened)
            except FileNotFoundError as e:
                if pointer == _pointer(index_dir):
                    raise _damaged(index_dir, e) from e
        raise IndexError_(f"the index at {index_dir} kept changing while it was read", "try again")

    @classmethod
    def _load(cls, index_dir: Path, pointer: str, opened: dict[str, Segment]) -> Index:
        try:
            meta = read_manifest(index_dir, pointer)
            if meta.get("fingerprint", {}).get("format_version") != FORMAT_VERSION or meta["layout"] > LAYOUT:
                raise IndexError_(f"the index at {index_dir} was written by another version of rag-news",
                                  "rebuild it with `rag ingest --rebuild`")
            dim = meta["fingerprint"]["dim"]
            for s in meta["segments"]:
                if s["name"] not in opened:
                    opened[s["name"]] = Segment.open(index_dir / s["name"])
            segments = [(opened[s["name"]], frozenset(s["dead"])) for s in meta["segments"]]
            parts = [seg.read(dead, vectors=False) for seg, dead in segments]
            chunks = [c for p in parts for c in p.chunks]
            sentences = [s for p in parts for s in p.sentences]
            chunk_vectors = _fill(segments, "chunk", len(chunks), dim)
            sentence_vectors = _fill(segments, "sentence", len(sentences), dim)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:  # bad JSON, arrays, FAISS file
            raise _damaged(index_dir, e) from e
        if (len(chunks), len(sentences)) != (meta["chunks"], meta["sentences"]):
            raise IndexError_(f"the index at {index_dir} is inconsistent", "rebuild it with `rag ingest --rebuild`")
        flat = faiss.IndexFlatIP(dim)
        if len(chunk_vectors):
            flat.add(chunk_vectors)
        del chunk_vectors  # FAISS holds its own copy
        lexical = LexicalIndex.from_counts(TermCounts.concat([p.terms for p in parts]))
        docs = {d.article_id: d for p in parts for d in p.docs}
        info = {k: v for k, v in meta.items() if k != "segments"}
        return cls(docs, chunks, flat, lexical, info, sentences, sentence_vectors, index_dir / pointer)


class FaissStore:
    """The index folder: CURRENT names the live manifest; a write adds a segment and switches to a new manifest."""

    Options = NoOptions
    reads = ()  # the folder is its target

    @classmethod
    def from_settings(cls, target: str, options: NoOptions, settings: object) -> FaissStore:
        """The store in the folder `target`."""
        return cls(Path(target))

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._loaded: Index | None = None
        self._pointer: str | None = None
        self._segments: dict[str, Segment] = {}  # opened segments by name (a segment never changes)

    def snapshot(self) -> Index:
        """The live generation, reloaded when a write (from any process) has switched to a new one."""
        if self._loaded is None or _pointer(self.index_dir) != self._pointer:
            self._loaded = Index.load(self.index_dir, self._segments)
            self._pointer = self._loaded.path.name if self._loaded.path else None
        return self._loaded

    def _forget_others(self, meta: dict[str, Any]) -> None:
        """Drop the cached segments a manifest no longer lists (merged away or superseded)."""
        live = {s["name"] for s in meta["segments"]}
        self._segments = {name: seg for name, seg in self._segments.items() if name in live}

    def _manifest(self) -> dict[str, Any] | None:
        pointer = _pointer(self.index_dir)
        try:
            meta = read_manifest(self.index_dir, pointer) if pointer else None
        except (OSError, ValueError) as e:
            raise _damaged(self.index_dir, e) from e
        if meta and meta["layout"] > LAYOUT:
            raise IndexError_(f"the index at {self.index_dir} was written by a newer version of rag-news",
                              "upgrade rag-news, or rebuild it with `rag ingest --rebuild`")
        return meta

    def _segment(self, name: str) -> Segment:
        if name not in self._segments:
            self._segments[name] = Segment.open(self.index_dir / name)
        return self._segments[name]

    def _live(self, meta: dict[str, Any]) -> list[tuple[Segment, frozenset[str]]]:
        return [(self._segment(s["name"]), frozenset(s["dead"])) for s in meta["segments"]]

    def documents(self) -> dict[str, Document]:
        """Every stored document by id (read from the segments' documents; no vectors are loaded)."""
        if self._loaded is not None and self._pointer == _pointer(self.index_dir):
            return dict(self._loaded.docs)
        meta = self._manifest()
        return self._documents(meta) if meta else {}

    def _documents(self, meta: dict[str, Any]) -> dict[str, Document]:
        """The documents a manifest lists (a segment's are parsed once per handle)."""
        try:
            return {d.article_id: d for seg, dead in self._live(meta) for d in seg.documents(dead)}
        except (OSError, ValueError, TypeError) as e:
            raise _damaged(self.index_dir, e) from e

    def fingerprint(self) -> dict[str, Any] | None:
        """What the live generation was built with (from its manifest)."""
        meta = self._manifest()
        return meta["fingerprint"] if meta else None

    def stats(self) -> IndexStats:
        """Counts from the manifest and the documents (segments already read are not read again; no vectors, chunks
        or search structures are loaded, which a snapshot of 10,000 articles took 0.3 s to build)."""
        meta = self._manifest()
        if meta is None:
            return IndexStats(0, 0, 0, 0)
        docs = self._documents(meta)
        return IndexStats(len(docs), meta["chunks"], meta["sentences"], sum(1 for d in docs.values() if d.duplicate_of))

    def write(
        self, upserts: Iterable[ArticleRecord], deletes: list[str], fingerprint: dict[str, Any],
        replace_all: bool = False,
    ) -> None:
        """Only the given articles are written (a new segment, flushed every FLUSH_ROWS rows), the replaced and
        deleted ones are marked dead, then one atomic switch; unchanged articles are never read. Small segments are
        merged afterwards (`plan_merge`), in a second switch."""
        with _exclusive(self.index_dir / ".write-lock"):
            current = self._manifest()
            old = None if replace_all else current
            if old and old["fingerprint"]["dim"] != fingerprint["dim"]:
                raise IndexError_(f"the index at {self.index_dir} holds vectors of dimension "
                                  f"{old['fingerprint']['dim']}, not {fingerprint['dim']}", "rebuild it with "
                                  "`rag ingest --rebuild`")
            generation = (current["generation"] if current else 0) + 1
            new = self._write_segments(upserts, generation, fingerprint["dim"])
            gone = {a for seg in new for a, _, _ in seg.articles} | set(deletes)
            kept = [(seg, dead | {a for a, _, _ in seg.articles if a in gone}) for seg, dead in
                    (self._live(old) if old else [])]
            kept = [(seg, dead) for seg, dead in kept if any(a not in dead for a, _, _ in seg.articles)]
            meta = manifest(generation, fingerprint, time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            kept + [(seg, frozenset()) for seg in new])
            switch(self.index_dir, meta)
            self._forget_others(self._merge_small(meta))

    def _write_segments(self, upserts: Iterable[ArticleRecord], generation: int, dim: int) -> list[Segment]:
        """The upserts as new segment folders (not yet live), one every FLUSH_ROWS chunk and sentence rows."""
        written: list[Segment] = []
        pending: list[ArticleRecord] = []
        rows = 0
        for record in upserts:
            pending.append(record)
            rows += len(record.chunks) + len(record.sentences)
            if rows >= FLUSH_ROWS:
                written.append(write_segment(self.index_dir, generation, SegmentData.from_records(pending, dim)))
                pending, rows = [], 0
        if pending:
            written.append(write_segment(self.index_dir, generation, SegmentData.from_records(pending, dim)))
        for seg in written:
            self._segments[seg.name] = seg
        return written

    def _merge_small(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Merge segments as `plan_merge` says, each merge its own atomic switch, until it says none; the last
        manifest."""
        while True:
            live = self._live(meta)
            sizes = [sum(c for a, c, _ in seg.articles if a not in dead) for seg, dead in live]
            dead_rows = sum(c for seg, dead in live for a, c, _ in seg.articles if a in dead)
            chosen = plan_merge(sizes, dead_rows)
            if not chosen:
                return meta
            dim = meta["fingerprint"]["dim"]
            data = SegmentData.concat([live[i][0].read(live[i][1]) for i in chosen], dim)
            merged = write_segment(self.index_dir, meta["generation"] + 1, data)
            self._segments[merged.name] = merged
            rest = [x for i, x in enumerate(live) if i not in chosen]
            rest.insert(min(chosen), (merged, frozenset()))
            meta = manifest(meta["generation"] + 1, meta["fingerprint"], meta["built_at"], rest)
            switch(self.index_dir, meta)

    def write_lock(self) -> AbstractContextManager[None]:
        """An exclusive file lock on the folder (CLI and page uploads never interleave)."""
        return write_lock(self.index_dir)

    def describe(self) -> str:
        """The folder."""
        return str(self.index_dir)


@contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock so two ingests (CLI and UI upload) never interleave."""
    with _exclusive(index_dir / ".lock"):
        yield


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An exclusive flock on a file (made, with its folder, when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _pointer(index_dir: Path) -> str | None:
    """What CURRENT names (None when there is no index)."""
    try:
        return (index_dir / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None


def _damaged(index_dir: Path, e: Exception) -> IndexError_:
    return IndexError_(f"the index at {index_dir} is damaged or incomplete ({type(e).__name__}: {e})",
                       "rebuild it with `rag ingest --rebuild`")


def _fill(segments: list[tuple[Segment, frozenset[str]]], kind: str, rows: int, dim: int) -> np.ndarray:
    """The live chunk or sentence vectors of all segments in one array, each segment copied straight into place."""
    out = np.empty((rows, dim), np.float32)
    at = 0
    for seg, dead in segments:
        keep = seg.masks(dead)[0 if kind == "chunk" else 1]
        n = int(keep.sum())
        seg.vectors(kind, keep, out[at : at + n])
        at += n
    if at != rows:
        raise ValueError(f"{at} {kind} vectors for {rows} {kind}s")
    return out
