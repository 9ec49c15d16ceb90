"""Ingest at archive scale: N generated articles through `rag ingest`, then one-file changes, then no change.

Usage: .venv/bin/python eval/ingest_benchmark.py [--articles 10000] [--sentences 3] [--changes 3] [--runs 1]
                                                [--old DIR] [--old-cache-dir DIR] [--embed-alone] [--keep DIR]

The articles are real sentences (the cleaned seeds and development pages, shuffled) under a generated headline,
dateline and source link, so cleaning, chunking, near-duplicate detection and embedding do their real work (the pool
is about 1,000 sentences, so articles share sentences: many are found to be copies, and a text embedded once per
batch is more common than in a real archive). Each `rag ingest` runs in its own process (cold, as a user runs it)
with the default embedder; its wall time and peak memory (the child's own maxrss, from wait4) are measured. A
one-file change edits a different file each time (`--changes` of them, median reported). "Loaded" is the peak
memory of a process that opens the same index and loads the embedder (what answering needs), the reference for the
memory of a small change.

--old DIR measures another checkout (e.g. `git worktree add --detach /tmp/base main`) beside this one, on the same
articles, each step run for both before the next (same machine state), with this venv's Python. --old-cache-dir gives
the old checkout its own model cache (RAG_CACHE_DIR) when the two keep the embedder on disk differently (an export
version apart: each would otherwise re-export over the other's). --embed-alone also
embeds the same chunk and sentence texts alone in one process (what ingest cannot go below).
Prints a Markdown table; writes JSON to eval/results/ingest_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.ingest.articles import read_article  # noqa: E402
from rag.ingest.chunk import split_sentences  # noqa: E402
from rag.ingest.clean import clean_article  # noqa: E402

CHECKOUT_ENV: dict[Path, dict[str, str]] = {}  # extra environment for one checkout's processes (--old-cache-dir)
SITES = ["kabarwarta.id", "beritanusa.com", "suarawarga.co.id", "harianpesisir.id", "lensakota.com"]
_LOADED = ("import json, resource; from rag.settings import load_settings; "
           "from rag.backends.factory import make_embedder, make_store; s = load_settings(); "
           "v = make_store(s).snapshot(); index = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
           "make_embedder(s).embed_query('warm up'); print(json.dumps({'chunks': v.chunk_count(), "
           "'index_only_mb': round(index / 1024)}))")


def sentence_pool() -> list[str]:
    """Every sentence of the cleaned seeds and development pages, 40-400 characters long."""
    pool = []
    for folder in (ROOT / "seeds", ROOT / "eval/dev/articles"):
        for f in sorted(folder.glob("*.txt")):
            d = clean_article(read_article(f), f.stem)
            pool += [d.text[a:b] for a, b in split_sentences(d.text) if 40 <= b - a <= 400]
    return pool


def generate(folder: Path, n: int, sentences: int, seed: int = 0) -> int:
    """Write n article files; the total characters of their bodies."""
    rng = random.Random(seed)
    pool = sentence_pool()
    words = sorted({w for s in pool for w in re.findall(r"[A-Za-z]{4,}", s)})
    total = 0
    for i in range(n):
        body = rng.sample(pool, sentences)
        paragraphs = ["\n".join([" ".join(body[j : j + 3])]) for j in range(0, sentences, 3)]
        title = " ".join(rng.sample(words, 7)).capitalize()
        day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2019, 2025)
        site = SITES[i % len(SITES)]
        text = (f"{title}\n\n  • Senin, {day:02d}/{month:02d}/{year} 10:00 WIB\n  • {title}\n\n"
                + "\n\n".join(paragraphs) + f"\n\nSumber: https://{site}/berita/{year}/{i:06d}\n")
        sub = folder / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"artikel-{i:06d}.txt").write_text(text, encoding="utf-8")
        total += sum(len(s) for s in body)
    return total


def child(args: list[str], code: Path, index_dir: Path) -> tuple[float, int, str, str]:
    """Run `python ARGS` on a checkout: wall seconds, the child's own peak memory (MB), stdout, stderr."""
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "PYTHONPATH": str(code), **CHECKOUT_ENV.get(code, {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args], env=env, cwd=code, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{args[:3]} failed ({proc.returncode}) in {code}:\n{stdout[-1000:]}\n{stderr[-3000:]}")
    return seconds, round(usage.ru_maxrss / 1024), stdout, stderr


def run_ingest(folder: Path, code: Path, index_dir: Path) -> dict[str, Any]:
    """One `rag ingest` process: wall seconds, peak memory, chunks embedded now, and its summary line."""
    seconds, peak, stdout, _ = child(["-m", "rag", "ingest", str(folder), "--quiet"], code, index_dir)
    if not stdout.startswith("added "):
        raise SystemExit(f"rag ingest printed no summary in {code}:\n{stdout[-1000:]}")
    m = re.search(r"(\d+) chunks \((\d+) embedded", stdout)
    return {"seconds": round(seconds, 1), "peak_rss_mb": peak, "chunks": int(m.group(1)) if m else None,
            "embedded": int(m.group(2)) if m else None, "summary": stdout.splitlines()[0]}


def loaded(code: Path, index_dir: Path) -> dict[str, Any]:
    """Peak memory of a process holding the index and the embedder (and of the index alone)."""
    _, peak, stdout, _ = child(["-c", _LOADED], code, index_dir)
    return {"loaded_mb": peak, **json.loads(stdout.strip().splitlines()[-1])}


def embed_alone(folder: Path) -> dict[str, Any]:
    """Embedding the same chunk and sentence texts alone in one process (this checkout)."""
    code = (
        "import sys, time, json; from pathlib import Path\n"
        "from rag.settings import load_settings; from rag.backends.factory import make_embedder\n"
        "from rag.ingest.articles import read_article; from rag.ingest.clean import clean_article\n"
        "from rag.ingest.chunk import chunk_document, split_sentences\n"
        "s = load_settings(); files = sorted(Path(sys.argv[1]).rglob('*.txt'))\n"
        "docs = [clean_article(read_article(f), f.stem) for f in files]\n"
        "chunks = [c.text for d in docs for c in chunk_document(d, s.chunk_chars, s.chunk_overlap_sentences)]\n"
        "sents = [d.text[a:b] for d in docs for a, b in split_sentences(d.text)]\n"
        "e = make_embedder(s); e.embed_query('warm up'); t0 = time.perf_counter()\n"
        "e.embed_passages(chunks); t1 = time.perf_counter(); e.embed_passages(sents); t2 = time.perf_counter()\n"
        "print(json.dumps({'chunks': len(chunks), 'sentences': len(sents), 'chunk_seconds': round(t1 - t0, 1),\n"
        "                  'sentence_seconds': round(t2 - t1, 1)}))\n"
    )
    _, _, stdout, _ = child(["-c", code, str(folder)], ROOT, ROOT / "index" / "unused")
    return json.loads(stdout.strip().splitlines()[-1])


def change(folder: Path, i: int) -> None:
    """Edit the i-th article file (one sentence added)."""
    files = sorted(folder.rglob("*.txt"))
    f = files[i * 7919 % len(files)]
    f.write_text(f.read_text(encoding="utf-8").replace("\n\nSumber:", f" Kalimat tambahan nomor {i}.\n\nSumber:"),
                 encoding="utf-8")


def one_run(folder: Path, work: Path, codes: dict[str, Path], changes: int) -> dict[str, dict[str, Any]]:
    """First ingest, `changes` one-file changes and a no-change ingest, each step for every checkout in turn."""
    out: dict[str, dict[str, Any]] = {name: {"changes": []} for name in codes}
    index = {name: work / f"index-{name}" for name in codes}
    for path in index.values():
        shutil.rmtree(path, ignore_errors=True)
    for name, code in codes.items():
        out[name]["first"] = run_ingest(folder, code, index[name])
        print(f"{name}: first ingest {out[name]['first']}", flush=True)
    for name, code in codes.items():
        out[name]["loaded"] = loaded(code, index[name])
    for i in range(changes):
        change(folder, i)
        for name, code in codes.items():
            out[name]["changes"].append(run_ingest(folder, code, index[name]))
            print(f"{name}: one file changed {out[name]['changes'][-1]}", flush=True)
    for name, code in codes.items():
        out[name]["no_change"] = run_ingest(folder, code, index[name])
        out[name]["index_mb"] = round(sum(p.stat().st_size for p in index[name].rglob("*") if p.is_file()) / 1e6)
    return out


def summary(runs: list[dict[str, dict[str, Any]]], name: str) -> dict[str, float]:
    """Medians over runs (and over the changes of each run) of one checkout's figures."""
    med = lambda xs: float(statistics.median(xs))  # noqa: E731
    rs = [r[name] for r in runs]
    return {
        "first_s": med([r["first"]["seconds"] for r in rs]),
        "first_chunks_s": med([r["first"]["embedded"] / r["first"]["seconds"] for r in rs]),
        "first_peak_mb": med([r["first"]["peak_rss_mb"] for r in rs]),
        "change_s": med([c["seconds"] for r in rs for c in r["changes"]]),
        "change_peak_mb": med([c["peak_rss_mb"] for r in rs for c in r["changes"]]),
        "no_change_s": med([r["no_change"]["seconds"] for r in rs]),
        "loaded_mb": med([r["loaded"]["loaded_mb"] for r in rs]),
        "index_only_mb": med([r["loaded"]["index_only_mb"] for r in rs]),
        "index_mb": med([r["index_mb"] for r in rs]),
        "chunks": med([r["first"]["chunks"] for r in rs]),
    }


def table(figures: dict[str, dict[str, float]]) -> str:
    """The Markdown table, one column per checkout."""
    rows = [("first ingest (s)", "first_s", "{:,.0f}"), ("first ingest: chunks/s end to end (with sentences)",
            "first_chunks_s", "{:.1f}"), ("first ingest: peak memory (MB)", "first_peak_mb", "{:,.0f}"),
            ("one file changed (s)", "change_s", "{:.1f}"), ("one file changed: peak memory (MB)", "change_peak_mb",
            "{:,.0f}"), ("index + embedder loaded: peak memory (MB)", "loaded_mb", "{:,.0f}"),
            ("one file changed / loaded (memory)", None, "{:.2f}"), ("nothing changed (s)", "no_change_s", "{:.1f}"),
            ("chunks in the index", "chunks", "{:,.0f}"), ("index on disk (MB)", "index_mb", "{:,.0f}")]
    names = list(figures)
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, key, fmt in rows:
        cells = [fmt.format(f["change_peak_mb"] / f["loaded_mb"] if key is None else f[key])
                 for f in figures.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    """Generate, then run the sequence --runs times for each checkout; print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--sentences", type=int, default=3, help="sentences per generated article")
    ap.add_argument("--changes", type=int, default=3, help="one-file changes to time, each a different file")
    ap.add_argument("--runs", type=int, default=1, help="whole sequences (fresh indexes each), medians reported")
    ap.add_argument("--old", type=Path, default=None, help="another checkout to measure beside this one")
    ap.add_argument("--old-cache-dir", type=Path, default=None, help="the old checkout's model cache (RAG_CACHE_DIR)")
    ap.add_argument("--embed-alone", action="store_true", help="also embed the texts alone (this checkout)")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="rag-ingest-bench-"))
    folder = work / "articles"
    codes = {**({"old": args.old.resolve()} if args.old else {}), "new": ROOT}
    if args.old and args.old_cache_dir:
        CHECKOUT_ENV[args.old.resolve()] = {"RAG_CACHE_DIR": str(args.old_cache_dir.resolve())}
    started, load_before = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()
    runs = []
    for run in range(args.runs):
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        generate(folder, args.articles, args.sentences)
        print(f"run {run + 1}: generated {args.articles:,} articles in {time.perf_counter() - t0:.0f} s", flush=True)
        runs.append(one_run(folder, work, codes, args.changes))
    figures = {name: summary(runs, name) for name in codes}
    alone = embed_alone(folder) if args.embed_alone else None
    load_after = os.getloadavg()
    result = {"articles": args.articles, "sentences_per_article": args.sentences, "runs": runs, "figures": figures,
              "checkout_env": {str(k): v for k, v in CHECKOUT_ENV.items()},
              "embed_alone": alone, "started": started, "codes": {k: str(v) for k, v in codes.items()},
              "load_avg_before": [round(x, 2) for x in load_before],
              "load_avg_after": [round(x, 2) for x in load_after]}
    out = ROOT / "eval/results/ingest_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"\n# Ingest of {args.articles:,} generated articles ({args.sentences} real sentences each), "
          f"median of {args.runs} run(s), {args.changes} one-file changes each\n")
    print(f"started {started}; load average before/after: {result['load_avg_before']} / {result['load_avg_after']}"
          f"; checkouts: {result['codes']}\n")
    print(table(figures))
    if alone:
        total = alone["chunk_seconds"] + alone["sentence_seconds"]
        print(f"\nembedding the same {alone['chunks']:,} chunks + {alone['sentences']:,} sentences alone (new): "
              f"{total:.1f} s ({alone['chunks'] / total:.1f} chunks/s with their sentences)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
