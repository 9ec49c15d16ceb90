"""Evaluation: run a question set through the ask path and score retrieval, answers, citations, refusals and speed.

`run_cli` is `rag eval`: the plain run writes results.jsonl, summary.json, report.md and charts; --ablation and
--baseline hand over to ablation.py; --from-logs rebuilds an ablation table without generating.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rag.errors import BadInputError, RagError
from rag.evaluation.charts import plot_charts
from rag.evaluation.metrics import RETRIEVAL_K, article_ranking
from rag.evaluation.questions import DEFAULT_QUESTIONS, Question, load_questions
from rag.evaluation.report import screen_summary, write_report
from rag.evaluation.scoring import result_row
from rag.evaluation.summary import problems, question_quality, summarise, worst
from rag.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from rag.answer.assistant import Assistant

DEFAULT_OUT = PROJECT_ROOT / "eval" / "results"


def run_questions(
    assistant: Assistant, questions: list[Question], top_k: int,
    on_row: Callable[[dict[str, Any]], None] | None = None, progress: bool = True,
) -> list[dict[str, Any]]:
    """Ask every question (errors recorded per question) and score it; on_row(row) is called as each finishes."""
    from tqdm import tqdm

    rows = []
    for q in tqdm(questions, desc="eval", unit="q", file=sys.stderr, disable=not progress, dynamic_ncols=True):
        result = ranking = error = elapsed = None
        try:
            t0 = time.perf_counter()
            found = assistant.retrieve(q.question, top_k=max(RETRIEVAL_K, top_k))
            elapsed = round(time.perf_counter() - t0, 4)
            ranking = article_ranking(found.passages)
            result = assistant.ask(q.question, top_k=top_k)
        except RagError as e:
            error = e.message
        row = result_row(q, result, ranking, error, elapsed)
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """`rag eval`: run the question set, write report.md, results.jsonl, summary.json and charts; print a summary."""
    from rag.assemble import make_assistant

    if args.from_logs:
        return _table_from_logs(args, settings)

    out = Path(args.out or DEFAULT_OUT)
    if getattr(args, "benchmark", None):
        path = Path(args.benchmark[1])
        questions, settings = benchmark_questions(args, settings)
    else:
        path = Path(args.questions or DEFAULT_QUESTIONS)
        questions = load_questions(path)
        if args.limit is not None:
            if args.limit < 1:
                raise BadInputError(f"--limit must be at least 1, not {args.limit}")
            questions = questions[: args.limit]
    top_k = args.top_k or settings.top_k
    if args.ablation or args.baseline:
        return _run_comparison(args, settings, questions, out)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    t0 = time.perf_counter()

    assistant = make_assistant(settings)
    known = assistant.index.article_ids()
    missing = sorted({a for q in questions for a in q.gold_articles} - known)
    if missing:
        print(f"warning: {len(missing)} gold article id(s) are not in the index {settings.index_dir}: "
              f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} (their retrieval scores will be 0)",
              file=sys.stderr)
    t_warm = time.perf_counter()
    assistant.warm_up()
    warm_up_s = time.perf_counter() - t_warm

    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    with open(results_path, "w", encoding="utf-8") as results:
        def write(row: dict[str, Any]) -> None:
            line = json.dumps(row, ensure_ascii=False)
            results.write(line + "\n")
            results.flush()
            if args.json:
                print(line, flush=True)

        rows = run_questions(assistant, questions, top_k, on_row=write)

    summary = summarise(rows)
    summary["run"] = {
        "started": started, "questions_file": str(path), "generator": settings.generator,
        "embedder": settings.embedder, "index_dir": str(settings.index_dir), "top_k": top_k,
        "retrieval_k": max(RETRIEVAL_K, top_k), "max_tokens": settings.max_tokens,
        "temperature": settings.temperature, "limit": args.limit, "warm_up_s": round(warm_up_s, 2),
        "wall_s": round(time.perf_counter() - t0, 2),
    }
    charts = plot_charts(out, summary, rows)
    summary["charts"] = charts
    summary["worst"] = [{"id": r["id"], "quality": question_quality(r), "problems": problems(r)} for r in worst(rows)]
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    write_report(out, summary, rows, charts)
    print(screen_summary(summary, out), file=sys.stderr if args.json else sys.stdout, flush=True)
    return 0


def benchmark_questions(args: argparse.Namespace, settings: Settings) -> tuple[list[Question], Settings]:
    """`--benchmark facqa FILE`: the split's passages indexed in their own folder, and its questions with gold ids."""
    import hashlib

    from rag.assemble import make_assistant
    from rag.evaluation.facqa import build_benchmark, read_facqa, with_article_ids
    from rag.ingest.run import check_compatible

    name, file = args.benchmark
    if name != "facqa":
        raise BadInputError(f"unknown benchmark {name!r}", "the benchmark available is: facqa")
    bench = build_benchmark(read_facqa(Path(file)), args.unanswerable or 0, args.limit)
    key = hashlib.sha1("\n".join(bench.passages.values()).encode("utf-8")).hexdigest()[:10]
    folder = settings.index_dir.parent / "benchmarks" / f"facqa-{key}"
    local = settings.model_copy(update={"index_dir": folder / "index"})
    ids = bench.write_jsonl(folder / "facqa.jsonl")
    assistant = make_assistant(local)
    try:
        check_compatible(assistant.store, local)
        rebuild = False
    except RagError:  # built by another version or with other models: the benchmark's own index is rebuilt
        rebuild = True
    report = assistant.ingest([folder / "facqa.jsonl"], rebuild=rebuild, progress=False)
    canonical = {d.article_id: d.duplicate_of for d in assistant.store.documents().values() if d.duplicate_of}
    ids = {pid: [aid] + ([canonical[aid]] if aid in canonical else []) for pid, aid in ids.items()}
    print(f"benchmark facqa: {len(bench.passages)} passages indexed in {local.index_dir} "
          f"({len(report.added) + len(report.updated)} embedded now); {sum(q.answerable for q in bench.questions)} "
          f"answerable and {sum(not q.answerable for q in bench.questions)} unanswerable questions", file=sys.stderr)
    return with_article_ids(bench.questions, ids), local


