"""Benchmarks: each measurement beside a baseline taken in the same run, as the median of several runs after a warm-up.

Usage (offline; builds its own temporary index of seeds/ unless --index-dir is given):

    .venv/bin/python -m rag.evaluation.benchmark [--quick] [--out eval/bench-results] [--generator NAME]
        [--sizes 10000,100000] [--index-dir DIR] [--skip ingest,retrieval,answer,cold_start,first_question]

(`.venv/bin/python eval/benchmark.py` runs the same thing.)

What is measured (ours | baseline):
- answer: full ask path (`Assistant.ask_stream`) | the same loaded llama.cpp model called directly with the identical
  prompt (`rag.answer.prompt.build_messages` on the same passages, same max_tokens/temperature/sampling); the KV
  cache is reset before every call so neither side reuses the other's prompt. Time to first token, total, tokens/s,
  prompt size.
- retrieval on the seed index and on synthetic collections (random unit vectors + texts drawn from the seed
  vocabulary, built in memory, never written): dense (FAISS) | numpy dot product + argpartition; lexical (bm25s) |
  the same BM25 weights as a sparse matrix, column sum + argpartition; fused (`rag.answer.retrieve.retrieve`, incl.
  query embedding, merging and the evidence check) | query embedding + the two brute-force searches + RRF.
- ingest (in a child process, cold, into a temporary index): chunks/s of `ingest()` | embedding the same chunk texts
  alone; no-change re-ingest | reading and hashing the files; peak memory (maxrss) | maxrss after loading the embedder.
- cold start: a `rag ask --json` process from start to its answer | the same question in this warm process.
- first question: a new model context warmed up as the chat page and `rag serve` do (the instructions read at
  start-up) | the same without that, both asking the same question first; time to first token, prompt tokens read.

`--quick` runs each measurement fewer times (a smoke run). Numbers from a shared CPU are noisy: see load_avg_* in
bench.json.
Results: a Markdown table on stdout, bench.md and bench.json in --out (rewritten after each part). A part that fails
is reported in the table and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.settings import PROJECT_ROOT, Settings  # noqa: E402

ANSWER_QUESTIONS = ["id-002", "en-001", "id-015"]  # answerable questions for the answer-latency runs
COLD_START_QUESTION = "id-014"


# ---------------------------------------------------------------- timing helpers


def median(xs: list[float]) -> float | None:
    """Median, None for no samples."""
    return statistics.median(xs) if xs else None


def repeat(fn: Callable[[], Any], runs: int, warmup: int = 1) -> list[float]:
    """Seconds of `runs` calls of fn after `warmup` discarded calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def per_query(fn: Callable[[Any], Any], queries: list[Any], runs: int, warmup: int = 1) -> list[float]:
    """Seconds per call of fn(query), over `runs` passes through the queries after `warmup` passes over a few."""
    for _ in range(warmup):
        for q in queries[:5]:
            fn(q)
    samples = []
    for _ in range(runs):
        for q in queries:
            t0 = time.perf_counter()
            fn(q)
            samples.append(time.perf_counter() - t0)
    return samples


def max_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- brute-force baselines


def numpy_dense_topk(matrix: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Exact inner-product top k by a numpy matrix-vector product and argpartition."""
    scores = matrix @ query
    k = min(k, len(scores))
    if not k:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top])]
    return [(int(i), float(scores[i])) for i in top]


def bm25_matrix(lexical: Any) -> Any:
    """The BM25 weights bm25s computed at indexing time, as a scipy CSC matrix (chunks x vocabulary)."""
    from scipy.sparse import csc_matrix

    s = lexical.bm25.scores
    return csc_matrix((s["data"], s["indices"], s["indptr"]), shape=(s["num_docs"], len(s["indptr"]) - 1))


def sparse_lexical_topk(matrix: Any, vocab: dict[str, int], query: str, k: int) -> list[tuple[int, float]]:
    """Brute-force BM25: sum the query terms' weight columns for every chunk, then argpartition."""
    from rag.backends.stores.lexical import analyze

    ids = [vocab[t] for t in analyze(query) if t in vocab]
    if not ids:
        return []
    scores = np.asarray(matrix[:, ids].sum(axis=1)).ravel()
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top])]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def numpy_fused(matrix: np.ndarray, bm25: Any, vocab: dict[str, int], embedder: Any, query: str,
                settings: Settings) -> list[tuple[int, float]]:
    """Baseline fused retrieval: embed the query, both brute-force searches, reciprocal rank fusion."""
    from rag.answer.retrieve import rrf

    dense = numpy_dense_topk(matrix, embedder.embed_query(query), settings.candidates)
    lexical = sparse_lexical_topk(bm25, vocab, query, settings.candidates)
    return rrf([[p for p, _ in dense], [p for p, _ in lexical]], [settings.dense_weight, settings.lexical_weight],
               settings.rrf_k)[: settings.top_k]


