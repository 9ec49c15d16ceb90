"""IndoNLU FacQA as an external benchmark (`rag eval --benchmark facqa FILE.csv`).

FacQA (IndoNLP/indonlu, dataset/facqa_qa-factoid-itb) is factoid questions over short Indonesian news passages:
each CSV row holds `question`, `passage` and `seq_label` as Python-literal token lists, the answer span labelled
B/I/O over the passage's tokens. The split's distinct passages become the articles of a throwaway index (one JSON
Lines dump, read by the same ingest as any user's file); every question is scored against its labelled span.

`--unanswerable N` makes N questions unanswerable by leaving their passage out of the index. Candidates are taken
in a fixed order (a hash of the question), and one is kept only when its answer string occurs in no remaining
passage, so its answer truly is nowhere in the collection. The other questions of a left-out passage are dropped.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from rag.errors import BadInputError
from rag.evaluation.metrics import normalise_text
from rag.evaluation.questions import Question

FIELDS = ("question", "passage", "seq_label")
_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")


@dataclass(frozen=True)
class FacqaItem:
    """One FacQA row: the question, its passage and the labelled answer span, as text."""

    question: str
    passage: str
    answer: str


def detokenize(tokens: list[str]) -> str:
    """Tokens back to text: spaces between them, none before closing or after opening punctuation."""
    text = " ".join(t for t in tokens if t)
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text)).strip()


def labelled_span(tokens: list[str], labels: list[str]) -> list[str]:
    """The tokens of the first B/I span (the answer); [] when none is labelled."""
    span: list[str] = []
    for token, label in zip(tokens, labels):
        if label == "B" and span:
            break
        if label in ("B", "I"):
            span.append(token)
        elif span:
            break
    return span


def _tokens(cell: str, where: str, name: str) -> list[str]:
    """A cell holding a Python list of strings."""
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError) as e:
        raise BadInputError(f"{where}: {name!r} is not a token list ({e.__class__.__name__})",
                            "FacQA cells are Python lists such as \"['Apa', 'itu', '?']\"") from None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise BadInputError(f"{where}: {name!r} must be a list of strings")
    return value


def read_facqa(path: Path) -> list[FacqaItem]:
    """The rows of a FacQA split CSV; BadInputError naming the row for a malformed one."""
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as e:
        raise BadInputError(f"cannot read {path}: {e.strerror}",
                            "give a FacQA split, e.g. valid_preprocess.csv from IndoNLP/indonlu") from None
    items: list[FacqaItem] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise BadInputError(f"{path}: not a FacQA split (missing column(s) {', '.join(missing)})",
                                f"expected the columns {', '.join(FIELDS)}")
        for number, row in enumerate(reader, start=2):
            where = f"{path}:{number}"
            question = _tokens(row["question"], where, "question")
            passage = _tokens(row["passage"], where, "passage")
            labels = _tokens(row["seq_label"], where, "seq_label")
            if len(labels) != len(passage):
                raise BadInputError(f"{where}: {len(labels)} labels for {len(passage)} passage tokens")
            span = labelled_span(passage, labels)
            if not question or not span:
                continue  # a row without a labelled answer cannot be scored
            items.append(FacqaItem(detokenize(question), detokenize(passage), detokenize(span)))
    if not items:
        raise BadInputError(f"{path}: no usable FacQA rows")
    return items


def _order(text: str) -> str:
    """A fixed, content-derived order (the same on every machine and run)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _passage_id(passage: str) -> str:
    return hashlib.sha1(passage.encode("utf-8")).hexdigest()[:10]


@dataclass
class Benchmark:
    """The passages to index (by id, in file order) and the questions to ask, scored against their spans."""

    passages: dict[str, str]
    questions: list[Question]

    def write_jsonl(self, path: Path) -> dict[str, str]:
        """Write the passages as a JSON Lines dump; returns passage id -> the article id ingest gives its line."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"text": text}, ensure_ascii=False) for text in self.passages.values()]
        tmp = path.with_name(path.name + ".part")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(path)
        stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in path.stem)
        return {pid: f"{stem}-{n}" for n, pid in enumerate(self.passages, start=1)}


def build_benchmark(items: list[FacqaItem], unanswerable: int = 0, limit: int | None = None) -> Benchmark:
    """Passages and questions: `unanswerable` questions whose passage is left out, `limit` answerable ones."""
    if unanswerable < 0 or (limit is not None and limit < 1):
        raise BadInputError("--unanswerable must be 0 or more and --limit at least 1")
    passages = {_passage_id(i.passage): i.passage for i in items}
    normalised = {pid: normalise_text(text) for pid, text in passages.items()}
    left_out: set[str] = set()
    chosen: list[FacqaItem] = []
    for item in sorted(items, key=lambda i: _order(i.question)):
        if len(chosen) == unanswerable:
            break
        pid = _passage_id(item.passage)
        if pid in left_out:
            continue  # its passage is already out for another question: one unanswerable question per passage
        answer = normalise_text(item.answer)
        if any(answer in text for other, text in normalised.items() if other != pid and other not in left_out):
            continue  # the answer string is in another passage: leaving this one out would not make it unanswerable
        left_out.add(pid)
        chosen.append(item)
    if len(chosen) < unanswerable:
        raise BadInputError(f"only {len(chosen)} questions can be made unanswerable in this split, not {unanswerable}")
    kept = {pid: text for pid, text in passages.items() if pid not in left_out}
    answerable = sorted((i for i in items if _passage_id(i.passage) in kept), key=lambda i: _order(i.question))
    answerable = answerable[:limit] if limit else answerable
    questions = [_question(f"facqa-{_order(i.question)[:8]}", i, True) for i in answerable]
    questions += [_question(f"facqa-u-{_order(i.question)[:8]}", i, False) for i in chosen]
    return Benchmark(kept, questions)


def _question(qid: str, item: FacqaItem, answerable: bool) -> Question:
    return Question(
        id=qid, question=item.question, answerable=answerable, language="id", type="facqa",
        reference_answer=item.answer if answerable else "", key_facts=[item.answer] if answerable else [],
        gold_articles=[_passage_id(item.passage)] if answerable else [],
        gold_passage=item.passage if answerable else "", near_topic=False,
    )


def with_article_ids(questions: list[Question], ids: dict[str, list[str]]) -> list[Question]:
    """The questions with gold passage ids replaced by the article ids the index gave those passages (a passage
    stored as a syndicated copy also names the article it is a copy of: that is the one search returns)."""
    for q in questions:
        q.gold_articles = [a for g in q.gold_articles for a in ids[g]]
    return questions