def parse_modes(text: str) -> list[tuple[str, str]]:
    """Parse --modes "chunks/numbered,sentences/plain" into evidence/prompt pairs, refusing unknown ones."""
    from rag.evaluation.ablation import MODES

    pairs = [tuple(part.strip().split("/", 1)) for part in text.split(",") if part.strip()]
    bad = ["/".join(p) for p in pairs if p not in MODES]
    if bad or not pairs:
        known = ", ".join("/".join(m) for m in MODES)
        raise BadInputError(f"unknown ablation mode: {', '.join(bad) if bad else repr(text)}", f"choose from {known}")
    return pairs  # type: ignore[return-value]


def _run_comparison(args: argparse.Namespace, settings: Settings, questions: list[Question], out: Path) -> int:
    """`rag eval --ablation` (every technique on and off, plus the baseline) or `--baseline naive` (default vs it)."""
    from rag.evaluation import ablation

    chosen = ablation.variants(settings, parse_modes(args.modes) if args.modes else None)
    if not args.ablation:
        chosen = [chosen[0], chosen[-1]]  # the baseline and the configured default
    result = ablation.run(settings, questions, chosen, out, progress=not args.json)
    print(ablation.render(result), flush=True)
    print(f"table: {out / 'ablation.md'}", file=sys.stderr)
    return 0


def _table_from_logs(args: argparse.Namespace, settings: Settings) -> int:
    """`rag eval --from-logs A.jsonl B.jsonl`: one table from earlier comparison runs, gate rows re-decided."""
    from rag.evaluation import ablation
    from rag.assemble import make_assistant

    logs = [Path(x) for x in args.from_logs]
    missing = [str(x) for x in logs if not x.is_file()]
    if missing:
        raise BadInputError(f"no such ablation log: {', '.join(missing)}", "give ablation.jsonl files from rag eval --ablation")
    policy = make_assistant(settings).policy
    only = load_questions(Path(args.questions)) if args.questions else None
    table = ablation.table_from_logs(logs, policy, only)
    n = next(iter(table.values()))
    n = n["n_answerable"] + n["n_unanswerable"]
    result = {"questions": n, "wall_s": 0.0, "table": table, "policy": policy.__dict__}
    out = Path(args.out or DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "ablation.md").write_text(ablation.render(result), encoding="utf-8")
    print(ablation.render(result), flush=True)
    return 0
