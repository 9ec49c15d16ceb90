"""Evaluation: run a question set through the ask path and score retrieval, answers, citations, refusals and speed."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from rag.errors import BadInputError, RagError
from rag.language import UNCITED_NOTE
from rag.settings import PROJECT_ROOT, Settings
from rag.types import Passage

if TYPE_CHECKING:
    from rag.pipeline import AskResult, Assistant

DEFAULT_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"
DEFAULT_OUT = PROJECT_ROOT / "eval" / "results"
RETRIEVAL_K = 5  # retrieval metrics look at (at least) this many passages, whatever top_k the model gets
_MARKERS = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")


# ---------------------------------------------------------------- question file


@dataclass
class Question:
    """One evaluation question with its gold labels."""

    id: str
    question: str
    answerable: bool
    language: str = "id"
    type: str = "unspecified"
    reference_answer: str = ""
    gold_articles: list[str] = field(default_factory=list)
    key_facts: list[str] = field(default_factory=list)
    gold_passage: str = ""
    near_topic: bool = False  # unanswerable, yet about the articles' people and events


_STR_FIELDS = ("id", "question", "language", "type", "reference_answer", "gold_passage")
_LIST_FIELDS = ("gold_articles", "key_facts")


def parse_question(obj: Any, where: str) -> Question:
    """Validate one decoded JSON line; BadInputError names `where` (file:line) and the problem."""
    if not isinstance(obj, dict):
        raise BadInputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - {f for f in Question.__dataclass_fields__})
    if unknown:
        raise BadInputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for name in ("id", "question", "answerable"):
        if name not in obj:
            raise BadInputError(f"{where}: missing required field {name!r}")
    for name in ("answerable", "near_topic"):
        if name in obj and not isinstance(obj[name], bool):
            raise BadInputError(f"{where}: {name!r} must be true or false")
    for name in _STR_FIELDS:
        if name in obj and not isinstance(obj[name], str):
            raise BadInputError(f"{where}: {name!r} must be a string")
    for name in _LIST_FIELDS:
        if name in obj and not (isinstance(obj[name], list) and all(isinstance(x, str) and x for x in obj[name])):
            raise BadInputError(f"{where}: {name!r} must be a list of non-empty strings")
    if not obj["id"].strip() or not obj["question"].strip():
        raise BadInputError(f"{where}: 'id' and 'question' must not be empty")
    if "language" in obj and obj["language"] not in ("id", "en"):
        raise BadInputError(f"{where}: 'language' must be \"id\" or \"en\", not {obj['language']!r}")
    return Question(**obj)


def load_questions(path: Path) -> list[Question]:
    """Read a JSONL question file (blank lines allowed); BadInputError with the line number for a bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"cannot read question file {path}: {e}") from e
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise BadInputError(f"{where}: not valid JSON ({e.msg} at column {e.colno})",
                                "each line must be one JSON object, see eval/questions.jsonl") from e
        q = parse_question(obj, where)
        if q.id in seen:
            raise BadInputError(f"{where}: duplicate id {q.id!r} (first used on line {seen[q.id]})")
        seen[q.id] = number
        questions.append(q)
    if not questions:
        raise BadInputError(f"{path}: no questions in the file")
    return questions


# ---------------------------------------------------------------- retrieval metrics


def article_ranking(passages: Iterable[Passage]) -> list[str]:
    """Article ids in passage order, each kept at its first (best) position."""
    return list(dict.fromkeys(p.article_id for p in passages))


def hit_at_k(ranking: list[str], gold: Iterable[str], k: int) -> float:
    """1.0 when any gold article is among the first k ranked articles, else 0.0."""
    return float(bool(set(ranking[:k]) & set(gold)))


def reciprocal_rank(ranking: list[str], gold: Iterable[str]) -> float:
    """1 / rank of the first gold article (0.0 when none is ranked)."""
    wanted = set(gold)
    return next((1.0 / rank for rank, a in enumerate(ranking, start=1) if a in wanted), 0.0)


def ndcg_at_k(ranking: list[str], gold: Iterable[str], k: int) -> float:
    """Binary-relevance nDCG@k: DCG of the ranking over the DCG of an ideal ranking of the gold articles."""
    wanted = set(gold)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, a in enumerate(ranking[:k], start=1) if a in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal if ideal else 0.0


