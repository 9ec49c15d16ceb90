"""The FAISS store's files: immutable segments of whole articles, manifests listing the live ones, when to merge.

A segment folder holds some articles whole: documents.json, chunks.json, sentences.json ([article_id, start, end]),
chunk_vectors.npy and sentence_vectors.npy (row i = unit i), terms.npz (each chunk's analysed terms, for BM25) and
segment.json (its articles in row order with their chunk and sentence counts, written last). It is written in a
temp folder, synced and renamed into place, and never changed afterwards.

A manifest (gen-NNNNNN.json) lists the segments of one generation, oldest first, each with its dead articles
(replaced or removed by a later write), plus the fingerprint and the live counts. CURRENT names the live manifest
and is switched atomically (write, fsync, rename), so a kill at any moment leaves the previous generation whole.

A generation folder of the earlier layout (CURRENT naming a folder: vectors in vectors.faiss, no terms.npz) is
read as a single segment, its chunk texts analysed again, so an index built before segments needs no rebuild.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from rag.backends.stores.base import ArticleRecord
from rag.backends.stores.lexical import TermCounts
from rag.types import Chunk, Document, Sentence

CURRENT = "CURRENT"
LAYOUT = 2  # 1: one folder per generation (rewritten whole by every write); 2: segments and manifests
TIER = 4  # size-tiered merging: this many segments of one size tier (powers of TIER) are merged into one
DEAD_SHARE = 1 / 3  # everything is merged once this share of the stored chunk rows belongs to dead articles


@dataclass
class SegmentData:
    """Whole articles in row order: their documents, chunks, sentences, both vector arrays and chunk terms."""

    docs: list[Document]
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentences: list[Sentence]
    sentence_vectors: np.ndarray
    terms: TermCounts

    @classmethod
    def from_records(cls, records: list[ArticleRecord], dim: int) -> SegmentData:
        """The records as one run of rows (chunk terms analysed now)."""
        chunks = [c for r in records for c in r.chunks]
        return cls([r.doc for r in records], chunks, _stack([r.chunk_vectors for r in records], dim),
                   [s for r in records for s in r.sentences], _stack([r.sentence_vectors for r in records], dim),
                   TermCounts.of(c.text for c in chunks))

    @classmethod
    def concat(cls, parts: list[SegmentData], dim: int) -> SegmentData:
        """Several runs one after the other."""
        return cls([d for p in parts for d in p.docs], [c for p in parts for c in p.chunks],
                   _stack([p.chunk_vectors for p in parts], dim), [s for p in parts for s in p.sentences],
                   _stack([p.sentence_vectors for p in parts], dim), TermCounts.concat([p.terms for p in parts]))

    def articles(self) -> list[tuple[str, int, int]]:
        """(article_id, chunk count, sentence count) per document, in row order."""
        chunks = Counter(c.article_id for c in self.chunks)
        sentences = Counter(s.article_id for s in self.sentences)
        return [(d.article_id, chunks[d.article_id], sentences[d.article_id]) for d in self.docs]


@dataclass
class Segment:
    """One segment folder and its articles in row order: (article_id, chunk count, sentence count)."""

    folder: Path
    articles: list[tuple[str, int, int]]
    _documents: list[Document] | None = None  # parsed once (a segment never changes)

    @property
    def name(self) -> str:
        """The folder's name (as the manifest lists it)."""
        return self.folder.name

    @classmethod
    def open(cls, folder: Path) -> Segment:
        """Read a segment's table of articles (for a generation folder of layout 1, from its JSON files)."""
        info = folder / "segment.json"
        if info.is_file():
            return cls(folder, [(a, c, s) for a, c, s in json.loads(info.read_text(encoding="utf-8"))["articles"]])
        docs = json.loads((folder / "documents.json").read_text(encoding="utf-8"))  # layout 1: rows sorted by id
        chunks = Counter(c["article_id"] for c in json.loads((folder / "chunks.json").read_text(encoding="utf-8")))
        sentences = Counter(s[0] for s in json.loads((folder / "sentences.json").read_text(encoding="utf-8")))
        return cls(folder, [(a, chunks[a], sentences[a]) for a in sorted(d["article_id"] for d in docs)])

    def masks(self, dead: set[str] | frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
        """Boolean masks over the chunk rows and the sentence rows: True for the rows of live articles."""
        live = [a not in dead for a, _, _ in self.articles]
        return (np.repeat(live, [c for _, c, _ in self.articles]).astype(bool),
                np.repeat(live, [s for _, _, s in self.articles]).astype(bool))

    def documents(self, dead: set[str] | frozenset[str]) -> list[Document]:
        """The live articles' documents."""
        if self._documents is None:
            rows = json.loads((self.folder / "documents.json").read_text(encoding="utf-8"))
            self._documents = [Document(**{**d, "dropped": [tuple(x) for x in d["dropped"]]}) for d in rows]
        return [d for d in self._documents if d.article_id not in dead]

    def read(self, dead: set[str] | frozenset[str], vectors: bool = True) -> SegmentData:
        """The live articles' rows (vectors=False: empty vector arrays, for when they are read separately)."""
        keep_chunks, keep_sentences = self.masks(dead)
        chunks = json.loads((self.folder / "chunks.json").read_text(encoding="utf-8"))
        chunks = [Chunk(**c) for c, keep in zip(chunks, keep_chunks) if keep]
        sentences = json.loads((self.folder / "sentences.json").read_text(encoding="utf-8"))
        sentences = [Sentence(a, s, e) for (a, s, e), keep in zip(sentences, keep_sentences) if keep]
        terms_file = self.folder / "terms.npz"
        terms = TermCounts.load(terms_file).select(keep_chunks) if terms_file.is_file() else \
            TermCounts.of(c.text for c in chunks)
        none = np.zeros((0, 0), np.float32)
        return SegmentData(self.documents(dead), chunks, self.vectors("chunk", keep_chunks) if vectors else none,
                           sentences, self.vectors("sentence", keep_sentences) if vectors else none, terms)

    def vectors(self, kind: str, keep: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The kept rows of the chunk or sentence vectors (into out when given), read from a memory map."""
        path = self.folder / f"{kind}_vectors.npy"
        if kind == "chunk" and not path.is_file():  # layout 1 kept them in a FAISS flat index
            import faiss

            flat = faiss.read_index(str(self.folder / "vectors.faiss"))
            rows = flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.zeros((0, flat.d), np.float32)
        else:
            rows = np.load(path, mmap_mode="r")
        if len(rows) != len(keep):
            raise ValueError(f"{path.name} has {len(rows)} rows, the segment lists {len(keep)}")
        return np.compress(keep, rows, axis=0, out=out)


def write_segment(index_dir: Path, generation: int, data: SegmentData) -> Segment:
    """Write the rows as a new segment folder (temp folder, fsync, rename): nothing is visible until complete."""
    name = f"seg-{generation:06d}-{secrets.token_hex(3)}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir(parents=True)
    _write_json(tmp / "documents.json", [vars(d) for d in data.docs])
    _write_json(tmp / "chunks.json", [vars(c) for c in data.chunks])
    _write_json(tmp / "sentences.json", [[s.article_id, s.start, s.end] for s in data.sentences])
    np.save(tmp / "chunk_vectors.npy", np.ascontiguousarray(data.chunk_vectors, np.float32))
    np.save(tmp / "sentence_vectors.npy", np.ascontiguousarray(data.sentence_vectors, np.float32))
    data.terms.save(tmp / "terms.npz")
    articles = data.articles()
    _write_json(tmp / "segment.json", {"layout": LAYOUT, "articles": articles})
    for p in tmp.iterdir():
        _fsync(p)
    _fsync(tmp)
    os.rename(tmp, index_dir / name)
    _fsync(index_dir)
    return Segment(index_dir / name, articles, list(data.docs))


def read_manifest(index_dir: Path, name: str) -> dict[str, Any]:
    """The manifest CURRENT named `name`; a generation folder of layout 1 as a manifest of one segment."""
    target = index_dir / name
    if target.is_dir():  # layout 1
        meta = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        return {**meta, "layout": 1, "generation": 0, "segments": [{"name": target.name, "dead": []}]}
    return json.loads(target.read_text(encoding="utf-8"))


def manifest(generation: int, fingerprint: dict[str, Any], built_at: str,
             segments: list[tuple[Segment, frozenset[str]]]) -> dict[str, Any]:
    """The manifest of a generation made of these segments and their dead articles, with the live counts."""
    live = [(a, c, s) for seg, dead in segments for a, c, s in seg.articles if a not in dead]
    return {"layout": LAYOUT, "generation": generation, "fingerprint": fingerprint, "built_at": built_at,
            "articles": len(live), "chunks": sum(c for _, c, _ in live), "sentences": sum(s for _, _, s in live),
            "segments": [{"name": seg.name, "dead": sorted(dead)} for seg, dead in segments]}


def switch(index_dir: Path, meta: dict[str, Any]) -> None:
    """Write a manifest and make it the live one (each step synced), then remove what no longer belongs to it."""
    name = f"gen-{meta['generation']:06d}.json"
    tmp = index_dir / f".tmp-{name}"
    _write_json(tmp, meta)
    _fsync(tmp)
    os.replace(tmp, index_dir / name)
    pointer = index_dir / f".{CURRENT}.tmp"
    pointer.write_text(name + "\n")
    _fsync(pointer)
    os.replace(pointer, index_dir / CURRENT)
    _fsync(index_dir)
    keep = {name, *(s["name"] for s in meta["segments"])}
    for p in index_dir.iterdir():
        if p.name not in keep and p.name.startswith(("gen-", "seg-", ".tmp-gen-", ".tmp-seg-")):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def plan_merge(sizes: list[int], dead_rows: int) -> list[int]:
    """Which segments to merge, by position, given each one's live chunk rows and the dead rows in all of them.

    All of them once DEAD_SHARE of the stored rows is dead; else every segment of the smallest size tier
    (rows in [TIER^t, TIER^(t+1))) that holds TIER or more segments; else none. A row is so rewritten about once
    per tier (log_TIER of the index size) over its life, and a small change never touches the large segments."""
    if sizes and dead_rows >= DEAD_SHARE * (sum(sizes) + dead_rows):
        return list(range(len(sizes)))
    tiers: dict[int, list[int]] = {}
    for i, size in enumerate(sizes):
        tier = 0
        while size >= TIER ** (tier + 1):
            tier += 1
        tiers.setdefault(tier, []).append(i)
    return next((members for _, members in sorted(tiers.items()) if len(members) >= TIER), [])


def _stack(arrays: Iterable[np.ndarray], dim: int) -> np.ndarray:
    rows = [a for a in arrays if len(a)]
    return np.vstack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, dim), np.float32)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
