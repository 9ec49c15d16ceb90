"""Aggregating scored rows: the summary.json numbers, breakdowns by type and language, and the worst questions."""

from __future__ import annotations

from typing import Any

from rag.evaluation.metrics import citation_validity, fact_found, mean, percentile


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
                "model_likely_refuses", "model_said_not_found", "not_in_context", "empty_answer")),
            "verification_refusals": sum(1 for r in ok if r.get("refusal_reason") in (
                "subject_not_found", "cited_off_subject", "invented_figure", "unsupported_name", "not_supported",
                "repeats_question", "no_figure")),
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
