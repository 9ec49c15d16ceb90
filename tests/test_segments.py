"""The FAISS store's segments and both stores' BM25 pieces: merge policy, term counts, the old layout, no read-back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import bm25s
import faiss
import numpy as np

from rag.backends.stores import postgres_lexical
from rag.backends.stores.faiss_files import FaissStore, Index
from rag.backends.stores.lexical import LexicalIndex, TermCounts, analyze
from rag.backends.stores.segments import plan_merge
from tests.test_store_contract import DOCS, FINGERPRINT, QUERIES, Reference, edited, found, record, same_ranking


def test_plan_merge_merges_a_full_tier_of_small_segments_and_everything_once_much_is_dead() -> None:
    assert plan_merge([], 0) == [] and plan_merge([5000], 2000) == []
    assert plan_merge([5000, 3, 2], 0) == []
    assert plan_merge([5000, 3, 2, 1, 3], 0) == [1, 2, 3, 4]  # four in tier 0 (1-3 rows)
    assert plan_merge([5000, 12, 3, 7, 2, 15], 0) == []  # tiers 0 and 1 hold two each
    assert plan_merge([5000, 12, 4, 7, 5, 15], 0) == [1, 2, 3, 4, 5]  # five in tier 1 (4-15 rows)
    assert plan_merge([3, 5000, 2, 1, 3], 0) == [0, 2, 3, 4]  # wherever they are
    assert plan_merge([5000, 0, 0, 0, 0], 0) == [1, 2, 3, 4]  # segments of copies only count as the smallest
    assert plan_merge([3000, 10], 1600) == [0, 1] and plan_merge([3000], 1600) == [0]  # a third of the rows is dead


def test_term_counts_give_bm25s_own_weights() -> None:
    texts = [c.text for d in DOCS.values() for c in record(d).chunks] + ["yang dan di"]  # the last: no content word
    halves = TermCounts.concat([TermCounts.of(texts[:30]), TermCounts.of(texts[30:])])
    ours, theirs = LexicalIndex.from_counts(halves), bm25s.BM25()
    theirs.index([analyze(t) or [""] for t in texts], show_progress=False)
    for q in QUERIES:
        terms = [t for t in analyze(q) if t in theirs.vocab_dict]
        np.testing.assert_allclose(ours.bm25.get_scores(terms), theirs.get_scores(terms), rtol=1e-5, atol=1e-6)
    keep = np.arange(halves.rows) % 3 > 0
    assert TermCounts.of(t for t, k in zip(texts, keep) if k).lengths().tolist() == halves.select(keep).lengths().tolist()


def test_postgres_postings_pack_what_term_counts_hold() -> None:
    texts = [c.text for c in record(DOCS["kopi"]).chunks]
    terms, keys = TermCounts.of(texts), np.array([4094, 4095, 4096][: len(texts)], np.int64)
    got = {}
    for term, block, data in postgres_lexical.pack(keys, terms):
        for r in np.frombuffer(data, postgres_lexical.RECORD):
            got[(term, block * postgres_lexical.BLOCK + int(r["offset"]))] = (int(r["tf"]), int(r["length"]))
    lengths = terms.lengths()
    want = {(terms.vocab[t], int(keys[row])): (int(n), int(lengths[row])) for row in range(terms.rows)
            for t, n in zip(terms.ids[terms.indptr[row]:terms.indptr[row + 1]], terms.counts[terms.indptr[row]:
                                                                                             terms.indptr[row + 1]])}
    assert got == want


def test_a_small_write_never_reads_the_stored_vectors(tmp_path: Path) -> None:
    store = FaissStore(tmp_path)
    records = {aid: record(d) for aid, d in DOCS.items()}
    store.write(iter(records.values()), [], FINGERPRINT)
    base = next(tmp_path.glob("seg-*"))
    saved = {n: (base / n).read_bytes() for n in ("chunk_vectors.npy", "sentence_vectors.npy")}
    for name in saved:
        (base / name).write_bytes(b"unreadable")  # a write that read them back would fail
    records["kopi"] = edited("kopi", "Satu kalimat baru.")
    t0 = time.perf_counter()
    store.write(iter([records["kopi"]]), [], FINGERPRINT)
    assert time.perf_counter() - t0 < 5
    assert len(list(tmp_path.glob("seg-*"))) == 2 and (tmp_path / "gen-000002.json").is_file()
    manifest = json.loads((tmp_path / "gen-000002.json").read_text())
    assert manifest["segments"][0] == {"name": base.name, "dead": ["kopi"]}
    for name, data in saved.items():
        (base / name).write_bytes(data)
    view = FaissStore(tmp_path).snapshot()
    assert view.document("kopi").text.endswith("Satu kalimat baru.")
    v = np.vstack([r.chunk_vectors for r in records.values()])
    assert view.vectors.ntotal == len(v)


def _write_layout_1(folder: Path, records: list) -> None:
    """An index as rag-news wrote it before segments: one generation folder, CURRENT naming it."""
    gen = folder / "gen-20261201T120000-000000001"
    gen.mkdir(parents=True)
    docs = sorted((r.doc for r in records), key=lambda d: d.article_id)
    by_id = {r.doc.article_id: r for r in records}
    (gen / "documents.json").write_text(json.dumps([vars(d) for d in docs]))
    (gen / "chunks.json").write_text(json.dumps([vars(c) for d in docs for c in by_id[d.article_id].chunks]))
    (gen / "sentences.json").write_text(json.dumps([[s.article_id, s.start, s.end] for d in docs
                                                    for s in by_id[d.article_id].sentences]))
    flat = faiss.IndexFlatIP(FINGERPRINT["dim"])
    flat.add(np.vstack([by_id[d.article_id].chunk_vectors for d in docs]))
    faiss.write_index(flat, str(gen / "vectors.faiss"))
    np.save(gen / "sentence_vectors.npy", np.vstack([by_id[d.article_id].sentence_vectors for d in docs]))
    counts = {"articles": len(docs), "chunks": flat.ntotal, "sentences": sum(len(r.sentences) for r in records)}
    (gen / "manifest.json").write_text(json.dumps({"fingerprint": FINGERPRINT, "built_at": "then", **counts}))
    (folder / "CURRENT").write_text(gen.name + "\n")


def test_an_index_of_the_old_layout_is_read_and_updated_without_a_rebuild(tmp_path: Path) -> None:
    records = {aid: record(d) for aid, d in DOCS.items()}
    _write_layout_1(tmp_path, list(records.values()))
    store = FaissStore(tmp_path)
    assert store.fingerprint() == FINGERPRINT and store.documents() == {a: r.doc for a, r in records.items()}
    view, ref = store.snapshot(), Reference(list(records.values()))
    for q in QUERIES:
        same_ranking(found(view, view.lexical_search(q, 10), "chunk"), ref.lexical(q, 10, None), rel=1e-3)
    records["banjir"] = edited("banjir", "Air mulai surut pada hari Jumat.")
    store.write(iter([records["banjir"]]), ["kopi"], FINGERPRINT)
    del records["kopi"]
    view, ref = FaissStore(tmp_path).snapshot(), Reference(list(records.values()))
    assert view.article_ids() == set(records) and (tmp_path / "gen-20261201T120000-000000001").is_dir()
    for q in QUERIES:
        v = record(DOCS["pelabuhan"]).chunk_vectors[0]
        same_ranking(found(view, view.dense_search(v, 8), "chunk"), ref.dense(v, 8, None))
        same_ranking(found(view, view.lexical_search(q, 10), "chunk"), ref.lexical(q, 10, None), rel=1e-3)
    assert isinstance(Index.load(tmp_path), Index)
