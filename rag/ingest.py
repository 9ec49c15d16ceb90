"""Ingest: files -> cleaned documents -> chunks -> vectors -> index, re-embedding only what changed."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.articles import Skipped, find_article_files, read_article
from rag.chunk import chunk_document, split_sentences
from rag.clean import clean_article
from rag.embed import get_embedder
from rag.errors import BadInputError, IndexError_
from rag.settings import Settings
from rag.store import Index, fingerprint, write_lock
from rag.types import Chunk, Document, Sentence


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    articles: int = 0
    chunks: int = 0
    embedded_chunks: int = 0
    sentences: int = 0
    seconds: float = 0.0
    wrote_index: bool = False

    def summary(self) -> str:
        """One line per kind of outcome, for the terminal and the UI."""
        lines = [
            f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"skipped {len(self.skipped)}, removed {len(self.removed)}; index: {self.articles} articles, "
            f"{self.chunks} chunks ({self.embedded_chunks} embedded now) in {self.seconds:.1f} s"
        ]
        lines += [f"  skipped {s.path}: {s.reason}" for s in self.skipped]
        lines += [f"  warning {aid}: {w}" for aid, ws in self.warnings.items() for w in ws]
        if not self.wrote_index:
            lines.append("  nothing changed; the index was not rewritten")
        return "\n".join(lines)


def _load_existing(settings: Settings, rebuild: bool) -> Index | None:
    if rebuild:
        return None
    try:
        index = Index.load(settings.index_dir)
    except IndexError_ as e:
        if "no index at" in e.message:
            return None
        raise
    index.check_compatible(settings)
    return index


def _new_id(path: Path, taken: set[str]) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in path.stem) or "article"
    if stem not in taken:
        return stem
    return f"{stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:6]}"


def ingest(paths: list[Path], settings: Settings, rebuild: bool = False, progress: bool = True) -> IngestReport:
    """Bring the index in line with the given article files (plus removal of indexed files now gone)."""
    t0 = time.perf_counter()
    report = IngestReport()
    files, report.skipped = find_article_files(paths, settings.follow_links_outside)
    with write_lock(settings.index_dir):
        old = _load_existing(settings, rebuild)
        old_docs = dict(old.docs) if old else {}
        by_source = {d.source_file: d for d in old_docs.values()}
        old_chunks: dict[str, list[tuple[Chunk, int]]] = {}
        old_sentences: dict[str, list[tuple[Sentence, int]]] = {}
        if old:
            for pos, c in enumerate(old.chunks):
                old_chunks.setdefault(c.article_id, []).append((c, pos))
            for pos, x in enumerate(old.sentences):
                old_sentences.setdefault(x.article_id, []).append((x, pos))
        taken = set(old_docs)

        keep: dict[str, Document] = {}
        fresh: list[Document] = []
        for f in files:
            prev = by_source.get(str(f))
            try:
                raw = read_article(f)
            except BadInputError as e:
                report.skipped.append(Skipped(f, e.message.removeprefix(f"{f}: ")))
                if prev:  # never lose data: the last good version stays indexed
                    keep[prev.article_id] = prev
                continue
            if prev and prev.content_hash == raw.content_hash:
                keep[prev.article_id] = prev
                report.unchanged.append(prev.article_id)
                continue
            article_id = prev.article_id if prev else _new_id(f, taken)
            taken.add(article_id)
            doc = clean_article(raw, article_id)
            if not doc.text:
                report.skipped.append(Skipped(f, "no article text left after cleaning"))
                if prev:
                    keep[prev.article_id] = prev
                continue
            if doc.warnings:
                report.warnings[article_id] = doc.warnings
            fresh.append(doc)
            (report.updated if prev else report.added).append(article_id)

        fresh_ids = {x.article_id for x in fresh}
        given = {str(x) for x in files}
        for d in old_docs.values():
            if d.article_id not in keep and d.article_id not in fresh_ids:
                if Path(d.source_file).exists() and d.source_file not in given:
                    keep[d.article_id] = d  # indexed from another folder and still there: keep it
                else:
                    report.removed.append(d.article_id)

        if old and not fresh and not report.removed:
            report.articles, report.chunks = len(old.docs), len(old.chunks)
            report.seconds = time.perf_counter() - t0
            return report

        new_chunks = [c for d in fresh for c in chunk_document(d, settings.chunk_chars, settings.chunk_overlap_sentences)]
        new_sentences = [Sentence(d.article_id, a, b) for d in fresh for a, b in split_sentences(d.text)]
        embedder = get_embedder(settings) if new_chunks or not old else None
        dim = embedder.dim if embedder else old.meta["fingerprint"]["dim"]  # type: ignore[union-attr]
        new_vectors = embedder.embed_passages([c.text for c in new_chunks], progress) if embedder else None
        fresh_text = {d.article_id: d.text for d in fresh}
        new_sentence_vectors = (
            embedder.embed_passages([fresh_text[x.article_id][x.start : x.end] for x in new_sentences], progress)
            if embedder else None
        )
        old_vectors = old.all_vectors() if old else None

        docs = sorted([*keep.values(), *fresh], key=lambda d: d.article_id)
        chunks, vectors = _assemble(docs, new_chunks, new_vectors, old_chunks, old_vectors, dim)
        sentences, sentence_vectors = _assemble(
            docs, new_sentences, new_sentence_vectors, old_sentences, old.sentence_vectors if old else None, dim
        )
        meta = {
            "fingerprint": fingerprint(settings, dim),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "articles": len(docs),
            "chunks": len(chunks),
            "sentences": len(sentences),
        }
        index = Index.build(docs, chunks, vectors, meta, sentences, sentence_vectors)
        index.save(settings.index_dir)
        report.wrote_index = True
        report.articles, report.chunks, report.embedded_chunks = len(docs), len(chunks), len(new_chunks)
        report.sentences = len(sentences)
    report.seconds = time.perf_counter() - t0
    return report


def _assemble(
    docs: list[Document], new: list, new_vectors: np.ndarray | None,
    old: dict[str, list[tuple[Any, int]]], old_vectors: np.ndarray | None, dim: int,
) -> tuple[list, np.ndarray]:
    """Units (chunks or sentences) and their vectors in document order: fresh ones for re-read articles, else kept."""
    fresh_by_id: dict[str, list[int]] = {}
    for i, unit in enumerate(new):
        fresh_by_id.setdefault(unit.article_id, []).append(i)
    units: list = []
    rows: list[np.ndarray] = []
    for d in docs:
        if d.article_id in fresh_by_id:
            for i in fresh_by_id[d.article_id]:
                units.append(new[i])
                rows.append(new_vectors[i])  # type: ignore[index]
        else:
            for unit, pos in old.get(d.article_id, []):
                units.append(unit)
                rows.append(old_vectors[pos])  # type: ignore[index]
    return units, (np.vstack(rows) if rows else np.zeros((0, dim), dtype=np.float32))
