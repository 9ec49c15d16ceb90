"""Evaluation: metric functions on hand-made cases, the question set against the seeds, and `rag eval` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rag.ingest.articles import read_article
from rag.ingest.clean import clean_article
from rag.cli import main
from rag.errors import BadInputError
from rag.evaluation.metrics import (
    article_ranking,
    citation_precision,
    citation_validity,
    count_markers,
    fact_found,
    gold_passage_given,
    hit_at_k,
    key_fact_recall,
    ndcg_at_k,
    reciprocal_rank,
    token_f1,
)
from rag.evaluation.questions import DEFAULT_QUESTIONS, Question, load_questions
from rag.evaluation.scoring import result_row, score_question
from rag.evaluation.summary import summarise
from rag.answer.language import REFUSAL, UNCITED_NOTE
from rag.answer.events import AskResult, Timings
from rag.settings import PROJECT_ROOT, Settings
from rag.types import Citation, Passage, Source
from tests.conftest import SEEDS

RANKING = ["a", "b", "c", "d", "e"]


def passage(n: int, article: str) -> Passage:
    return Passage(source=Source(article, f"T{n}", None, None, None, f"/{article}.txt"), start=0, end=10,
                   text=f"Teks bagian {n}.", chunk_ids=[f"{article}#{n}"], n=n)


def citation(n: int, article: str) -> Citation:
    return Citation(n=n, source=Source(article, f"T{n}", None, None, None, f"/{article}.txt"), passage="p",
                    support="s", start=0, end=1)


# ---------------------------------------------------------------- retrieval metrics


def test_article_ranking_keeps_each_article_at_its_first_passage() -> None:
    ps = [passage(1, "a"), passage(2, "a"), passage(3, "b"), passage(4, "a"), passage(5, "c")]
    assert article_ranking(ps) == ["a", "b", "c"]


def test_hit_mrr_ndcg_single_gold_at_rank_3() -> None:
    gold = ["c"]
    assert [hit_at_k(RANKING, gold, k) for k in (1, 3, 5)] == [0.0, 1.0, 1.0]
    assert reciprocal_rank(RANKING, gold) == pytest.approx(1 / 3)
    assert ndcg_at_k(RANKING, gold, 5) == pytest.approx(0.5)  # (1/log2 4) / (1/log2 2)


def test_hit_mrr_ndcg_two_gold_articles() -> None:
    gold = ["b", "d"]
    assert [hit_at_k(RANKING, gold, k) for k in (1, 3, 5)] == [0.0, 1.0, 1.0]
    assert reciprocal_rank(RANKING, gold) == 0.5
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert ndcg_at_k(RANKING, gold, 5) == pytest.approx(dcg / (1 + 1 / math.log2(3)))  # 0.6509
    assert ndcg_at_k(RANKING, gold, 5) == pytest.approx(0.65093, abs=1e-4)


def test_gold_ranked_first_is_perfect_and_missing_gold_scores_zero() -> None:
    assert (hit_at_k(RANKING, ["a"], 1), reciprocal_rank(RANKING, ["a"]), ndcg_at_k(RANKING, ["a"], 5)) == (1, 1, 1)
    assert (hit_at_k(RANKING, ["z"], 5), reciprocal_rank(RANKING, ["z"]), ndcg_at_k(RANKING, ["z"], 5)) == (0, 0, 0)
    assert hit_at_k(RANKING, ["e"], 3) == 0.0 and ndcg_at_k(RANKING, ["e"], 3) == 0.0  # beyond the cut-off


def test_ndcg_ideal_counts_at_most_k_gold_and_short_rankings() -> None:
    # 3 gold, only 2 ranked (both gold): DCG = 1 + 1/log2 3; ideal = 1 + 1/log2 3 + 1/log2 4 = 2.1309
    assert ndcg_at_k(["a", "b"], ["a", "b", "c"], 5) == pytest.approx((1 + 1 / math.log2(3)) / 2.130930, abs=1e-5)
    assert ndcg_at_k(["a", "b"], ["a", "b", "c"], 1) == 1.0


# ---------------------------------------------------------------- answer metrics


def test_token_f1_by_hand() -> None:
    # answer tokens: mohammed bin ali al mannai (5); reference: mohammed bin ali bin mohammed al mannai (7)
    # overlap 5 -> P = 1, R = 5/7, F1 = 10/12
    assert token_f1("Mohammed bin Ali Al Mannai [1].", "Mohammed bin Ali bin Mohammed Al Mannai.",
                    drop_stopwords=False) == pytest.approx(10 / 12)
    assert token_f1("Boviengkham Vongdara.", "boviengkham  VONGDARA") == 1.0
    assert token_f1("Qatar", "Laos") == 0.0


def test_token_f1_drops_stopwords_markers_and_the_uncited_note() -> None:
    note = UNCITED_NOTE["id"]
    assert token_f1(f"Pada 31 Oktober [2][3].\n\n{note}", "31 Oktober") == 1.0
    assert token_f1("Pada 31 Oktober", "31 Oktober", drop_stopwords=False) == pytest.approx(0.8)


def test_key_facts_are_case_and_space_normalised_and_numbers_match_whole() -> None:
    assert fact_found("Menterinya adalah mohammed bin ali AL   MANNAI [1].", "Al Mannai")
    assert fact_found("Ada 5 undang-undang.", "5")
    for text in ("naik 15 peringkat", "tahun 2025", "Rp 5.000", "nilai 2,5 persen", "lihat [5]"):
        assert not fact_found(text, "5"), text
    assert fact_found("Resolusi No. 57–NQ/TW Politbiro", "57-NQ/TW")  # en dash vs hyphen
    assert fact_found("KTT ke-42 ASEAN", "ke-42") and not fact_found("KTT ke-421", "ke-42")
    assert key_fact_recall("Qatar dan Laos [1].", ["Qatar", "Laos", "Indonesia"]) == pytest.approx(2 / 3)
    assert key_fact_recall("apa saja", []) is None


def test_gold_passage_given_is_a_normalised_substring_of_one_passage() -> None:
    ps = [passage(1, "a"), passage(2, "b")]
    assert gold_passage_given("teks  BAGIAN 2", ps)
    assert not gold_passage_given("bagian 3", ps)
    assert not gold_passage_given("bagian 1. Teks bagian 2", ps)  # spread over two passages


# ---------------------------------------------------------------- citation metrics


def test_citation_validity_and_precision_by_hand() -> None:
    assert count_markers("A [1]. B [2][1]. C [9].", [1, 2, 3]) == 3
    assert citation_validity(3, 1) == 0.75
    assert citation_validity(0, 0) is None
    assert citation_validity(0, 2) == 0.0
    assert citation_precision(["a", "b"], ["a"]) == 0.5
    assert citation_precision(["a", "a"], ["a", "c"]) == 1.0
    assert citation_precision([], ["a"]) is None


def ask_result(answer: str, refused: bool = False, citations: list[Citation] | None = None,
               invalid: list[int] | None = None) -> AskResult:
    return AskResult(
        question="q", answer=answer, refused=refused, citations=citations or [],
        passages=[passage(1, "a"), passage(2, "b")], timings=Timings(retrieval=0.5, first_token=2.0, total=6.0),
        model={"generator": "g", "embedder": "e"}, language="id", invalid_markers=invalid or [],
        generated_tokens=20, refusal_reason="the model found no answer in the passages" if refused else None,
    )


def question(answerable: bool = True, **kw: object) -> Question:
    base = dict(id="x-1", question="q", answerable=answerable, type="single" if answerable else "unanswerable",
                reference_answer="Qatar dan Laos", gold_articles=["a"] if answerable else [],
                key_facts=["Qatar", "Laos"] if answerable else [])
    return Question(**{**base, **kw})  # type: ignore[arg-type]


def test_score_question_answered_with_citations() -> None:
    r = ask_result("Qatar [1] dan Laos [2][1].", citations=[citation(1, "a"), citation(2, "b")], invalid=[7])
    s = score_question(question(gold_passage="Teks bagian 2."), r, ["a", "b"])
    assert (s["hit@1"], s["mrr"], s["ndcg@5"]) == (1.0, 1.0, 1.0) and s["gold_passage_given"] is True
    assert s["key_facts"] == 1.0 and s["token_f1"] == 1.0
    assert (s["valid_markers"], s["invalid_markers"], s["citation_validity"]) == (3, 1, 0.75)
    assert s["citation_precision"] == 0.5 and s["has_valid_citation"] is True
    assert s["refused"] is False and s["refusal_ok"] is True
    assert (s["prompt_s"], s["generation_s"], s["tokens_per_s"]) == (1.5, 4.0, 5.0)


def test_refusals_score_zero_on_answerable_and_full_on_unanswerable() -> None:
    refusal = ask_result(REFUSAL["id"], refused=True)
    s = score_question(question(), refusal, ["b", "a"])
    assert (s["token_f1"], s["key_facts"], s["refusal_ok"], s["citation_validity"]) == (0.0, 0.0, False, None)
    assert s["mrr"] == 0.5  # retrieval is scored independently of the answer
    u = score_question(question(answerable=False), refusal, ["a"])
    assert u["refusal_ok"] is True and u["mrr"] is None and u["token_f1"] is None


def test_summary_micro_and_macro_citation_validity_and_refusal_rates() -> None:
    rows = [
        result_row(question(id="1"), ask_result("Qatar [1] Laos [2].", citations=[citation(1, "a")]), ["a"], None, 0.1),
        result_row(question(id="2"), ask_result("Qatar [1].", citations=[citation(1, "a")], invalid=[5, 6, 7]),
                   ["b", "a"], None, 0.1),
        result_row(question(id="3", answerable=False), ask_result(REFUSAL["id"], refused=True), [], None, 0.1),
        result_row(question(id="4", answerable=False), ask_result("Qatar [1]."), [], None, 0.1),
        result_row(question(id="5"), None, None, "the question is empty", None),
    ]
    s = summarise(rows)
    assert s["citations"]["validity_micro"] == pytest.approx(4 / 7)  # (2 + 1 + 1) valid of (4 + 3)
    assert s["citations"]["validity_macro"] == pytest.approx((1 + 0.25 + 1) / 3)
    assert s["refusals"]["refusal_rate_unanswerable"] == 0.5
    assert s["refusals"]["false_refusal_rate_answerable"] == 0.0
    assert s["retrieval"]["mrr"] == pytest.approx(0.75) and s["errors"] == 1
    assert s["by_type"]["unanswerable"]["refusal_ok"] == 0.5 and s["by_type"]["single"]["errors"] == 1


# ---------------------------------------------------------------- the question set


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return load_questions(DEFAULT_QUESTIONS)


def test_question_set_shape(questions: list[Question]) -> None:
    assert len({q.id for q in questions}) == len(questions) >= 90
    assert sum(q.language == "id" for q in questions) >= 40
    assert sum(q.language == "en" for q in questions) >= 8
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) >= 10
    assert all(not q.gold_articles and not q.key_facts and q.type == "unanswerable" for q in unanswerable)
    for q in questions:
        if q.answerable:
            assert q.gold_articles and q.key_facts and q.gold_passage and q.reference_answer, q.id
            assert all(fact_found(q.reference_answer, f) for f in q.key_facts), q.id
    seeds = {p.stem for p in SEEDS.glob("*.txt")}
    assert seeds <= {a for q in questions for a in q.gold_articles}  # every article is covered


def test_gold_articles_exist_and_gold_passages_occur_in_the_cleaned_text(questions: list[Question]) -> None:
    cleaned = {p.stem: clean_article(read_article(p), p.stem).text for p in SEEDS.glob("*.txt")}
    for q in questions:
        assert set(q.gold_articles) <= set(cleaned), q.id
        if q.gold_passage:
            assert q.gold_passage in cleaned[q.gold_articles[0]], q.id
            assert any(fact_found(cleaned[a], f) for f in q.key_facts for a in q.gold_articles), q.id


@pytest.mark.parametrize("line, message", [
    ('{"id": "a", "question": "Apa?", "answerable": true', "not valid JSON"),
    ('{"question": "Apa?", "answerable": true}', "missing required field 'id'"),
    ('{"id": "a", "question": "Apa?", "answerable": "yes"}', "'answerable' must be true or false"),
    ('{"id": "a", "question": "Apa?", "answerable": true, "gold_articles": "x"}', "'gold_articles' must be a list"),
    ('{"id": "a", "question": "Apa?", "answerable": true, "language": "fr"}', "'language' must be"),
    ('{"id": "a", "question": "Apa?", "answerable": true, "extra": 1}', "unknown field(s) extra"),
    ('{"id": "q1", "question": "Lagi?", "answerable": false}', "duplicate id 'q1' (first used on line 1)"),
])
def test_bad_question_lines_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": "q1", "question": "Apa?", "answerable": true}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(BadInputError) as e:
        load_questions(f)
    assert f"{f}:3:" in e.value.message and message in e.value.message


def test_minimal_question_file_gets_defaults(tmp_path: Path) -> None:
    f = tmp_path / "mine.jsonl"
    f.write_text('{"id": "m1", "question": "Siapa menterinya?", "answerable": true, "gold_articles": ["x"]}\n')
    (q,) = load_questions(f)
    assert (q.type, q.language, q.key_facts, q.reference_answer) == ("unspecified", "id", [], "")


def test_bad_question_file_exits_2_with_the_line_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "q1", "question": "Apa?", "answerable": true}\nnot json\n', encoding="utf-8")
    code = main(["--index-dir", str(tmp_path / "no-index"), "eval", "--questions", str(f),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert f"{f}:2:" in capsys.readouterr().err
    assert main(["eval", "--questions", str(tmp_path / "missing.jsonl")]) == 2


# ---------------------------------------------------------------- end to end


def test_rag_eval_end_to_end_with_the_small_model(
    seed_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_MAX_TOKENS", "24")  # plumbing, not quality: keep the tiny model's answers short
    picked = ["id-001", "en-001", "id-070", "id-064", "id-005"]  # --limit 4 leaves out the last
    text = DEFAULT_QUESTIONS.read_text(encoding="utf-8")
    by_id = {json.loads(ln)["id"]: ln for ln in text.splitlines() if ln.strip()}
    lines = [by_id[i] for i in picked]
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "results"
    code = main(["--generator", "smollm2-135m", "--index-dir", str(seed_settings.index_dir), "eval",
                 "--questions", str(qfile), "--limit", "4", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err

    printed = [json.loads(x) for x in captured.out.splitlines() if x.strip()]
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in printed] == picked[:4]
    assert "Evaluated 4 questions" in captured.err  # with --json the summary goes to stderr
    result_fields = {"question", "answer", "refused", "citations", "passages", "timings", "model", "language",
                     "refusal_reason", "uncited", "invalid_markers", "prompt_tokens", "generated_tokens"}
    gold_fields = {"id", "type", "question_language", "answerable", "reference_answer", "gold_articles",
                   "key_facts", "gold_passage"}
    for r in rows:
        assert r["error"] is None, r["error"]
        assert result_fields | gold_fields | {"scores", "retrieval_ranking"} <= set(r)
        assert r["model"]["generator"] == "smollm2-135m"
        assert len(r["retrieval_ranking"]) >= 1 and {"hit@5", "mrr", "token_f1", "refusal_ok"} <= set(r["scores"])
    assert any(not r["answerable"] for r in rows)

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("retrieval", "answers", "citations", "refusals", "speed", "by_type", "by_language", "run", "worst"):
        assert key in summary
    assert summary["questions"] == 4 and summary["run"]["retrieval_k"] >= 5
    assert set(summary["by_language"]) == {"id", "en"} and "unanswerable" in summary["by_type"]
    assert {"hit@1", "hit@3", "hit@5", "mrr", "ndcg@5"} <= set(summary["retrieval"])
    assert summary["speed"]["total_s"]["n"] == 4 and summary["speed"]["total_s"]["median"] > 0

    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Summary", "## By question type", "## By language", "## Worst questions",
                    "## How each metric is computed", "nDCG@5", "false-refusal rate"):
        assert heading in report
    for png in ("scores_by_type.png", "time_per_stage.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / png).stat().st_size > 5000


# ---------------------------------------------------------------- benchmark module


def test_benchmark_is_importable_and_its_baselines_agree_with_the_index() -> None:
    import numpy as np

    from rag.evaluation import benchmark as bench

    for name in ("main", "bench_answer", "bench_retrieval", "bench_ingest", "bench_cold_start", "direct_llama",
                 "synthetic_index", "markdown_table"):
        assert callable(getattr(bench, name)), name
    words = "menteri kerja sama digital vietnam qatar laos keamanan siber konvensi hanoi investasi".split()
    probs = np.full(len(words), 1 / len(words))
    index, matrix = bench.synthetic_index(300, words, probs, dim=16, seed=1, chunk_words=20)
    assert len(index.chunks) == 300 and len(index.docs) == 30
    q = matrix[7]
    assert [i for i, _ in index.dense_search(q, 5)] == [i for i, _ in bench.numpy_dense_topk(matrix, q, 5)]
    bm25, vocab = bench.bm25_matrix(index.lexical), index.lexical.bm25.vocab_dict
    ours = index.lexical.search("kerja sama keamanan siber", 10)
    base = bench.sparse_lexical_topk(bm25, vocab, "kerja sama keamanan siber", 10)
    assert [round(s, 4) for _, s in ours] == [round(s, 4) for _, s in base]
    table = bench.markdown_table({"ingest": {"runs": 1, "chunks": 90, "articles": 5, "chunks_per_s": 3.0,
                                             "embed_only_chunks_per_s": 4.0, "embedder_load_s": 1.0,
                                             "process_wall_s": 40.0, "reingest_s": 0.01, "read_hash_s": 0.002,
                                             "reingest_wrote_index": False, "rss_peak_mb": 900.0,
                                             "rss_models_mb": 800.0}})
    assert table.startswith("| measurement |") and "0.75×" in table


# ---------------------------------------------------------------- the development collection

DEV = PROJECT_ROOT / "eval" / "dev"


def test_dev_collection_shape_and_gold_labels_hold_in_the_cleaned_text() -> None:
    """eval/dev: real articles from other sites plus the seeds; every gold label checkable in the cleaned text."""
    questions = load_questions(DEV / "questions.jsonl")
    files = sorted((DEV / "articles").glob("*.txt"))
    assert len(files) >= 40 and len(questions) >= 120
    cleaned = {p.stem: clean_article(read_article(p), p.stem).text for p in [*files, *SEEDS.glob("*.txt")]}
    near = [q for q in questions if not q.answerable and q.near_topic]
    assert len(near) >= 30 and sum(q.type in ("multi_passage", "multi_article") for q in questions) >= 18
    assert sum(q.language == "en" for q in questions) >= 18
    assert len({q.id for q in questions}) == len(questions)
    for q in questions:
        if not q.answerable:
            assert not q.gold_articles and not q.key_facts, q.id
            continue
        assert q.gold_articles and set(q.gold_articles) <= set(cleaned), q.id
        assert any(q.gold_passage in cleaned[a] for a in q.gold_articles), q.id
        for f in q.key_facts:
            assert any(fact_found(cleaned[a], f) for a in q.gold_articles), (q.id, f)
