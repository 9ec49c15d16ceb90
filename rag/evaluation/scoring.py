"""Scoring one question: an ask result against the question's gold labels, and its results.jsonl row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.evaluation.metrics import (
    citation_precision,
    citation_validity,
    count_markers,
    gold_passage_given,
    hit_at_k,
    key_fact_recall,
    ndcg_at_k,
    reciprocal_rank,
    token_f1,
)
from rag.evaluation.questions import Question

if TYPE_CHECKING:
    from rag.answer.events import AskResult


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
        s["cited_articles"] = sorted({c.source.article_id for c in result.citations})
        if q.answerable:
            s["has_valid_citation"] = bool(result.citations)
            if q.gold_articles:
                s["citation_precision"] = citation_precision(s["cited_articles"], q.gold_articles)
    t = result.timings
    s["retrieval_s"], s["first_token_s"], s["total_s"] = t.retrieval, t.first_token, t.total
    if s["first_token_s"] is not None and s["total_s"] is not None:
        s["prompt_s"] = round(max(s["first_token_s"] - (s["retrieval_s"] or 0.0), 0.0), 4)
        s["generation_s"] = round(max(s["total_s"] - s["first_token_s"], 0.0), 4)
        if result.generated_tokens and s["generation_s"] > 0:
            s["tokens_per_s"] = round(result.generated_tokens / s["generation_s"], 2)
    return s


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