def overlap(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> float:
    """Share of b's ids also in a (1.0 when both are empty)."""
    ids_a, ids_b = {i for i, _ in a}, {i for i, _ in b}
    return len(ids_a & ids_b) / len(ids_b) if ids_b else float(not ids_a)


# ---------------------------------------------------------------- synthetic collections


def seed_vocabulary(index: Any) -> tuple[list[str], np.ndarray]:
    """Words of the seed chunks and their relative frequencies (for Indonesian-ish synthetic texts)."""
    import re
    from collections import Counter

    counts = Counter(w for c in index.chunks for w in re.findall(r"[^\W_]+", c.text))
    words = list(counts)
    freq = np.array([counts[w] for w in words], dtype=np.float64)
    return words, freq / freq.sum()


def synthetic_texts(n_chunks: int, words: list[str], probs: np.ndarray, dim: int, seed: int = 0,
                    chunk_words: int = 100) -> tuple[list[str], np.ndarray]:
    """n_chunks texts sampled from the seed vocabulary and as many random unit vectors (the synthetic collection)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n_chunks, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    lengths = rng.integers(chunk_words // 2, chunk_words * 3 // 2, size=n_chunks)
    picks = rng.choice(len(words), size=int(lengths.sum()), p=probs)
    texts, at = [], 0
    for n in lengths:
        texts.append(" ".join(words[i] for i in picks[at : at + n]) + ".")
        at += n
    return texts, vectors


def synthetic_index(n_chunks: int, words: list[str], probs: np.ndarray, dim: int, seed: int = 0,
                    chunk_words: int = 100, chunks_per_doc: int = 10) -> Any:
    """An in-memory faiss_files.Index of n_chunks random unit vectors and texts sampled from the seed vocabulary."""
    from rag.backends.stores.faiss_files import Index
    from rag.types import Chunk, Document, Sentence

    texts, vectors = synthetic_texts(n_chunks, words, probs, dim, seed, chunk_words)
    docs, chunks = [], []
    for d in range(0, n_chunks, chunks_per_doc):
        aid = f"syn-{d // chunks_per_doc:06d}"
        parts, spans, pos = [], [], 0
        for t in texts[d : d + chunks_per_doc]:
            spans.append((pos, pos + len(t)))
            parts.append(t)
            pos += len(t) + 1
        text = "\n".join(parts)
        docs.append(Document(article_id=aid, source_file=f"/synthetic/{aid}.txt", title=f"Synthetic {aid}", url=None,
                             date=None, date_source=None, site=None, text=text, content_hash=aid))
        chunks += [Chunk(f"{aid}#{j}", aid, a, b, text[a:b]) for j, (a, b) in enumerate(spans)]
    meta = {"fingerprint": {"dim": dim}, "articles": len(docs), "chunks": len(chunks)}
    sentences = [Sentence(c.article_id, c.start, c.end) for c in chunks]  # each synthetic chunk is one sentence
    return Index.build(docs, chunks, vectors, meta, sentences, vectors), vectors


# ---------------------------------------------------------------- benchmarks


def bench_retrieval(name: str, index: Any, matrix: np.ndarray, embedder: Any, queries: list[str],
                    settings: Settings, runs: int) -> dict[str, Any]:
    """Dense, lexical and fused retrieval latency on one collection, each beside its brute-force baseline."""
    from rag.answer.retrieve import retrieve

    k = settings.candidates
    vectors = [embedder.embed_query(q) for q in queries]
    bm25, vocab = bm25_matrix(index.lexical), index.lexical.bm25.vocab_dict
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    dense_agree = statistics.mean(overlap(index.dense_search(v, k), numpy_dense_topk(matrix, v, k)) for v in vectors)
    lex_agree = statistics.mean(overlap(index.lexical.search(q, k), sparse_lexical_topk(bm25, vocab, q, k))
                                for q in queries)
    rows = {
        "dense": (per_query(lambda v: index.dense_search(v, k), vectors, runs),
                  per_query(lambda v: numpy_dense_topk(matrix, v, k), vectors, runs), dense_agree),
        "lexical": (per_query(lambda q: index.lexical.search(q, k), queries, runs),
                    per_query(lambda q: sparse_lexical_topk(bm25, vocab, q, k), queries, runs), lex_agree),
        "fused": (per_query(lambda q: retrieve(index, embedder, q, settings), queries, runs),
                  per_query(lambda q: numpy_fused(matrix, bm25, vocab, embedder, q, settings), queries, runs), None),
    }
    return {
        "collection": name, "chunks": len(index.chunks), "queries": len(queries), "runs": runs,
        **{kind: {"ours_ms": median(a) * 1000, "baseline_ms": median(b) * 1000,
                  "ours_p95_ms": float(np.percentile(a, 95)) * 1000, "top_k_agreement": agree}
           for kind, (a, b, agree) in rows.items()},
    }


def ingest_child(index_dir: str, seeds: str) -> None:
    """Run in a fresh process: cold ingest, embed-only baseline, no-change re-ingest; print one JSON line."""
    from rag.ingest.articles import find_article_files, read_article
    from rag.backends.factory import make_embedder, make_store
    from rag.ingest.run import ingest
    from rag.backends.stores.faiss_files import Index

    started = time.perf_counter()
    s = Settings(index_dir=Path(index_dir))
    t0 = time.perf_counter()
    embedder = make_embedder(s)
    load_s = time.perf_counter() - t0
    rss_models = max_rss_mb()
    report = ingest([Path(seeds)], s, make_store(s), make_embedder(s), progress=False)
    rss_ingest = max_rss_mb()
    texts = [c.text for c in Index.load(s.index_dir).chunks]
    t0 = time.perf_counter()
    embedder.embed_passages(texts)
    embed_s = time.perf_counter() - t0
    again = ingest([Path(seeds)], s, make_store(s), make_embedder(s), progress=False)
    files, _ = find_article_files([Path(seeds)])
    t0 = time.perf_counter()
    for f in files:
        read_article(f)
    read_s = time.perf_counter() - t0
    print(json.dumps({
        "chunks": report.chunks, "articles": report.articles, "embedder_load_s": load_s, "ingest_s": report.seconds,
        "embed_only_s": embed_s, "reingest_s": again.seconds, "reingest_wrote": again.wrote_index,
        "read_hash_s": read_s, "rss_models_mb": rss_models, "rss_peak_mb": rss_ingest,
        "in_process_s": time.perf_counter() - started,
    }))


def bench_ingest(seeds: Path, runs: int, warmup: int, keep: Path | None) -> dict[str, Any]:
    """Cold ingest of the seeds in child processes (fresh temp index each); the last index is kept in `keep`."""
    samples = []
    for i in range(warmup + runs):
        last = i == warmup + runs - 1
        target = keep if (keep is not None and last) else Path(tempfile.mkdtemp(prefix="bench-ingest-"))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "rag.evaluation.benchmark", "--child-ingest", str(target),
                               str(seeds)],
                              capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - t0
        if target != keep:
            shutil.rmtree(target, ignore_errors=True)
        if proc.returncode:
            raise RuntimeError(f"ingest child failed:\n{proc.stderr[-2000:]}")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        data["process_wall_s"] = wall
        if i >= warmup:
            samples.append(data)
    med = lambda key: median([d[key] for d in samples])  # noqa: E731
    chunks = samples[0]["chunks"]
    return {
        "runs": runs, "warmup": warmup, "chunks": chunks, "articles": samples[0]["articles"],
        "process_wall_s": med("process_wall_s"), "embedder_load_s": med("embedder_load_s"),
        "ingest_s": med("ingest_s"), "chunks_per_s": chunks / med("ingest_s"),
        "embed_only_chunks_per_s": chunks / med("embed_only_s"),
        "reingest_s": med("reingest_s"), "reingest_wrote_index": samples[-1]["reingest_wrote"],
        "read_hash_s": med("read_hash_s"), "rss_peak_mb": med("rss_peak_mb"), "rss_models_mb": med("rss_models_mb"),
        "samples": samples,
    }


def exact_prompt_tokens(llm: Any, messages: list[dict[str, str]]) -> int | None:
    """Prompt length in tokens after the model's own chat template (None when the template is unavailable)."""
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llm.metadata["tokenizer.chat_template"]
        prompt = Jinja2ChatFormatter(template=template, eos_token="", bos_token="")(messages=messages).prompt
        return len(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
    except Exception:  # noqa: BLE001 - an optional detail
        return None


def direct_llama(generator: Any, messages: list[dict[str, str]], settings: Settings) -> dict[str, float]:
    """The baseline: the same llama.cpp object, same prompt and sampling as Generator.stream, nothing else."""
    with generator.lock:
        generator.llm.reset()  # no prompt reuse from the previous call
        t0 = time.perf_counter()
        first, pieces = None, []
        for chunk in generator.llm.create_chat_completion(
            messages=messages, max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=0.9,
            repeat_penalty=1.1, stream=True, seed=0,
        ):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                first = first or time.perf_counter() - t0
                pieces.append(piece)
        total = time.perf_counter() - t0
    tokens = generator.count_tokens("".join(pieces).strip())
    return {"first_token_s": first or total, "total_s": total, "tokens": tokens,
            "tokens_per_s": tokens / (total - first) if first and total > first else None}


def ask_path(assistant: Any, question: str, max_tokens: int | None = None) -> tuple[dict[str, float], Any]:
    """Our side: the full ask path as the CLI/UI use it, timed from the caller (KV cache reset first)."""
    from rag.backends.factory import make_generator
    from rag.answer.events import Done, Token

    make_generator(assistant.settings).llm.reset()
    t0 = time.perf_counter()
    first, result = None, None
    for event in assistant.ask_stream(question, max_tokens=max_tokens):
        if isinstance(event, Token) and first is None:
            first = time.perf_counter() - t0
        elif isinstance(event, Done):
            result = event.result
    total = time.perf_counter() - t0
    tokens = result.generated_tokens
    return {"first_token_s": first or total, "total_s": total, "tokens": tokens,
            "retrieval_s": result.timings.retrieval,
            "tokens_per_s": tokens / (total - first) if first and total > first else None}, result


def bench_answer(assistant: Any, questions: list[str], runs: int, warmup: int) -> dict[str, Any]:
    """Full ask path vs direct llama.cpp on the identical prompt, interleaved, per question and run."""
    from rag.backends.factory import make_generator
    from rag.answer.prompt import build_messages

    generator = make_generator(assistant.settings)
    settings = assistant.settings
    for _ in range(warmup):  # a short answer: loads pages and buffers of both models without a full generation
        ask_path(assistant, questions[0], max_tokens=8)
    from rag.evaluation import baseline as naive_recipe

    ours, base, naive, prompts = [], [], [], []
    for _ in range(runs):
        for q in questions:
            o, result = ask_path(assistant, q)
            if result.refused and not result.timings.first_token:
                raise RuntimeError(f"{q!r} was refused before generation; pick an answerable question")
            messages = build_messages(result.question, result.passages, result.language, settings.prompt_style)
            b = direct_llama(generator, messages, settings)
            # The naive recipe (PrivateGPT 0.6's default) on the same model: its own retrieval and prompt.
            t0 = time.perf_counter()
            naive_messages = naive_recipe.build_messages(q, naive_recipe.window_passages(
                assistant.index, assistant.embedder, q))
            retrieval = time.perf_counter() - t0
            n = direct_llama(generator, naive_messages, settings)
            n["prompt_tokens"] = exact_prompt_tokens(generator.llm, naive_messages)
            n["first_token_s"] += retrieval
            n["total_s"] += retrieval
            ours.append(o)
            base.append(b)
            naive.append(n)
            prompts.append({"approx": result.prompt_tokens, "exact": exact_prompt_tokens(generator.llm, messages)})
            b["prompt_tokens_per_s"] = (prompts[-1]["exact"] or 0) / b["first_token_s"] if b["first_token_s"] else None
    med = lambda xs, key: median([x[key] for x in xs if x.get(key) is not None])  # noqa: E731
    return {
        "questions": len(questions), "runs": runs, "warmup": warmup, "generator": settings.generator,
        "max_tokens": settings.max_tokens,
        "ours": {k: med(ours, k) for k in ("first_token_s", "total_s", "tokens", "tokens_per_s", "retrieval_s")},
        "baseline": {k: med(base, k) for k in ("first_token_s", "total_s", "tokens", "tokens_per_s",
                                               "prompt_tokens_per_s")},
        "naive": {k: med(naive, k) for k in ("first_token_s", "total_s", "tokens", "prompt_tokens")},
        "prompt_tokens": median([p["exact"] or p["approx"] for p in prompts]),
        "overhead_ratio": med(ours, "total_s") / med(base, "total_s"),
        "samples": {"ours": ours, "baseline": base, "naive": naive, "prompts": prompts},
    }


def bench_cold_start(assistant: Any, question: str, runs: int, warmup: int) -> dict[str, Any]:
    """`rag ask --json` in a new process (start to answer) vs the same question in this warm process."""
    from rag.backends.factory import make_generator

    s = assistant.settings
    rag_script = Path(sys.executable).parent / "rag"
    cmd = [str(rag_script)] if rag_script.exists() else [sys.executable, "-m", "rag"]
    cmd += ["--index-dir", str(s.index_dir), "--generator", s.generator, "ask", "--json", question]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_MAX_TOKENS": str(s.max_tokens), "RAG_TOP_K": str(s.top_k)}
    cold = []
    for i in range(warmup + runs):
        with tempfile.TemporaryFile("w+") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=PROJECT_ROOT)
            line = proc.stdout.readline() if proc.stdout else ""
            wall = time.perf_counter() - t0
            proc.communicate()
            if proc.returncode or not line:
                err.seek(0)
                raise RuntimeError(f"cold-start child failed ({proc.returncode}):\n{err.read()[-2000:]}")
        inner = json.loads(line)["timings"]["total"]
        if i >= warmup:
            cold.append({"wall_s": wall, "answer_s": inner, "startup_s": wall - inner})
    warm = []
    for _ in range(runs):
        make_generator(s).llm.reset()
        t0 = time.perf_counter()
        assistant.ask(question)
        warm.append(time.perf_counter() - t0)
    return {
        "runs": runs, "warmup": warmup, "question": question,
        "cold_wall_s": median([c["wall_s"] for c in cold]), "cold_startup_s": median([c["startup_s"] for c in cold]),
        "warm_s": median(warm), "samples": {"cold": cold, "warm": warm},
    }


def first_question(settings: Settings, question: str, prime: bool) -> dict[str, float]:
    """A new assistant on a model context of its own, warmed up (with or without reading the instructions), asks
    its first question: seconds to the first token from the caller, prompt tokens read and reused."""
    import gc

    from rag.answer.events import Done, Token
    from rag.assemble import make_assistant

    assistant = make_assistant(settings, own_generator=True)
    t0 = time.perf_counter()
    assistant.warm_up(prime=prime)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    first, result = None, None
    for event in assistant.ask_stream(question, gate=False):  # timed to the first token whatever the gate says
        if isinstance(event, Token) and first is None:
            first = time.perf_counter() - t0
        elif isinstance(event, Done):
            result = event.result
    if result is None or first is None:
        raise RuntimeError(f"{question!r} was refused before generation; pick an answerable question")
    read = result.prompt_tokens - result.cached_prompt_tokens
    reading = first - result.timings.retrieval  # seconds from the end of retrieval to the first token
    del assistant
    gc.collect()  # the context's KV cache goes before the next one is made
    return {"warm_up_s": warm, "first_token_s": first, "prompt_tokens": result.prompt_tokens,
            "reused_tokens": result.cached_prompt_tokens, "read_tokens": read,
            "prompt_tokens_per_s": read / reading if reading > 0 else None}


def bench_first_question(settings: Settings, questions: list[str], runs: int) -> dict[str, Any]:
    """The first question after start-up, with the instructions read at warm-up (ours) or not (baseline),
    alternating which goes first so a drifting CPU favours neither."""
    ours: list[dict[str, float]] = []
    base: list[dict[str, float]] = []
    for r in range(runs):
        for i, q in enumerate(questions):
            for prime in ((True, False) if (r + i) % 2 == 0 else (False, True)):
                (ours if prime else base).append(first_question(settings, q, prime))
    keys = ("warm_up_s", "first_token_s", "prompt_tokens", "reused_tokens", "read_tokens", "prompt_tokens_per_s")
    med = lambda xs: {k: median([x[k] for x in xs if x[k] is not None]) for k in keys}  # noqa: E731
    return {"questions": len(questions), "runs": runs, "ours": med(ours), "baseline": med(base),
            "samples": {"ours": ours, "baseline": base}}


# ---------------------------------------------------------------- report


def _f(v: Any, unit: str = "", digits: int = 2) -> str:
    return "–" if v is None else f"{v:,.{digits}f}{unit}"


def _ratio(a: Any, b: Any) -> str:
    return "–" if not a or not b else f"{a / b:.2f}×"


def markdown_table(res: dict[str, Any]) -> str:
    """The results as one Markdown table: measurement, ours, baseline, ratio, runs, notes."""
    rows: list[list[str]] = []
    if "answer" in res:
        a = res["answer"]
        o, b = a["ours"], a["baseline"]
        n = f"{a['runs']}×{a['questions']}q"
        note = (f"{a['generator']}, prompt ≈{_f(a['prompt_tokens'], '', 0)} tok, "
                f"~{_f(o['tokens'], '', 0)} tok generated")
        rows += [
            ["answer: total (ask path vs direct llama.cpp)", _f(o["total_s"], " s"), _f(b["total_s"], " s"),
             _ratio(o["total_s"], b["total_s"]), n, note],
            ["answer: time to first token", _f(o["first_token_s"], " s"), _f(b["first_token_s"], " s"),
             _ratio(o["first_token_s"], b["first_token_s"]), n,
             f"ours includes retrieval ({_f(o['retrieval_s'], ' s')})"],
            ["answer: generated tokens/s", _f(o["tokens_per_s"], ""), _f(b["tokens_per_s"], ""),
             _ratio(o["tokens_per_s"], b["tokens_per_s"]), n, "higher is better"],
        ]
        if a.get("naive"):
            v = a["naive"]
            rows.append(["answer: time to first token (ask path vs the naive recipe)", _f(o["first_token_s"], " s"),
                         _f(v["first_token_s"], " s"), _ratio(o["first_token_s"], v["first_token_s"]), n,
                         f"naive prompt ≈{_f(v['prompt_tokens'], '', 0)} tok; both include retrieval; "
                         f"prompt processing ≈{_f(b.get('prompt_tokens_per_s'), '', 0)} tok/s"])
    for r in res.get("retrieval", []):
        n = f"{r['runs']}×{r['queries']}q"
        for kind, base in (("dense", "numpy dot+argpartition"), ("lexical", "sparse BM25 column sum"),
                           ("fused", "embed + brute force + RRF")):
            x = r[kind]
            agree = "" if x["top_k_agreement"] is None else f"; top-k agreement {x['top_k_agreement']:.2f}"
            rows.append([f"retrieval {kind}, {r['collection']} ({r['chunks']:,} chunks)", _f(x["ours_ms"], " ms"),
                         _f(x["baseline_ms"], " ms"), _ratio(x["ours_ms"], x["baseline_ms"]), n, base + agree])
    if "synthetic_build_s" in res:
        for size, secs in res["synthetic_build_s"].items():
            rows.append([f"build synthetic index in memory ({int(size):,} chunks)", _f(secs, " s"), "–", "–", "1",
                         "FAISS + BM25 (not timed against a baseline)"])
    if "ingest" in res:
        g = res["ingest"]
        n = f"{g['runs']}"
        rows += [
            [f"ingest: cold, chunks/s ({g['chunks']} chunks, {g['articles']} articles)", _f(g["chunks_per_s"], "/s", 1),
             _f(g["embed_only_chunks_per_s"], "/s", 1), _ratio(g["chunks_per_s"], g["embed_only_chunks_per_s"]), n,
             f"baseline: embedding alone; embedder load {_f(g['embedder_load_s'], ' s')}, "
             f"process wall {_f(g['process_wall_s'], ' s', 1)}"],
            ["ingest: no-change re-ingest", _f(g["reingest_s"] * 1000, " ms"), _f(g["read_hash_s"] * 1000, " ms"),
             _ratio(g["reingest_s"], g["read_hash_s"]), n,
             f"baseline: read + hash the files; index rewritten: {g['reingest_wrote_index']}"],
            ["ingest: peak memory (maxrss)", _f(g["rss_peak_mb"], " MB", 0), _f(g["rss_models_mb"], " MB", 0),
             _ratio(g["rss_peak_mb"], g["rss_models_mb"]), n, "baseline: after loading the embedder"],
        ]
    if "cold_start" in res:
        c = res["cold_start"]
        rows.append(["cold start: new `rag ask --json` process to answer", _f(c["cold_wall_s"], " s"),
                     _f(c["warm_s"], " s"), _ratio(c["cold_wall_s"], c["warm_s"]), str(c["runs"]),
                     f"baseline: same question in a warm process; {_f(c['cold_startup_s'], ' s')} of the cold "
                     "time passed before the ask began (imports, settings); model loading happens inside the ask"])
    if "first_question" in res:
        f = res["first_question"]
        o, b = f["ours"], f["baseline"]
        n = f"{f['runs']}×{f['questions']}q"
        rows += [
            ["first question after start-up: time to first token", _f(o["first_token_s"], " s"),
             _f(b["first_token_s"], " s"), _ratio(o["first_token_s"], b["first_token_s"]), n,
             f"baseline: warm-up without reading the instructions; prompt ≈{_f(o['prompt_tokens'], '', 0)} tok, "
             f"{_f(o['reused_tokens'], '', 0)} / {_f(b['reused_tokens'], '', 0)} reused; prompt processing "
             f"≈{_f(o['prompt_tokens_per_s'], '', 0)} / {_f(b['prompt_tokens_per_s'], '', 0)} tok/s"],
            ["first question after start-up: warm-up", _f(o["warm_up_s"], " s"), _f(b["warm_up_s"], " s"),
             _ratio(o["warm_up_s"], b["warm_up_s"]), n, "model load plus, for ours, reading the instructions"],
        ]
    for name, error in res.get("errors", {}).items():
        rows.append([f"{name}: FAILED", "–", "–", "–", "–", error.replace("|", "/").replace("\n", " ")[:200]])
    header = ["measurement", "ours (median)", "baseline (median)", "ours/baseline", "runs", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


# ---------------------------------------------------------------- main


def load_eval_questions() -> dict[str, Any]:
    """The evaluation questions by id (their texts are the benchmark queries)."""
    from rag.evaluation.questions import DEFAULT_QUESTIONS, load_questions

    return {q.id: q for q in load_questions(DEFAULT_QUESTIONS)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the Markdown table, write bench.md and bench.json."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "eval" / "bench-results")
    p.add_argument("--generator", default=None, help="generator to benchmark (default: the configured one)")
    p.add_argument("--index-dir", type=Path, default=None, help="use this seed index instead of a fresh temp one")
    p.add_argument("--sizes", default="10000,100000", help="synthetic collection sizes in chunks")
    p.add_argument("--skip", default="",
                   help="comma-separated parts to skip: ingest,retrieval,answer,cold_start,first_question")
    p.add_argument("--child-ingest", nargs=2, metavar=("INDEX_DIR", "SEEDS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_ingest:
        ingest_child(*args.child_ingest)
        return 0

    from rag.backends.factory import make_embedder
    from rag.assemble import make_assistant

    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    quick = args.quick
    overrides: dict[str, Any] = {"generator": args.generator} if args.generator else {}
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = Settings(index_dir=args.index_dir or tmp / "index", **overrides)
    res: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": quick, "load_avg_start": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {k: str(v) for k, v in settings.model_dump().items()}, "errors": {},
    }

    def section(name: str, fn: Callable[[], Any]) -> None:
        """Run one benchmark; a failure is recorded and reported, the others still run; results saved each time."""
        if name in skip:
            return
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            res[name] = fn()
        except Exception as e:  # noqa: BLE001 - one broken benchmark must not lose the others
            res["errors"][name] = f"{type(e).__name__}: {e}"
            print(f"[bench] {name} failed: {res['errors'][name]}", file=sys.stderr, flush=True)
        write_outputs(args.out, res)

    try:
        section("ingest", lambda: bench_ingest(settings.seeds_dir, runs=1 if quick else 3, warmup=0 if quick else 1,
                                               keep=None if args.index_dir else settings.index_dir))
        assistant = make_assistant(settings)
        if not args.index_dir and "ingest" not in res:  # skipped or failed: still need a seed index
            assistant.ingest([settings.seeds_dir], progress=False)
        questions = load_eval_questions()
        embedder = make_embedder(settings)
        queries = [q.question for q in questions.values()][: 24 if quick else None]
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
        section("retrieval", lambda: bench_all_retrieval(assistant, embedder, queries, sizes, settings,
                                                         runs=1 if quick else 3, res=res))
        if not {"answer", "cold_start"} <= skip:
            assistant.warm_up()
        ids = ANSWER_QUESTIONS[:1] if quick else ANSWER_QUESTIONS
        section("answer", lambda: bench_answer(assistant, [questions[i].question for i in ids],
                                               runs=1 if quick else 2, warmup=1))
        section("cold_start", lambda: bench_cold_start(assistant, questions[COLD_START_QUESTION].question,
                                                       runs=1 if quick else 3, warmup=0 if quick else 1))
        section("first_question", lambda: bench_first_question(
            settings, [questions[i].question for i in ids], runs=1 if quick else 3))
    finally:
        if not args.index_dir:
            shutil.rmtree(tmp, ignore_errors=True)
    res["load_avg_end"] = os.getloadavg()
    write_outputs(args.out, res)
    print(markdown_table(res))
    return 1 if res["errors"] else 0


def bench_all_retrieval(assistant: Any, embedder: Any, queries: list[str], sizes: list[int], settings: Settings,
                        runs: int, res: dict[str, Any]) -> list[dict[str, Any]]:
    """Retrieval on the seed index, then on synthetic collections of the given sizes (built in memory)."""
    index = assistant.index
    rows = [bench_retrieval("seeds", index, index.all_vectors(), embedder, queries, settings, runs)]
    words, probs = seed_vocabulary(index)
    res["synthetic_build_s"] = {}
    for size in sizes:
        t0 = time.perf_counter()
        syn, matrix = synthetic_index(size, words, probs, embedder.dim)
        res["synthetic_build_s"][str(size)] = time.perf_counter() - t0
        rows.append(bench_retrieval("synthetic", syn, matrix, embedder, queries, settings, runs))
        del syn, matrix
    return rows


def write_outputs(out: Path, res: dict[str, Any]) -> None:
    """bench.json (everything) and bench.md (the table) in out."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")
    load = res.get("load_avg_end") or os.getloadavg()
    (out / "bench.md").write_text(
        f"# Benchmarks ({res['started']}{', quick' if res['quick'] else ''})\n\n{markdown_table(res)}\n\n"
        f"{res['machine']['cpus']} CPUs; load average at start {res['load_avg_start'][0]:.2f}, "
        f"at end {load[0]:.2f}.\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
