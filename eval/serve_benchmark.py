"""`rag ask` cold (a new process loads the index and models) against `rag ask` through a running `rag serve`.

    .venv/bin/python eval/serve_benchmark.py [--runs 5] [--generator qwen2.5-coder-1.5b]

Same questions, same index, same models, side by side in one run; prints the wall time per question (median and
spread over the runs) and writes eval/results/serve_benchmark.md. The server is started and stopped here.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?",
    "What did Indonesia and Vietnam agree on in Labuan Bajo?",
    "Berapa harga cabai rawit di pasar Bandung hari ini?",  # refused on weak evidence: no generation
]


def free_port() -> int:
    """An unused localhost port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(question: str, env: dict[str, str], *flags: str) -> tuple[float, dict]:
    """Wall time of one `rag ask --json` process and its result."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "rag", "ask", "--json", *flags, question], env=env,
                       capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, json.loads(r.stdout)


def main() -> int:
    """Run both ways, print and write the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--generator", default=None, help="default: the configured generator")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "serve_benchmark.md")
    args = ap.parse_args()
    port = free_port()
    env = {**os.environ, "RAG_SERVER": "", "RAG_SERVER_PORT": str(port)}
    if args.generator:
        env["RAG_GENERATOR"] = args.generator
    server = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
            if server.poll() is not None:
                sys.exit("rag serve did not start")
        startup = time.perf_counter() - t0
        rows = []
        for q in QUESTIONS:
            cold, served, in_server = [], [], []
            for _ in range(args.runs):
                s, _r = ask(q, env, "--local")
                cold.append(s)
                s, r = ask(q, env)
                served.append(s)
                in_server.append(r["timings"]["total"])
            rows.append((q, cold, served, in_server, r["refused"]))
            print(f"{q[:60]:60}  cold {statistics.median(cold):6.1f} s  server {statistics.median(served):6.1f} s",
                  flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    def cell(xs: list[float]) -> str:
        return f"{statistics.median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})"

    lines = [
        f"# `rag ask`: cold process against a running `rag serve` ({args.runs} runs each, "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)",
        "",
        f"Server start-up (index and models loaded, once): {startup:.1f} s. Times are wall seconds per question, "
        "median (min–max); 'in server' is the answer's own total inside the server process.",
        "",
        "| question | cold `rag ask --local` | `rag ask` via server | speed-up | in server | refused |",
        "|---|---|---|---|---|---|",
    ]
    for q, cold, served, in_server, refused in rows:
        ratio = statistics.median(cold) / statistics.median(served)
        lines.append(f"| {q} | {cell(cold)} | {cell(served)} | {ratio:.1f}× | {cell(in_server)} | {refused} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
