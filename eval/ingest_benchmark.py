"""Ingest at archive scale: N generated articles through `rag ingest`, then a one-file change, then no change.

Usage: .venv/bin/python eval/ingest_benchmark.py [--articles 10000] [--sentences 6] [--keep DIR]

The articles are real sentences (the cleaned seeds and development pages, shuffled) under a generated headline,
dateline and source link, so cleaning, chunking, near-duplicate detection and embedding do their real work. Each
`rag ingest` runs in its own process (cold, as a user runs it) with the default embedder and a fresh FAISS index;
its wall time and peak memory (maxrss of the child) are measured. Beside them, as the baseline measured in the
same run: embedding the same number of chunk and sentence texts alone in one process (what ingest cannot go below).
Prints a Markdown table; writes JSON to eval/results/ingest_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.ingest.articles import read_article  # noqa: E402
from rag.ingest.chunk import split_sentences  # noqa: E402
from rag.ingest.clean import clean_article  # noqa: E402

SITES = ["kabarwarta.id", "beritanusa.com", "suarawarga.co.id", "harianpesisir.id", "lensakota.com"]
MONTHS = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember"]


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


def run_ingest(folder: Path, index_dir: Path) -> dict:
    """One `rag ingest` process: wall seconds, peak memory of the child, and its summary line."""
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rag", "ingest", str(folder), "--quiet"], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or not proc.stdout.startswith("added "):
        raise SystemExit(f"rag ingest failed ({proc.returncode}):\n{proc.stdout[-1000:]}\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(max(peak, before) / 1024),
            "summary": proc.stdout.splitlines()[0] if proc.stdout else ""}


def embed_alone(folder: Path) -> dict:
    """The baseline: embed the same chunk and sentence texts in one process, nothing else (child process)."""
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
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"embedding baseline failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    """Generate, ingest, change one file, ingest again, ingest with no change; print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--sentences", type=int, default=6, help="sentences per generated article")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    ap.add_argument("--no-baseline", action="store_true", help="skip embedding the texts alone")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="rag-ingest-bench-"))
    folder, index_dir = work / "articles", work / "index"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(index_dir, ignore_errors=True)
    t0 = time.perf_counter()
    chars = generate(folder, args.articles, args.sentences)
    gen_s = time.perf_counter() - t0
    load = os.getloadavg()
    print(f"generated {args.articles:,} articles in {gen_s:.0f} s", flush=True)
    first = run_ingest(folder, index_dir)
    print(f"first ingest: {first}", flush=True)
    size_mb = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 1e6
    one = next(iter(sorted(folder.rglob("*.txt"))))
    one.write_text(one.read_text(encoding="utf-8").replace("\n\nSumber:", " Kalimat tambahan untuk uji ulang.\n\n"
                                                           "Sumber:"), encoding="utf-8")
    changed = run_ingest(folder, index_dir)
    print(f"one file changed: {changed}", flush=True)
    unchanged = run_ingest(folder, index_dir)
    print(f"nothing changed: {unchanged}", flush=True)
    base = None if args.no_baseline else embed_alone(folder)
    m = re.search(r"(\d+) chunks \((\d+) embedded", first["summary"])
    chunks = int(m.group(1)) if m else None
    result = {"articles": args.articles, "sentences_per_article": args.sentences, "body_chars": chars,
              "generate_seconds": round(gen_s, 1), "first": first, "one_file_changed": changed,
              "no_change": unchanged, "index_mb": round(size_mb), "chunks": chunks, "embed_alone": base,
              "load_avg_before": [round(x, 2) for x in load], "load_avg_after": [round(x, 2) for x in os.getloadavg()]}
    out = ROOT / "eval/results/ingest_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"# Ingest of {args.articles:,} generated articles ({args.sentences} real sentences each)\n")
    print(f"load average before/after: {result['load_avg_before']} / {result['load_avg_after']}\n")
    print("| run | wall s | peak memory (child maxrss) | summary |\n|---|---|---|---|")
    for name, r in (("first ingest", first), ("one file changed", changed), ("nothing changed", unchanged)):
        print(f"| {name} | {r['seconds']} | {r['peak_rss_mb']} MB | {r['summary']} |")
    if chunks:
        print(f"\nfirst ingest: {chunks / first['seconds']:.1f} chunks/s end to end; index on disk {size_mb:.0f} MB")
    if base:
        alone = base["chunk_seconds"] + base["sentence_seconds"]
        print(f"baseline, embedding the same {base['chunks']:,} chunks + {base['sentences']:,} sentences alone: "
              f"{alone:.1f} s ({base['chunks'] / base['chunk_seconds']:.1f} chunks/s, "
              f"{base['sentences'] / base['sentence_seconds']:.1f} sentences/s); ingest / embedding alone = "
              f"{first['seconds'] / alone:.2f}")
    print(f"one-file re-ingest / first ingest = {changed['seconds'] / first['seconds']:.3f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
