"""The default store: documents, chunks, FAISS vectors and BM25 in a folder, written atomically as generations.

`Index` is one loaded generation (the read side); `FaissStore` is the folder (snapshots, atomic writes, the lock).
Keys are row positions within a generation; an article's rows are consecutive, in document order.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Iterator

import faiss
import numpy as np

from rag.backends.stores.base import FORMAT_VERSION, ArticleRecord
from rag.backends.stores.lexical import LexicalIndex
from rag.errors import IndexError_
from rag.types import ArticleFilter, Chunk, Document, Sentence

CURRENT = "CURRENT"


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
        self._copies: dict[str, list[dict[str, Any]]] | None = None

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

    def also_reported_by(self, article_id: str) -> list[dict[str, Any]]:
        """Metadata of the stored copies of an article, earliest first."""
        if self._copies is None:
            self._copies = {}
            for d in self.docs.values():
                if d.duplicate_of:
                    self._copies.setdefault(d.duplicate_of, []).append(d.meta())
            for metas in self._copies.values():
                metas.sort(key=lambda m: (m["date"] or "", m["article_id"]))
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

    def save(self, index_dir: Path) -> Path:
        """Write this index as a new generation and switch CURRENT to it atomically; old generations go."""
        index_dir.mkdir(parents=True, exist_ok=True)
        name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}"
        tmp = index_dir / f".tmp-{name}"
        tmp.mkdir()
        _write_json(tmp / "documents.json", [asdict(d) for d in self.docs.values()])
        _write_json(tmp / "chunks.json", [asdict(c) for c in self.chunks])
        faiss.write_index(self.vectors, str(tmp / "vectors.faiss"))
        self.lexical.save(tmp)
        _write_json(tmp / "sentences.json", [[x.article_id, x.start, x.end] for x in self.sentences])
        np.save(tmp / "sentence_vectors.npy", self.sentence_vectors)
        _write_json(tmp / "manifest.json", self.meta)  # written last: its presence marks a complete generation
        _fsync_tree(tmp)
        os.rename(tmp, index_dir / name)
        pointer = index_dir / f".{CURRENT}.tmp"
        pointer.write_text(name + "\n")
        _fsync_file(pointer)
        os.replace(pointer, index_dir / CURRENT)
        _fsync_dir(index_dir)
        for old in index_dir.iterdir():
            if old.name != name and (old.name.startswith("gen-") or old.name.startswith(".tmp-gen-")):
                shutil.rmtree(old, ignore_errors=True)
        self.path = index_dir / name
        return self.path

    @classmethod
    def load(cls, index_dir: Path) -> Index:
        """Load the CURRENT generation; clear errors when it is missing or damaged."""
        pointer = index_dir / CURRENT
        if not pointer.is_file():
            raise IndexError_(f"no index at {index_dir}", "build it with `rag ingest` (default articles: seeds/)")
        gen = index_dir / pointer.read_text().strip()
        try:
            meta = json.loads((gen / "manifest.json").read_text())
        except Exception as e:  # missing or bad manifest: the generation is incomplete
            raise IndexError_(f"the index at {gen} is damaged or incomplete ({type(e).__name__}: {e})",
                              "rebuild it with `rag ingest --rebuild`") from e
        if meta.get("fingerprint", {}).get("format_version") != FORMAT_VERSION:
            raise IndexError_(f"the index at {gen} was written by another version of rag-news",
                              "rebuild it with `rag ingest --rebuild`")
        try:
            docs = [Document(**d) for d in json.loads((gen / "documents.json").read_text())]
            chunks = [Chunk(**c) for c in json.loads((gen / "chunks.json").read_text())]
            vectors = faiss.read_index(str(gen / "vectors.faiss"))
            lexical = LexicalIndex.load(gen, len(chunks))
            sentences = [Sentence(a, s, e) for a, s, e in json.loads((gen / "sentences.json").read_text())]
            sentence_vectors = np.load(gen / "sentence_vectors.npy")
        except Exception as e:  # missing file, bad JSON, unreadable FAISS file
            raise IndexError_(
                f"the index at {gen} is damaged or incomplete ({type(e).__name__}: {e})",
                "rebuild it with `rag ingest --rebuild`",
            ) from e
        if vectors.ntotal != len(chunks) or len(sentence_vectors) != len(sentences):
            raise IndexError_(f"the index at {gen} is inconsistent", "rebuild it with `rag ingest --rebuild`")
        return cls({d.article_id: d for d in docs}, chunks, vectors, lexical, meta, sentences, sentence_vectors, gen)


class FaissStore:
    """The index folder: CURRENT names the live generation; a write builds a new one beside it and switches."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._loaded: Index | None = None
        self._pointer: str | None = None

    def _current_pointer(self) -> str | None:
        pointer_file = self.index_dir / CURRENT
        return pointer_file.read_text().strip() if pointer_file.is_file() else None

    def snapshot(self) -> Index:
        """The live generation, reloaded when an ingest (from any process) has switched to a new one."""
        pointer = self._current_pointer()
        if self._loaded is None or pointer != self._pointer:
            self._loaded, self._pointer = Index.load(self.index_dir), pointer
        return self._loaded

    def _existing(self) -> Index | None:
        try:
            return self.snapshot()
        except IndexError_ as e:
            if "no index at" in e.message:
                return None
            raise

    def documents(self) -> dict[str, Document]:
        """Every stored document by id."""
        existing = self._existing()
        return dict(existing.docs) if existing else {}

    def fingerprint(self) -> dict[str, Any] | None:
        """What the live generation was built with."""
        existing = self._existing()
        return existing.meta["fingerprint"] if existing else None

    def write(
        self, upserts: Iterable[ArticleRecord], deletes: list[str], fingerprint: dict[str, Any],
        replace_all: bool = False,
    ) -> None:
        """A new generation: kept articles' rows copied (never re-embedded), new ones added, then an atomic switch."""
        old = None if replace_all else self._existing()
        parts: dict[str, tuple[Document, list[Chunk], np.ndarray, list[Sentence], np.ndarray]] = {
            r.doc.article_id: (r.doc, r.chunks, r.chunk_vectors, r.sentences, r.sentence_vectors) for r in upserts}
        replaced = set(parts) | set(deletes)
        if old is not None:
            chunk_rows: dict[str, list[int]] = {}
            for pos, c in enumerate(old.chunks):
                chunk_rows.setdefault(c.article_id, []).append(pos)
            old_vectors = old.all_vectors()
            for aid, doc in old.docs.items():
                if aid in replaced:
                    continue
                rows = chunk_rows.get(aid, [])
                a, b = old.sentence_range(aid)
                parts[aid] = (doc, [old.chunks[i] for i in rows], old_vectors[rows], old.sentences[a:b],
                              old.sentence_vectors[a:b])
        dim = fingerprint["dim"]
        ordered = [parts[aid] for aid in sorted(parts)]
        docs = [p[0] for p in ordered]
        chunks = [c for p in ordered for c in p[1]]
        sentences = [s for p in ordered for s in p[3]]
        stack = lambda arrays: np.vstack(arrays) if arrays else np.zeros((0, dim), dtype=np.float32)  # noqa: E731
        meta = {
            "fingerprint": fingerprint,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "articles": len(docs),
            "chunks": len(chunks),
            "sentences": len(sentences),
        }
        index = Index.build(docs, chunks, stack([p[2] for p in ordered if len(p[1])]), meta, sentences,
                            stack([p[4] for p in ordered if len(p[3])]))
        index.save(self.index_dir)
        self._loaded, self._pointer = index, self._current_pointer()

    def write_lock(self) -> AbstractContextManager[None]:
        """An exclusive file lock on the folder (CLI and page uploads never interleave)."""
        return write_lock(self.index_dir)

    def describe(self) -> str:
        """The folder."""
        return str(self.index_dir)


@contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock so two ingests (CLI and UI upload) never interleave."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            _fsync_file(p)
    for p in [*[d for d in folder.rglob("*") if d.is_dir()], folder]:
        _fsync_dir(p)
