"""The shared data types: one Source for passages, citations and copies; AskResult and the events as JSON."""

from __future__ import annotations

import json

import pytest

from rag.answer.events import AskResult, Attribution, Done, Retrieved, Timings, Token, decode, encode
from rag.answer.policy import Reason, Signals
from rag.errors import BadInputError, IndexError_, LimitError, RagError, error_from
from rag.types import ArticleFilter, Citation, Document, Passage, Source

SOURCE = Source("a1", "Judul", "https://x.example/a1", "2025-08-04", "x.example", "/data/a1.txt")
COPY = Source("c1", "Salinan", None, "2025-08-05", "y.example", "/data/c1.txt")
# The flat keys the API has always sent for a passage and a citation (the source's fields in its place).
PASSAGE_KEYS = ["article_id", "title", "url", "date", "site", "source_file", "start", "end", "text", "chunk_ids",
                "scores", "n", "sentence_ids", "also_reported_by"]
CITATION_KEYS = ["n", "article_id", "title", "url", "date", "site", "source_file", "passage", "support", "start", "end",
                 "also_reported_by"]


def passage() -> Passage:
    return Passage(SOURCE, 0, 12, "Teks bagian.", ["a1#0"], {"evidence": 0.93}, n=1, sentence_ids=[0],
                   also_reported_by=[COPY])


def citation() -> Citation:
    return Citation(1, SOURCE, "Teks bagian.", "Teks bagian.", 0, 12, also_reported_by=[COPY])


def result(**changes: object) -> AskResult:
    fields: dict[str, object] = dict(
        question="Siapa?", answer="Dia [1].", refused=False, citations=[citation()], passages=[passage()],
        timings=Timings(retrieval=0.1, first_token=0.5, total=1.2, check=0.05),
        model={"generator": "g", "embedder": "e"}, language="id", standalone_question="Siapa dia?", prompt_tokens=10, generated_tokens=4, raw_answer="Dia.",
        signals=Signals(evidence_score=0.97, subjects=1, p_refuse=0.01, invented_figures=("2023",), cited=True),
        attribution=Attribution(confirmed=1, added=2, invalid=0), filters=ArticleFilter("2025-08-01", None, ("x",)))
    fields.update(changes)
    return AskResult(**fields)  # type: ignore[arg-type]


def test_a_document_names_its_source() -> None:
    d = Document(article_id="a1", source_file="/data/a1.txt", title="Judul", url="https://x.example/a1",
                 date="2025-08-04", date_source="meta", site="x.example", text="Teks.", content_hash="h")
    assert d.source == SOURCE


def test_passage_and_citation_json_keep_the_flat_keys_and_round_trip() -> None:
    p, c = passage(), citation()
    assert list(p.to_dict()) == PASSAGE_KEYS and list(c.to_dict()) == CITATION_KEYS
    assert p.to_dict()["title"] == "Judul" and p.to_dict()["also_reported_by"] == [COPY.to_dict()]
    assert Passage.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert Citation.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_a_source_reads_a_copy_sent_as_a_whole_article_s_metadata() -> None:
    """Servers before Source sent each copy's whole metadata; a client reads the source's fields from it."""
    old = {**COPY.to_dict(), "date_source": "meta", "content_hash": "h", "duplicate_of": "a1", "part": None}
    assert Source.from_dict(old) == COPY


@pytest.mark.parametrize("changes", [
    {},
    {"refused": True, "answer": "Maaf.", "citations": [], "refusal_reason": Reason.WEAK_EVIDENCE, "filters": None,
     "attribution": Attribution(), "timings": Timings(total=0.2)},
    {"signals": None, "passages": [], "citations": [], "refused": True, "timings": Timings(total=0.01, queue_wait=2.5),
     "refusal_reason": Reason.UNSUPPORTED_LANGUAGE, "standalone_question": None},
])
def test_ask_result_round_trips_through_its_json(changes: dict[str, object]) -> None:
    r = result(**changes)
    d = json.loads(json.dumps(r.to_dict()))
    assert AskResult.from_dict(d) == r
    assert json.loads(json.dumps(AskResult.from_dict(d).to_dict())) == d


def test_ask_result_json_shape_is_the_one_the_api_always_sent() -> None:
    d = json.loads(json.dumps(result().to_dict()))
    assert d["timings"] == {"retrieval": 0.1, "first_token": 0.5, "total": 1.2, "check": 0.05}
    assert d["attribution"] == {"confirmed": 1, "added": 2, "invalid": 0}  # invalid: counted, even when 0
    assert d["signals"]["invented_figures"] == ["2023"] and d["signals"]["p_answerable"] is None
    assert d["filters"] == {"since": "2025-08-01", "until": None, "sites": ["x"]}
    refused = json.loads(json.dumps(result(signals=None, attribution=Attribution(), filters=None).to_dict()))
    assert refused["signals"] == {} and refused["attribution"] == {} and refused["filters"] is None
    assert json.loads(json.dumps(result(refusal_reason=Reason.WEAK_EVIDENCE).to_dict()))["refusal_reason"] == \
        "weak_evidence"


def test_events_encode_and_decode_as_one_codec() -> None:
    for event in (Retrieved([passage()], "Siapa dia?", False, "id"), Token("Dia "), Done(result())):
        name, data = encode(event)
        assert decode(name, json.loads(json.dumps(data))) == event
    assert decode("queued", {"ahead": 2}) is None
    old = {"passages": [], "standalone_question": None, "refused": True}  # a server before the language field
    assert decode("retrieved", old) == Retrieved([], None, True, "")


def test_errors_travel_with_their_class() -> None:
    for error in (BadInputError("bad", "fix"), IndexError_("none"), LimitError("slow", retry_after=3), RagError("x")):
        back = error_from(json.loads(json.dumps(error.to_dict())))
        assert type(back) is type(error) and (back.message, back.hint) == (error.message, error.hint)
    with pytest.raises(IndexError_, match="no index"):
        decode("error", IndexError_("no index at /x").to_dict())
