"""`rag eval --benchmark facqa`: the split format, the unanswerable selection, and the run end to end (tiny model).

The CSV here is written by the test in FacQA's format (token lists with B/I/O labels); FacQA itself is not part of
the repository (README: how to fetch it)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.errors import BadInputError
from rag.evaluation.facqa import build_benchmark, detokenize, labelled_span, read_facqa
from rag.settings import Settings

ROWS = [  # (question tokens, passage tokens, answer span as token positions)
    ("Siapa Menteri Komunikasi Laos ?".split(),
     "Menteri Komunikasi Laos Boviengkham Vongdara tiba di Hanoi pada Senin ( 4/8 ) .".split(), (3, 5)),
    ("Di mana menteri Laos tiba ?".split(),
     "Menteri Komunikasi Laos Boviengkham Vongdara tiba di Hanoi pada Senin ( 4/8 ) .".split(), (7, 8)),
    ("Berapa kapasitas satelit Merah Putih 2 ?".split(),
     "Satelit Merah Putih 2 memiliki kapasitas 32 Gbps dan diluncurkan dari Florida .".split(), (6, 8)),
    ("Dari mana satelit SATRIA-1 diluncurkan ?".split(),
     "SATRIA-1 diluncurkan dari Cape Canaveral , Florida , dengan roket Falcon 9 .".split(), (3, 5)),
    ("Siapa operator satelit itu ?".split(),
     "Operator satelit SATRIA-1 adalah PT Satelit Nusantara Tiga , bukan Telkomsat .".split(), (4, 8)),
]


def write_split(path: Path, rows: list = ROWS) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "passage", "seq_label"])
        for q, p, (a, b) in rows:
            labels = ["B" if i == a else "I" if a < i < b else "O" for i in range(len(p))]
            w.writerow([repr(q), repr(p), repr(labels)])
    return path


def test_tokens_become_text_and_the_labelled_span_is_the_answer() -> None:
    assert detokenize("Senin ( 4/8 ) , kata dia .".split()) == "Senin (4/8), kata dia."
    assert labelled_span(["a", "b", "c", "d"], ["O", "B", "I", "O"]) == ["b", "c"]
    assert labelled_span(["a", "b"], ["O", "O"]) == []


def test_a_split_is_read_and_malformed_rows_are_named(tmp_path: Path) -> None:
    items = read_facqa(write_split(tmp_path / "s.csv"))
    assert len(items) == 5 and items[0].answer == "Boviengkham Vongdara" and items[2].answer == "32 Gbps"
    bad = tmp_path / "bad.csv"
    bad.write_text("question,passage,seq_label\n\"['a']\",\"['b', 'c']\",\"['O']\"\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"bad.csv:2: 1 labels for 2 passage tokens"):
        read_facqa(bad)
    (tmp_path / "other.csv").write_text("id,text\n1,x\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="not a FacQA split"):
        read_facqa(tmp_path / "other.csv")


def test_unanswerable_questions_lose_their_passage_only_when_the_answer_is_nowhere_else(tmp_path: Path) -> None:
    items = read_facqa(write_split(tmp_path / "s.csv"))
    bench = build_benchmark(items, unanswerable=2)
    gone = [q for q in bench.questions if not q.answerable]
    assert len(gone) == 2 and len(bench.passages) == 2  # 4 distinct passages, 2 left out
    for q in gone:  # its answer is in no indexed passage, and its passage is not indexed
        item = next(i for i in items if i.question == q.question)
        assert item.passage not in bench.passages.values()
        assert not any(item.answer in text for text in bench.passages.values())
    # the other question on a left-out passage is dropped, not asked as answerable
    assert all(q.gold_passage in bench.passages.values() for q in bench.questions if q.answerable)
    assert build_benchmark(items, unanswerable=2).questions == bench.questions  # deterministic
    assert len([q for q in build_benchmark(items, 0, limit=2).questions if q.answerable]) == 2
    with pytest.raises(BadInputError, match="only 4 questions can be made unanswerable"):
        build_benchmark(items, unanswerable=5)


def test_rag_eval_benchmark_facqa_with_the_small_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAG_MAX_TOKENS", "16")  # plumbing, not quality
    split = write_split(tmp_path / "valid.csv")
    out = tmp_path / "out"
    args = ["--generator", "smollm2-135m", "--index-dir", str(tmp_path / "index" / "default"), "eval", "--benchmark",
            "facqa", str(split), "--unanswerable", "1", "--limit", "2", "--out", str(out), "--baseline", "naive"]
    assert main(args) == 0, capsys.readouterr().err
    result = json.loads((out / "ablation.json").read_text(encoding="utf-8"))
    assert result["questions"] == 3
    for row in result["table"].values():
        assert row["n_answerable"] == 2 and row["n_unanswerable"] == 1 and row["token_f1"] is not None
    assert "token F1" in (out / "ablation.md").read_text(encoding="utf-8")
    indexes = list((tmp_path / "index" / "benchmarks").iterdir())  # the passages' own index, beside the user's
    assert len(indexes) == 1 and (indexes[0] / "facqa.jsonl").read_text(encoding="utf-8").count("\n") == 3
    log = [json.loads(x) for x in (out / "ablation.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {x["id"].startswith("facqa-u-") for x in log} == {True, False}
    assert main(["eval", "--benchmark", "squad", str(split)]) == 2
    assert "unknown benchmark 'squad'" in capsys.readouterr().err