# ---------------------------------------------------------------- answer metrics


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Indonesian (Sastrawi) and English (bm25s) stopwords, dropped by default before token F1."""
    from bm25s.stopwords import STOPWORDS_EN
    from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

    return frozenset(StopWordRemoverFactory().get_stop_words()) | frozenset(STOPWORDS_EN)


def strip_answer(text: str) -> str:
    """The answer without [n] markers and without the 'no valid citation' note the pipeline may append."""
    for note in UNCITED_NOTE.values():
        text = text.replace(note, " ")
    return _MARKERS.sub(" ", text)


def normalise_text(text: str) -> str:
    """Case-folded NFKC text with one kind of dash, straight quotes and single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _DASHES.sub("-", text).replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", text).strip()


def answer_tokens(text: str, drop_stopwords: bool = True) -> list[str]:
    """Lower-case word tokens without punctuation or [n] markers; stopwords dropped unless asked not to."""
    words = _WORDS.findall(normalise_text(strip_answer(text)))
    if drop_stopwords:
        stop = stopwords()
        content = [w for w in words if w not in stop]
        return content or words  # an all-stopword text keeps its words
    return words


def token_f1(answer: str, reference: str, drop_stopwords: bool = True) -> float:
    """SQuAD-style token F1 between an answer and a reference answer."""
    a, r = answer_tokens(answer, drop_stopwords), answer_tokens(reference, drop_stopwords)
    if not a or not r:
        return float(a == r)
    common = sum((Counter(a) & Counter(r)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def fact_found(answer: str, fact: str) -> bool:
    """Whether a key fact occurs in the answer (case/space-normalised; a number only matches a whole number)."""
    text, needle = normalise_text(strip_answer(answer)), normalise_text(fact)
    if not needle:
        return False
    pattern = r"\s+".join(re.escape(part) for part in needle.split(" "))
    if needle[0].isdigit():
        pattern = r"(?<!\d)(?<!\d[.,])" + pattern
    if needle[-1].isdigit():
        pattern += r"(?![.,]?\d)"
    return re.search(pattern, text) is not None


def key_fact_recall(answer: str, facts: list[str]) -> float | None:
    """Share of the key facts found in the answer (None when there are none to find)."""
    if not facts:
        return None
    return sum(fact_found(answer, f) for f in facts) / len(facts)


def gold_passage_given(gold_passage: str, passages: Iterable[Passage]) -> bool:
    """Whether the gold passage text (normalised) lies inside one of the passages the model was given."""
    needle = normalise_text(gold_passage)
    return any(needle in normalise_text(p.text) for p in passages)


# ---------------------------------------------------------------- citation metrics


def count_markers(answer: str, passage_numbers: Iterable[int]) -> int:
    """Number of [n] markers left in a verified answer that name one of the given passages."""
    valid = set(passage_numbers)
    return sum(int(n) in valid for n in re.findall(r"\[(\d+)\]", answer))


def citation_validity(valid: int, invalid: int) -> float | None:
    """Share of the raw answer's markers that point to a given passage (None when it had no markers)."""
    total = valid + invalid
    return valid / total if total else None


def citation_precision(cited_articles: Iterable[str], gold: Iterable[str]) -> float | None:
    """Share of the distinct cited articles that are gold articles (None when nothing was cited)."""
    cited = set(cited_articles)
    return len(cited & set(gold)) / len(cited) if cited else None


# ---------------------------------------------------------------- scoring one question


def score_question(q: Question, result: AskResult | None, ranking: list[str] | None) -> dict[str, Any]:
    """All per-question scores; None marks a score that does not apply (or an errored question)."""
    s: dict[str, Any] = dict.fromkeys((
        "hit@1", "hit@3", "hit@5", "mrr", "ndcg@5", "gold_passage_given", "token_f1", "key_facts",
        "valid_markers", "invalid_markers", "citation_validity", "citation_precision", "has_valid_citation",
        "refused", "refusal_ok", "retrieval_s", "prompt_s", "generation_s", "first_token_s", "total_s", "tokens_per_s",
    ))
    s["cited_articles"] = []
    if q.answerable and q.gold_articles and ranking is not None:
        s["hit@1"], s["hit@3"], s["hit@5"] = (hit_at_k(ranking, q.gold_articles, k) for k in (1, 3, 5))
        s["mrr"] = reciprocal_rank(ranking, q.gold_articles)
        s["ndcg@5"] = ndcg_at_k(ranking, q.gold_articles, 5)
    if result is None:
        return s
    s["refused"] = bool(result.refused)
    s["refusal_ok"] = s["refused"] != q.answerable
    if q.answerable:
        if q.gold_passage:
            s["gold_passage_given"] = gold_passage_given(q.gold_passage, result.passages)
        s["token_f1"] = 0.0 if result.refused else token_f1(result.answer, q.reference_answer)
        facts = key_fact_recall(result.answer, q.key_facts)
        s["key_facts"] = None if facts is None else (0.0 if result.refused else facts)
    if not result.refused:
        s["valid_markers"] = count_markers(result.answer, [p.n for p in result.passages])
        s["invalid_markers"] = len(result.invalid_markers)
        s["citation_validity"] = citation_validity(s["valid_markers"], s["invalid_markers"])
        s["cited_articles"] = sorted({c.article_id for c in result.citations})
        if q.answerable:
            s["has_valid_citation"] = bool(result.citations)
            if q.gold_articles:
                s["citation_precision"] = citation_precision(s["cited_articles"], q.gold_articles)
    t = result.timings
    s["retrieval_s"], s["first_token_s"], s["total_s"] = t.get("retrieval"), t.get("first_token"), t.get("total")
    if s["first_token_s"] is not None and s["total_s"] is not None:
        s["prompt_s"] = round(max(s["first_token_s"] - (s["retrieval_s"] or 0.0), 0.0), 4)
        s["generation_s"] = round(max(s["total_s"] - s["first_token_s"], 0.0), 4)
        if result.generated_tokens and s["generation_s"] > 0:
            s["tokens_per_s"] = round(result.generated_tokens / s["generation_s"], 2)
    return s


# ---------------------------------------------------------------- aggregation


def mean(values: Iterable[Any]) -> float | None:
    """Mean of the values that are not None (booleans count as 0/1); None when there are none."""
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def percentile(values: Iterable[Any], q: float) -> float | None:
    """The q-th percentile (linear interpolation) of the values that are not None."""
    xs = sorted(float(v) for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _scores(rows: list[dict[str, Any]], key: str, answerable: bool | None = None) -> list[Any]:
    """One score of every row that did not error (optionally only answerable / unanswerable ones)."""
    return [r["scores"][key] for r in rows
            if not r.get("error") and (answerable is None or r["answerable"] == answerable)]


GROUP_METRICS = ("hit@1", "hit@3", "hit@5", "mrr", "ndcg@5", "token_f1", "key_facts", "citation_validity",
                 "citation_precision", "refusal_ok")


def group_scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of each per-question score over a group of rows (errors excluded), plus counts and median time."""
    ok = [r for r in rows if not r.get("error")]
    out: dict[str, Any] = {"n": len(rows), "errors": len(rows) - len(ok)}
    for key in GROUP_METRICS:
        out[key] = mean(r["scores"][key] for r in ok)
    out["refused"] = mean(r["scores"]["refused"] for r in ok)
    out["median_total_s"] = percentile((r["scores"]["total_s"] for r in ok), 50)
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary.json object: overall metrics, breakdowns by type and language, speed percentiles."""
    ok = [r for r in rows if not r.get("error")]
    valid = sum(r["scores"]["valid_markers"] or 0 for r in ok)
    invalid = sum(r["scores"]["invalid_markers"] or 0 for r in ok)
    refused_unans = _scores(rows, "refused", answerable=False)
    refused_ans = _scores(rows, "refused", answerable=True)
    speed = {}
    for key in ("retrieval_s", "prompt_s", "first_token_s", "generation_s", "total_s", "tokens_per_s"):
        vals = [r["scores"][key] for r in ok if r["scores"][key] is not None]
        speed[key] = {"n": len(vals), "median": percentile(vals, 50), "p95": percentile(vals, 95)}

    def by(name: str) -> dict[str, Any]:
        return {k: group_scores([r for r in rows if r[name] == k]) for k in sorted({r[name] for r in rows})}

    return {
        "questions": len(rows),
        "errors": len(rows) - len(ok),
        "answerable": sum(r["answerable"] for r in rows),
        "unanswerable": sum(not r["answerable"] for r in rows),
        "retrieval": {
            "n": len([v for v in _scores(rows, "mrr", True) if v is not None]),
            **{k: mean(_scores(rows, k, True)) for k in ("hit@1", "hit@3", "hit@5", "mrr", "ndcg@5")},
        },
        "answers": {
            "n": len(_scores(rows, "token_f1", True)),
            "token_f1": mean(_scores(rows, "token_f1", True)),
            "key_facts": mean(_scores(rows, "key_facts", True)),
            "gold_passage_given": mean(_scores(rows, "gold_passage_given", True)),
        },
        "citations": {
            "valid_markers": valid,
            "invalid_markers": invalid,
            "validity_micro": citation_validity(valid, invalid),
            "validity_macro": mean(_scores(rows, "citation_validity")),
            "precision": mean(_scores(rows, "citation_precision", True)),
            "answered_with_valid_citation": mean(_scores(rows, "has_valid_citation", True)),
        },
        "refusals": {
            "n_unanswerable": len(refused_unans),
            "refusal_rate_unanswerable": mean(refused_unans),
            "n_answerable": len(refused_ans),
            "false_refusal_rate_answerable": mean(refused_ans),
            "weak_evidence_refusals": sum(1 for r in ok if r.get("refusal_reason") == "weak_evidence"),
            "model_refusals": sum(1 for r in ok if r.get("refusal_reason") in (
                "model_likely_refuses", "model_said_not_found", "invented_figure", "empty_answer")),
        },
        "speed": speed,
        "by_type": by("type"),
        "by_language": by("question_language"),
    }


def question_quality(row: dict[str, Any]) -> float:
    """One number for ranking the worst questions: answer quality (answerable) or correct refusal (unanswerable)."""
    if row.get("error"):
        return -1.0
    s = row["scores"]
    if not row["answerable"]:
        return 1.0 if s["refused"] else 0.0
    parts = [v for v in (s["key_facts"], s["token_f1"]) if v is not None]
    return sum(parts) / len(parts) if parts else 0.0


def problems(row: dict[str, Any]) -> list[str]:
    """Short notes on what went wrong for one question."""
    if row.get("error"):
        return [f"error: {row['error']}"]
    s, notes = row["scores"], []
    if row["answerable"] and s["refused"]:
        given = {True: "; the gold passage was given", False: "; the gold passage was not given"}
        notes.append(f"false refusal ({row.get('refusal_reason')}{given.get(s['gold_passage_given'], '')})")
    if not row["answerable"] and not s["refused"]:
        notes.append("answered an unanswerable question")
    if s["hit@5"] == 0.0:
        notes.append("no gold article in the top 5")
    if s["key_facts"] is not None and s["key_facts"] < 1 and not s["refused"]:
        notes.append("missed: " + "; ".join(f for f in row["key_facts"] if not fact_found(row["answer"], f)))
    if s["invalid_markers"]:
        notes.append(f"{s['invalid_markers']} invalid marker(s)")
    if s["has_valid_citation"] is False:
        notes.append("no valid citation")
    return notes


def worst(rows: list[dict[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """The n lowest-quality questions (errors first), each with its problems."""
    ranked = sorted(rows, key=lambda r: (question_quality(r), r["scores"]["mrr"] or 0.0))
    return [r for r in ranked if question_quality(r) < 1.0][:n]


# ---------------------------------------------------------------- outputs


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


def plot_charts(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """PNG charts: scores by question type (bars) and time per stage (box plot); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    types = list(summary["by_type"])
    metrics = [("hit@5", "hit@5"), ("mrr", "MRR"), ("token_f1", "token F1"), ("key_facts", "key facts"),
               ("citation_validity", "citation validity"), ("refusal_ok", "refusal ok")]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(metrics)
    for i, (key, label) in enumerate(metrics):
        vals = [summary["by_type"][t][key] for t in types]
        xs = [j + (i - (len(metrics) - 1) / 2) * width for j in range(len(types))]
        ax.bar(xs, [float("nan") if v is None else v for v in vals], width, label=label)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels([f"{t}\n(n={summary['by_type'][t]['n']})" for t in types])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (mean over questions)")
    ax.set_title("Scores by question type")
    ax.legend(ncol=3, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    paths.append(out / "scores_by_type.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    ok = [r["scores"] for r in rows if not r.get("error")]
    stages = [("retrieval", "retrieval_s"), ("prompt\n(to first token)", "prompt_s"),
              ("generation", "generation_s"), ("total", "total_s")]
    data = [[s[k] for s in ok if s[k] is not None] for _, k in stages]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if any(data):
        ax.boxplot([d or [float("nan")] for d in data], showfliers=True)
        ax.set_xticks(range(1, len(stages) + 1))
        ax.set_xticklabels([name for name, _ in stages])
    else:
        ax.text(0.5, 0.5, "no timings (every question failed)", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("seconds per question")
    ax.set_title(f"Time per stage ({summary['run']['generator']}, n={len(ok)})")
    fig.tight_layout()
    paths.append(out / "time_per_stage.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return [str(p) for p in paths]


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


# ---------------------------------------------------------------- running


def result_row(q: Question, result: AskResult | None, ranking: list[str] | None, error: str | None,
               retrieval_eval_s: float | None) -> dict[str, Any]:
    """One results.jsonl line: the ask result's fields, the question's gold fields, the ranking and the scores."""
    row: dict[str, Any] = result.to_dict() if result is not None else {"question": q.question}
    row.update({
        "id": q.id, "type": q.type, "question_language": q.language, "answerable": q.answerable,
        "reference_answer": q.reference_answer, "gold_articles": q.gold_articles, "key_facts": q.key_facts,
        "gold_passage": q.gold_passage, "retrieval_ranking": ranking, "retrieval_eval_s": retrieval_eval_s,
        "error": error, "scores": score_question(q, result, ranking),
    })
    return row


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
    from rag.pipeline import Assistant

    if args.from_logs:
        return _table_from_logs(args, settings)

    path = Path(args.questions or DEFAULT_QUESTIONS)
    out = Path(args.out or DEFAULT_OUT)
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

    assistant = Assistant(settings)
    known = set(assistant.index.docs)
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


def parse_modes(text: str) -> list[tuple[str, str]]:
    """Parse --modes "chunks/numbered,sentences/plain" into evidence/prompt pairs, refusing unknown ones."""
    from rag.ablation import MODES

    pairs = [tuple(part.strip().split("/", 1)) for part in text.split(",") if part.strip()]
    bad = ["/".join(p) for p in pairs if p not in MODES]
    if bad or not pairs:
        known = ", ".join("/".join(m) for m in MODES)
        raise BadInputError(f"unknown ablation mode: {', '.join(bad) if bad else repr(text)}", f"choose from {known}")
    return pairs  # type: ignore[return-value]


def _run_comparison(args: argparse.Namespace, settings: Settings, questions: list[Question], out: Path) -> int:
    """`rag eval --ablation` (every technique on and off, plus the baseline) or `--baseline naive` (default vs it)."""
    from rag import ablation

    chosen = ablation.variants(settings, parse_modes(args.modes) if args.modes else None)
    if not args.ablation:
        chosen = [chosen[0], chosen[-1]]  # the baseline and the configured default
    result = ablation.run(settings, questions, chosen, out, progress=not args.json)
    print(ablation.render(result), flush=True)
    print(f"table: {out / 'ablation.md'}", file=sys.stderr)
    return 0


def _table_from_logs(args: argparse.Namespace, settings: Settings) -> int:
    """`rag eval --from-logs A.jsonl B.jsonl`: one table from earlier comparison runs, gate rows re-decided."""
    from rag import ablation
    from rag.pipeline import Assistant

    logs = [Path(x) for x in args.from_logs]
    missing = [str(x) for x in logs if not x.is_file()]
    if missing:
        raise BadInputError(f"no such ablation log: {', '.join(missing)}", "give ablation.jsonl files from rag eval --ablation")
    policy = Assistant(settings).policy
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
