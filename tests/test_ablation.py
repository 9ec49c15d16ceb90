"""The naive baseline recipe on the real seed index, and `rag eval --ablation/--baseline` end to end (tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.evaluation import ablation, baseline
from rag.cli import main
from rag.backends.factory import make_embedder
from rag.errors import BadInputError
from rag.evaluation.questions import DEFAULT_QUESTIONS, Question
from rag.evaluation.run import parse_modes
from rag.answer.policy import Policy
from rag.settings import Settings
from rag.backends.stores.faiss_files import Index


def test_baseline_gives_two_windows_of_three_sentences_either_side(seed_settings: Settings) -> None:
    index = Index.load(seed_settings.index_dir)
    q = "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?"
    passages = baseline.window_passages(index, make_embedder(seed_settings), q)
    assert len(passages) == baseline.TOP_K == 2 and [p.n for p in passages] == [1, 2]
    assert passages[0].source.article_id == "001_5588f0be4399d35c"
    for p in passages:
        first, last = index.sentence_range(p.source.article_id)
        hit = [i for i in p.sentence_ids if first <= i < last]
        assert hit == p.sentence_ids and len(p.sentence_ids) <= 2 * baseline.WINDOW + 1
        assert p.text == " ".join(index.sentence_text(i) for i in p.sentence_ids)
    messages = baseline.build_messages(q, passages)
    assert messages[0]["content"].startswith(baseline.SYSTEM_PROMPT)
    assert "Context information is below." in messages[0]["content"] and messages[1] == {"role": "user", "content": q}


def test_variants_put_the_baseline_first_and_the_configured_default_last(seed_settings: Settings) -> None:
    st = seed_settings.model_copy(update={"evidence": "sentences", "prompt_style": "plain", "gate": True,
                                          "answer_check": False})
    vs = ablation.variants(st)
    rows = len(ablation.SWITCHES)
    assert vs[0].evidence == "naive" and len(vs) == 1 + rows * len(ablation.DEFAULT_MODES)
    assert (vs[-1].evidence, vs[-1].prompt, *vs[-1].switches) == ("sentences", "plain", True, True, True, False)
    assert len({v.generation for v in vs}) == 1 + len(ablation.DEFAULT_MODES)  # rows share their mode's generation
    chunky = st.model_copy(update={"evidence": "chunks", "prompt_style": "numbered", "gate": False})
    assert (ablation.variants(chunky)[-1].evidence, ablation.variants(chunky)[-1].gate) == ("chunks", False)
    two = ablation.variants(st, [("chunks", "numbered"), ("sentences", "plain")])
    assert len(two) == 1 + 2 * rows
    assert {v.generation for v in two} == {("naive", ""), ("chunks", "numbered"), ("sentences", "plain")}


def test_ablation_modes_are_parsed_and_unknown_ones_refused(seed_settings: Settings,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_modes("chunks/numbered, sentences/plain") == [("chunks", "numbered"), ("sentences", "plain")]
    with pytest.raises(BadInputError, match="sentences/chatty"):
        parse_modes("sentences/chatty")
    code = main(["--index-dir", str(seed_settings.index_dir), "eval", "--ablation", "--modes", "chunk/plain"])
    assert code != 0 and "unknown ablation mode: chunk/plain" in capsys.readouterr().err


def test_support_is_right_with_a_key_fact_or_most_of_the_gold_passage() -> None:
    q = Question("x", "q", True, key_facts=["Boviengkham"], gold_passage="Menteri Laos tiba di Hanoi pada Senin")
    assert ablation.support_ok("Menteri Boviengkham Vongdara berbicara.", q)
    assert ablation.support_ok("Pada Senin menteri Laos tiba di Hanoi.", q)
    assert not ablation.support_ok("Qatar membangun pusat data.", q)


def test_sweep_re_decides_recorded_answers(tmp_path: Path) -> None:
    rows = [
        {"answerable": True, "near_topic": False, "variants": {"v": {"refused": False, "key_facts": 1.0,
                                                                     "signals": {"p_refuse": 0.05, "evidence_score": 0.95,
                                                                                 "p_answerable": 0.8}}}},
        {"answerable": False, "near_topic": True, "variants": {"v": {"refused": False, "key_facts": None,
                                                                     "signals": {"p_refuse": 0.4, "evidence_score": 0.9,
                                                                                 "p_answerable": 0.6}}}},
    ]
    log = tmp_path / "a.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    curve = {(c["p_refuse_max"], c["p_refuse_soft"], c["evidence_soft"], c["check_min"]): c
             for c in ablation.sweep(log, "v", Policy())}
    assert curve[(0.35, 0.1, 0.97, 0.0)] == {"p_refuse_max": 0.35, "p_refuse_soft": 0.1, "evidence_soft": 0.97,
                                             "check_min": 0.0, "key_facts": 1.0, "near_topic_refusal": 1.0,
                                             "unanswerable_refusal": 1.0, "false_refusal": 0.0}
    assert curve[(1.01, 1.01, 0.97, 0.0)]["near_topic_refusal"] == 0.0
    assert curve[(1.01, 0.02, 2.0, 0.0)] == {"p_refuse_max": 1.01, "p_refuse_soft": 0.02, "evidence_soft": 2.0,
                                             "check_min": 0.0, "key_facts": 0.0, "near_topic_refusal": 1.0,
                                             "unanswerable_refusal": 1.0, "false_refusal": 1.0}
    # the answerability check: the answerable row's P(yes) 0.8 passes at 0.7, the other's 0.6 does not
    assert curve[(1.01, 1.01, 0.97, 0.7)]["near_topic_refusal"] == 1.0
    assert curve[(1.01, 1.01, 0.97, 0.7)]["false_refusal"] == 0.0


@pytest.mark.parametrize("mode, rows", [("--ablation", 1 + len(ablation.SWITCHES) * len(ablation.DEFAULT_MODES)),
                                        ("--baseline", 2)])
def test_rag_eval_comparison_with_the_small_model(
    seed_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    mode: str, rows: int,
) -> None:
    monkeypatch.setenv("RAG_MAX_TOKENS", "24")  # plumbing, not quality
    by_id = {json.loads(x)["id"]: x for x in DEFAULT_QUESTIONS.read_text(encoding="utf-8").splitlines() if x.strip()}
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("\n".join(by_id[i] for i in ("id-001", "id-071", "en-001")) + "\n", encoding="utf-8")
    out = tmp_path / "cmp"
    args = ["--generator", "smollm2-135m", "--index-dir", str(seed_settings.index_dir), "eval", "--questions",
            str(qfile), "--out", str(out), mode] + (["naive"] if mode == "--baseline" else [])
    assert main(args) == 0, capsys.readouterr().err
    result = json.loads((out / "ablation.json").read_text(encoding="utf-8"))
    assert result["questions"] == 3 and len(result["table"]) == rows
    names = list(result["table"])
    assert names[0].startswith("naive") and names[-1] == ablation.variants(Settings())[-1].name
    for row in result["table"].values():
        assert row["n_answerable"] == 2 and row["n_near_topic"] == 1 and row["prompt_tokens_p50"] > 0
    log = [json.loads(x) for x in (out / "ablation.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in log] == ["id-001", "id-071", "en-001"] and set(log[0]["variants"]) == set(names)
    table = (out / "ablation.md").read_text(encoding="utf-8")
    assert "| naive baseline" in table and "citation → right article" in table
    assert ("Gate thresholds re-applied" in table) == (mode == "--ablation")

    if mode == "--ablation":  # the same table rebuilt from the log, generating nothing
        again = tmp_path / "again"
        assert main(["--index-dir", str(seed_settings.index_dir), "eval", "--from-logs", str(out / "ablation.jsonl"),
                     "--out", str(again)]) == 0
        rebuilt = json.loads((again / "ablation.json").read_text(encoding="utf-8"))["table"]
        assert list(rebuilt) == names
        for name in names:
            for key in ("key_facts", "false_refusal", "near_topic_refusal", "right_article"):
                assert rebuilt[name][key] == pytest.approx(result["table"][name][key]), (name, key)


def test_prompt_rate_is_the_prompt_read_over_the_time_from_retrieval_to_the_first_token() -> None:
    from types import SimpleNamespace as NS

    from rag.answer.events import Timings

    rate = ablation.prompt_rate
    assert rate(NS(prompt_tokens=300, timings=Timings(retrieval=0.5, first_token=3.5))) == 100
    assert rate(NS(prompt_tokens=300, timings=Timings(retrieval=0.5, first_token=None))) is None  # refused before
    assert rate(NS(prompt_tokens=0, timings=Timings(retrieval=0.5, first_token=1.0))) is None
    # tokens kept from the previous prompt were not read: only the rest count
    assert rate(NS(prompt_tokens=300, cached_prompt_tokens=100,
                   timings=Timings(retrieval=0.5, first_token=2.5))) == 100
    table = ablation.render({"table": {"naive": {"key_facts": 0.5, "near_topic_refusal": None,
                                                 "unanswerable_refusal": 0.1, "false_refusal": 0.0,
                                                 "right_article": 0.5, "support_precision": 0.5,
                                                 "prompt_tokens_p50": 280, "cached_tokens_p50": 49,
                                                 "first_token_p50": 2.0,
                                                 "prompt_tok_s_p50": 140.0, "n_answerable": 1,
                                                 "n_near_topic": 0, "n_unanswerable": 1}}, "questions": 2})
    assert "| prompt tok/s (p50) |" in table.splitlines()[0]
    assert table.splitlines()[2].endswith("| 280 | 49 | 2.00 | 140 |")


def test_wrong_answers_shown_counts_answers_that_are_not_right_and_not_refusals() -> None:
    qs = [Question("a", "q", True, key_facts=["x"]), Question("b", "q", True, key_facts=["x"]),
          Question("c", "q", True, key_facts=["x"]), Question("u", "q", False), Question("v", "q", False)]
    base = {"prompt_tokens": 1, "first_token_s": 1.0}
    scores = [{**base, "refused": False, "key_facts": 1.0},  # right
              {**base, "refused": False, "key_facts": 0.0},  # answered wrong
              {**base, "refused": True, "key_facts": 0.0},  # refused: not shown
              {**base, "refused": False},  # an unanswerable question answered
              {**base, "refused": True}]
    row = ablation.summarise(qs, scores)
    assert row["wrong_answers"] == pytest.approx(2 / 5) and row["false_refusal"] == pytest.approx(1 / 3)
    assert "| wrong answers shown |" in ablation.render({"table": {"default": row}, "questions": 5}).splitlines()[0]
