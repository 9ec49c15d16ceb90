"""The written outputs of `rag eval`: report.md (tables, worst questions, methods) and the one-screen summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rag.evaluation.metrics import RETRIEVAL_K
from rag.evaluation.summary import GROUP_METRICS, problems, question_quality, worst


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _group_table(groups: dict[str, dict[str, Any]], label: str) -> str:
    header = [label, "n", "hit@1", "hit@3", "hit@5", "MRR", "nDCG@5", "F1", "key facts", "cit. valid",
              "cit. prec.", "refusal ok", "median s"]
    return _table(header, [[name, g["n"], *(g[k] for k in GROUP_METRICS), g["median_total_s"]]
                           for name, g in groups.items()])


METHODS = f"""\
## How each metric is computed

- **Retrieval (answerable questions with gold articles).** A separate retrieval-only call,
  `Assistant.retrieve(question, top_k=max({RETRIEVAL_K}, top_k))`, gives the passages in rank order, so
  hit@5 does not depend on how many passages the model was given. Passages are turned into an article
  ranking by keeping each article id at its first position. *hit@k* is 1 when a gold article is among
  the first k articles; *MRR* is 1/rank of the first gold article (0 when none is ranked); *nDCG@5* uses
  binary relevance (every gold article counts 1) over the ideal DCG of min(#gold, 5) gold articles.
- **Token F1 (answerable).** SQuAD-style F1 of the word multisets of the answer and `reference_answer`
  after NFKC + case folding, removing punctuation, `[n]` markers and the pipeline's "no valid citation"
  note, and dropping Indonesian (Sastrawi) and English stopwords (a text made only of stopwords keeps
  them). No stemming. A refused answer scores 0.
- **Key facts (answerable).** Share of `key_facts` found in the answer as case- and space-normalised
  substrings (unified dashes and quotes, markers removed); a fact that starts or ends with a digit must
  match whole numbers (`5` does not match `15`, `2025` or `5.000`). A refused answer scores 0.
- **Gold passage given (answerable, diagnostic).** Whether the normalised `gold_passage` is a substring of
  one of the passages the model received in the ask call; separates retrieval misses from answer failures
  (a gold passage split across two passages counts as not given).
- **Citation validity (answers that were not refused).** Markers in the raw model output that name a
  passage it was given, over all its markers: valid / (valid + invalid), where valid counts the `[n]`
  markers kept in the verified answer and invalid is `result.invalid_markers`. Reported per question
  (macro mean over questions that had markers) and micro-averaged over all markers.
- **Citation precision (answerable, at least one citation).** Share of the distinct cited articles that
  are gold articles; mean over questions. **With valid citation**: share of answered (not refused)
  answerable questions with at least one verified citation.
- **Refusals.** Refusal rate = share of unanswerable questions refused (target 1.0); false-refusal rate =
  share of answerable questions refused (target 0.0). A refusal is `result.refused` (weak evidence before
  generation, or the model said the passages do not contain the answer). *refusal ok* in the tables is
  the share of questions with the right behaviour (refused if and only if unanswerable).
- **Speed (from `result.timings` of the ask call).** retrieval; prompt = time to first token minus
  retrieval (prompt evaluation); generation = total minus time to first token; tokens/s =
  `generated_tokens` / generation time. Median and p95 over questions; questions refused before
  generation have no first-token time. Models are loaded (warm-up) before the first question.
- Questions whose ask raised an error are listed with the error and left out of every mean.
"""


def write_report(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]], charts: list[str]) -> Path:
    """Write report.md: run info, summary tables, per-type/per-language tables, speed, worst questions, methods."""
    r, a, c, f, sp = (summary[k] for k in ("retrieval", "answers", "citations", "refusals", "speed"))
    run = summary["run"]
    lines = [
        "# Evaluation report", "",
        f"{run['started']} · questions `{run['questions_file']}` · generator `{run['generator']}` · "
        f"embedder `{run['embedder']}` · top_k {run['top_k']} (retrieval metrics from top {run['retrieval_k']}) · "
        f"max_tokens {run['max_tokens']} · {summary['questions']} questions ({summary['answerable']} answerable, "
        f"{summary['unanswerable']} unanswerable, {summary['errors']} errors) · wall time {run['wall_s']:.0f} s "
        f"(model warm-up {run['warm_up_s']:.1f} s)", "",
        "## Summary", "",
        _table(["metric", "value", "target", "over"], [
            ["hit@1", r["hit@1"], "1.0", f"{r['n']} answerable"],
            ["hit@3", r["hit@3"], "1.0", ""],
            ["hit@5", r["hit@5"], "1.0", ""],
            ["MRR", r["mrr"], "1.0", ""],
            ["nDCG@5", r["ndcg@5"], "1.0", ""],
            ["token F1", a["token_f1"], "higher", f"{a['n']} answerable"],
            ["key facts found", a["key_facts"], "1.0", ""],
            ["gold passage given to the model", a["gold_passage_given"], "1.0", "diagnostic: retrieval vs answer"],
            ["citation validity (micro)", c["validity_micro"], "1.0",
             f"{c['valid_markers']} valid, {c['invalid_markers']} invalid markers"],
            ["citation validity (macro)", c["validity_macro"], "1.0", "answers with markers"],
            ["citation precision (gold articles)", c["precision"], "1.0", "answerable with citations"],
            ["answered with ≥1 valid citation", c["answered_with_valid_citation"], "1.0", "answered answerable"],
            ["refusal rate, unanswerable", f["refusal_rate_unanswerable"], "1.0", f"{f['n_unanswerable']} questions"],
            ["false-refusal rate, answerable", f["false_refusal_rate_answerable"], "0.0",
             f"{f['n_answerable']} questions"],
        ]), "",
        f"Refusals: {f['weak_evidence_refusals']} for weak evidence (before generation), "
        f"{f['model_refusals']} by the model.", "",
        "## Speed (seconds)", "",
        _table(["stage", "median", "p95", "n"], [
            [name, sp[key]["median"], sp[key]["p95"], sp[key]["n"]] for name, key in (
                ("retrieval", "retrieval_s"), ("prompt (to first token)", "prompt_s"),
                ("time to first token", "first_token_s"), ("generation", "generation_s"), ("total", "total_s"),
                ("generated tokens/s", "tokens_per_s"))
        ]), "",
        "## By question type", "", _group_table(summary["by_type"], "type"), "",
        "## By language", "", _group_table(summary["by_language"], "language"), "",
    ]
    if charts:
        lines += ["## Charts", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in charts] + [""]
    lines += ["## Worst questions", ""]
    bad = worst(rows)
    if not bad:
        lines.append("None: every question got full marks.")
    for row in bad:
        answer = re.sub(r"\s+", " ", row.get("answer") or "")[:240]
        lines += [
            f"- **{row['id']}** ({row['type']}, {row['question_language']}, quality "
            f"{question_quality(row):.2f}) {row['question']}",
            f"  - problems: {'; '.join(problems(row)) or '-'}",
            f"  - answer: {answer or '-'}",
            f"  - reference: {row['reference_answer'] or '-'}",
        ]
    lines += ["", METHODS]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def screen_summary(summary: dict[str, Any], out: Path) -> str:
    """The one-screen text summary printed at the end of a run."""
    r, a, c, f, sp = (summary[k] for k in ("retrieval", "answers", "citations", "refusals", "speed"))
    run = summary["run"]
    med = lambda k: _fmt(sp[k]["median"], 2)  # noqa: E731
    p95 = lambda k: _fmt(sp[k]["p95"], 2)  # noqa: E731
    lines = [
        f"Evaluated {summary['questions']} questions ({summary['answerable']} answerable, "
        f"{summary['unanswerable']} unanswerable, {summary['errors']} errors) with {run['generator']} "
        f"in {run['wall_s']:.0f} s",
        f"retrieval   hit@1 {_fmt(r['hit@1'])}  hit@3 {_fmt(r['hit@3'])}  hit@5 {_fmt(r['hit@5'])}  "
        f"MRR {_fmt(r['mrr'])}  nDCG@5 {_fmt(r['ndcg@5'])}  (top {run['retrieval_k']}, n={r['n']})",
        f"answers     token F1 {_fmt(a['token_f1'])}  key facts {_fmt(a['key_facts'])}  "
        f"gold passage given {_fmt(a['gold_passage_given'])}  (n={a['n']})",
        f"citations   valid {_fmt(c['validity_micro'])} ({c['valid_markers']} ok, {c['invalid_markers']} bad)  "
        f"gold precision {_fmt(c['precision'])}  answered with citation {_fmt(c['answered_with_valid_citation'])}",
        f"refusals    unanswerable refused {_fmt(f['refusal_rate_unanswerable'])} (target 1)  "
        f"answerable refused {_fmt(f['false_refusal_rate_answerable'])} (target 0)",
        f"speed (s)   retrieval {med('retrieval_s')}/{p95('retrieval_s')}  first token "
        f"{med('first_token_s')}/{p95('first_token_s')}  total {med('total_s')}/{p95('total_s')}  "
        f"tok/s {med('tokens_per_s')}  (median/p95)",
        "by type     " + "  ".join(
            f"{t} {_fmt(g['key_facts'] if g['key_facts'] is not None else g['refusal_ok'], 2)}"
            for t, g in summary["by_type"].items()) + "  (key facts; refusal ok for unanswerable)",
        f"report      {out / 'report.md'}",
    ]
    return "\n".join(lines)
