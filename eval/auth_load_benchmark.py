"""Ten clients with their own keys at once against one `rag serve` (keys on): wall time and time waiting for the
model, for the questions the model answers and for those refused without it, with this CPU's prompt tokens/s
printed beside them (the times scale with it).

    .venv/bin/python eval/auth_load_benchmark.py [--generator qwen2.5-coder-1.5b] [--rounds 1]

Builds a private index of seeds/ (or uses --index-dir as given, copied), makes eleven keys in it (ten readers and an
admin), starts the server, sends six questions that need the model and four it refuses without it (two off topic,
two in another language), all at once, `--rounds` times, and prints p50/p95/max. Writes
eval/results/auth_load_benchmark.md. Every request must come back 200 with the answer to its own question.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_server_access import GENERATED, REFUSED  # noqa: E402 - the same questions as the load test

PROMPT_WORDS = 380  # about 550 prompt tokens: the size of an answer's prompt (README: 536 median)


def free_port() -> int:
    """An unused localhost port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prompt_tokens_per_s(generator_name: str, runs: int = 3) -> float:
    """This CPU's prompt processing speed for the generator: the median of `runs` prompts of about 550 tokens."""
    from rag.backends.factory import make_generator
    from rag.settings import load_settings

    gen = make_generator(load_settings(generator=generator_name))
    llm = gen.llm
    words = (ROOT / "seeds" / "001_5588f0be4399d35c.txt").read_text(encoding="utf-8").split()
    text = " ".join((words * 4)[:PROMPT_WORDS])
    speeds = []
    for _ in range(runs):
        llm.reset()
        n = len(llm.tokenize(text.encode("utf-8"), add_bos=True))
        t0 = time.perf_counter()
        llm.create_completion(text, max_tokens=1, temperature=0.0)
        speeds.append(n / (time.perf_counter() - t0))
    return statistics.median(speeds)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (linear between the nearest ranks)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def one_round(url: str, keys: dict[str, str]) -> list[dict[str, Any]]:
    """All ten questions at once, each from its own key; what each client saw."""
    jobs = [(f"r{i}", q, art, None) for i, (q, art) in enumerate(GENERATED)]
    jobs += [(f"r{6 + i}", q, None, reason) for i, (q, reason) in enumerate(REFUSED)]
    out: list[dict[str, Any]] = []
    barrier = threading.Barrier(len(jobs))

    def run(key: str, question: str, article: str | None, reason: str | None) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        r = httpx.post(f"{url}/api/ask", json={"question": question}, headers={"Authorization": f"Bearer {keys[key]}"},
                       timeout=1800)
        wall = time.perf_counter() - t0
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        own = body.get("question") == question
        right = (body.get("refusal_reason") == reason) if reason else (
            bool(body.get("passages")) and body["passages"][0]["article_id"] == article)
        out.append({"key": key, "status": r.status_code, "wall": wall, "needs_model": reason is None,
                    "queue_wait": (body.get("timings") or {}).get("queue_wait"), "own": own, "right": right,
                    "refused": body.get("refused"), "first_token": (body.get("timings") or {}).get("first_token")})

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def summary(rows: list[dict[str, Any]], what: str) -> str:
    """One markdown table row: p50/p95/max of wall and queue wait."""
    walls = [r["wall"] for r in rows]
    waits = [r["queue_wait"] or 0.0 for r in rows]
    return (f"| {what} | {len(rows)} | {pct(walls, .5):.1f} | {pct(walls, .95):.1f} | {max(walls):.1f} | "
            f"{pct(waits, .5):.1f} | {pct(waits, .95):.1f} | {max(waits):.1f} |")


def main() -> int:
    """Set up, measure, print and write the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", default="qwen2.5-coder-1.5b")
    ap.add_argument("--index-dir", type=Path, default=None, help="an index to copy (default: build one of seeds/)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "auth_load_benchmark.md")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rag-authload-"))
    index = work / "index"
    env = {**os.environ, "RAG_INDEX_DIR": str(index), "RAG_GENERATOR": args.generator, "RAG_SERVER": "none",
           "RAG_UPLOADS_DIR": str(work / "uploads")}
    if args.index_dir:
        shutil.copytree(args.index_dir, index)
    else:
        subprocess.run([sys.executable, "-m", "rag", "ingest", "--quiet", str(ROOT / "seeds")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    from rag.access.keys import Keys
    from rag.backends.stores.faiss_files import FaissStore

    store_keys = Keys.of(FaissStore(index))
    keys = {f"r{i}": store_keys.add(f"r{i}", "reader") for i in range(10)}
    store_keys.add("admin", "admin")

    print(f"measuring prompt tokens/s of {args.generator} on this CPU ...", flush=True)
    tps_before = prompt_tokens_per_s(args.generator)
    print(f"prompt tokens/s: {tps_before:.0f}", flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(work / "serve.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    rows: list[dict[str, Any]] = []
    try:
        deadline = time.time() + 600
        while True:
            assert server.poll() is None, (work / "serve.log").read_text()[-2000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.5)
        for i in range(args.rounds):
            t0 = time.perf_counter()
            got = one_round(url, keys)
            print(f"round {i + 1}: {time.perf_counter() - t0:.1f} s", flush=True)
            rows += got
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    tps_after = prompt_tokens_per_s(args.generator)

    bad = [r for r in rows if r["status"] >= 500 or r["status"] != 200 or not r["own"] or not r["right"]]
    lines = [
        f"# {len(rows) // 10 * 10} requests, 10 clients with their own keys at once ({args.rounds} round(s)), "
        f"generator {args.generator}",
        "",
        f"CPU: prompt processing {tps_before:.0f} tokens/s before the run, {tps_after:.0f} after "
        f"(about 550-token prompts; {os.cpu_count()} cores). Times in seconds, from each client.",
        "",
        "| questions | n | wall p50 | wall p95 | wall max | queue wait p50 | queue wait p95 | queue wait max |",
        "|---|---|---|---|---|---|---|---|",
        summary([r for r in rows if r["needs_model"]], "need the model (answered one at a time)"),
        summary([r for r in rows if not r["needs_model"]], "refused without the model"),
        summary(rows, "all"),
        "",
        f"status codes: {sorted({r['status'] for r in rows})}; 5xx: {sum(r['status'] >= 500 for r in rows)}; "
        f"answers to another client's question: {sum(not r['own'] for r in rows)}; "
        f"wrong article or refusal reason: {sum(not r['right'] for r in rows)}",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n\n```json\n" + json.dumps(rows, indent=1) + "\n```\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
