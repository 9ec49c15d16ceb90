"""The answer policy on fixed signals: every branch, its order, and the reason as an enum."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from rag.answer.assistant import Assistant
from rag.backends.embedders.fake import FakeEmbedder
from rag.backends.generators.fake import FakeGenerator
from rag.backends.stores.faiss_files import FaissStore
from rag.answer.policy import Decision, Policy, Reason, Signals, decide
from rag.settings import Settings
from rag.types import Passage, Source

POLICY = Policy(gate=True, p_refuse_max=0.35, p_refuse_soft=0.15, evidence_soft=0.86, check=True)


def test_a_well_supported_cited_answer_is_given() -> None:
    s = Signals(evidence_score=0.95, p_refuse=0.05, answer_empty=False, said_not_found=False, cited=True)
    assert decide(s, POLICY) == Decision(True, None, uncited=False)


def test_unsupported_language_comes_first() -> None:
    s = Signals(language_supported=False, weak_evidence=True, p_refuse=0.9)
    assert decide(s, POLICY).reason is Reason.UNSUPPORTED_LANGUAGE


def test_weak_evidence_refuses_before_generation() -> None:
    assert decide(Signals(weak_evidence=True), POLICY) == Decision(False, Reason.WEAK_EVIDENCE)


def test_first_token_gate_hard_threshold() -> None:
    assert decide(Signals(evidence_score=0.99, p_refuse=0.35), POLICY).reason is Reason.MODEL_LIKELY_REFUSES
    assert decide(Signals(evidence_score=0.99, p_refuse=0.34), POLICY).answer


def test_first_token_gate_soft_threshold_needs_middling_evidence() -> None:
    assert decide(Signals(evidence_score=0.85, p_refuse=0.2), POLICY).reason is Reason.MODEL_LIKELY_REFUSES
    assert decide(Signals(evidence_score=0.90, p_refuse=0.2), POLICY).answer
    assert decide(Signals(evidence_score=0.85, p_refuse=0.1), POLICY).answer


def test_gate_off_ignores_the_probability() -> None:
    off = Policy(gate=False)
    assert decide(Signals(evidence_score=0.5, p_refuse=0.99), off).answer


def test_gate_waits_for_the_probability() -> None:
    """Before the first token there is no probability: the gate cannot refuse yet."""
    assert decide(Signals(evidence_score=0.5, p_refuse=None), POLICY).answer


def test_after_generation_checks_in_order() -> None:
    done = dict(evidence_score=0.95, p_refuse=0.05)
    assert decide(Signals(**done, answer_empty=True), POLICY).reason is Reason.EMPTY_ANSWER
    assert decide(Signals(**done, said_not_found=True, invented_figures=("7",)), POLICY).reason \
        is Reason.MODEL_SAID_NOT_FOUND
    assert decide(Signals(**done, invented_figures=("7",)), POLICY).reason is Reason.INVENTED_FIGURE
    lenient = Policy(**{**POLICY.__dict__, "refuse_invented_figures": False})
    assert decide(Signals(**done, invented_figures=("7",)), lenient).answer


def test_an_answer_without_citation_is_flagged_not_refused() -> None:
    d = decide(Signals(evidence_score=0.95, p_refuse=0.05, cited=False), POLICY)
    assert d.answer and d.uncited and d.reason is None
    assert not decide(Signals(cited=None), POLICY).uncited  # not checked yet: no flag


def test_reason_is_a_stable_string_value() -> None:
    assert Reason.WEAK_EVIDENCE == "weak_evidence" and Reason("model_likely_refuses") is Reason.MODEL_LIKELY_REFUSES


def test_a_year_from_the_article_date_the_model_was_shown_is_not_invented(tmp_path: Path) -> None:
    """The prompt shows each passage's source line (title, site, date); figures from it are not invented."""
    s = Settings(index_dir=tmp_path / "index")  # verify without attribution needs no index and no model
    assistant = Assistant(s, FakeEmbedder(), FakeGenerator(""), FaissStore(s.index_dir))
    p = Passage(source=Source("a", "ASEAN CERT", None, "2024-10-16", "csa.gov.sg", "a.txt"), start=0, end=40,
                text="The launch was announced on 16 October.", chunk_ids=["a#0"], n=1)
    kept = Signals(evidence_score=0.99, p_refuse=0.0)
    for answer, invented in (("It was announced on October 16, 2024 [1].", ()), ("It was announced in 2023 [1].", ("2023",))):
        _, decision, _, signals = assistant.verify(answer, [p], kept, "en", "When was it announced?", attribution=False)
        assert decision.answer == (not invented) and (decision.reason is Reason.INVENTED_FIGURE) == bool(invented)
        assert signals.invented_figures == invented and signals.cited is True


def test_a_question_whose_subject_is_in_no_evidence_is_refused_before_generation() -> None:
    s = Signals(evidence_score=0.99, subjects=3, missing_subjects=("Blora", "2005"))  # most of them missing
    assert decide(s, POLICY).reason is Reason.SUBJECT_NOT_FOUND
    assert decide(s, Policy(**{**POLICY.__dict__, "refuse_missing_subjects": False})).answer
    assert decide(Signals(evidence_score=0.99, subjects=2, missing_subjects=("Blora",)), POLICY).answer  # half
    assert decide(Signals(evidence_score=0.99, subjects=1, missing_subjects=("Blora",)), POLICY).answer  # just one
    # the same name twice is one subject
    assert decide(Signals(evidence_score=0.99, subjects=3, missing_subjects=("Blora", "Blora")), POLICY).answer
    assert decide(Signals(weak_evidence=True, subjects=1, missing_subjects=("Blora",)), POLICY).reason \
        is Reason.WEAK_EVIDENCE



def test_an_answer_resting_on_an_article_about_something_else_is_refused() -> None:
    cited = Signals(evidence_score=0.99, subjects=3, missing_subjects=(), cited=True)
    off = replace(cited, cited_missing_subjects=("Nepal", "2005"))  # the evidence names them, the cited article not
    on = replace(POLICY, refuse_off_subject_citations=True)
    assert decide(off, POLICY).answer  # off by default (it costs right answers on FacQA)
    assert decide(off, on).reason is Reason.CITED_OFF_SUBJECT
    assert decide(replace(cited, cited_missing_subjects=("Nepal",)), on).answer  # one of three: still about it
    assert decide(replace(cited, cited_missing_subjects=None), on).answer  # nothing cited: nothing to read


def test_the_cited_articles_are_read_whole_for_the_subjects() -> None:
    doc = SimpleNamespace(title="Raja Thailand", site="kompas.com", date="2005-06-01",
                          text="Raja Bhumibol Adulyadej memimpin upacara di Bangkok.")
    index = SimpleNamespace(document=lambda article_id: doc)
    cite = [SimpleNamespace(source=Source("a1", doc.title, None, doc.date, doc.site, "a.txt"))]
    p = Passage(source=cite[0].source, start=0, end=10, text=doc.text, chunk_ids=["c1"])
    a = Assistant.__new__(Assistant)
    s = Signals(subjects=2)
    assert a.cited_missing(cite, "Siapa Raja Nepal sekarang pada 2004?", "id", [p], s, index) == ("Nepal", "2004")
    assert a.cited_missing(cite, "Siapa Raja Thailand pada Juni 2005?", "id", [p], s, index) == ()  # its date
    assert a.cited_missing(cite, "Siapa Raja Thailand sekarang?", "id", [p], s, index) == ()
    assert a.cited_missing([], "Siapa Raja Nepal?", "id", [p], s, index) is None
    assert a.cited_missing(cite, "Siapa Raja Nepal?", "id", [p], Signals(subjects=0), index) is None


def test_an_answer_read_off_a_passage_naming_none_of_the_subjects_is_refused() -> None:
    cited = Signals(evidence_score=0.99, subjects=3, missing_subjects=(), cited=True)
    off = replace(cited, cited_passages_missing=("Blora", "2005", "2010"))  # "Bupati Kolaka ..." for Blora
    assert decide(off, POLICY).reason is Reason.CITED_OFF_SUBJECT  # on by default
    assert decide(off, replace(POLICY, refuse_off_subject_passages=False)).answer
    assert decide(replace(cited, cited_passages_missing=("Blora", "2005")), POLICY).answer  # names one of them
    assert decide(replace(cited, cited_passages_missing=("Blora", "Blora", "2005")), POLICY).answer  # twice is one
    assert decide(replace(cited, cited_passages_missing=None), POLICY).answer  # nothing cited: nothing to read
    assert decide(Signals(subjects=0, cited_passages_missing=(), cited=True), POLICY).answer  # asks about no name
    one = Signals(evidence_score=0.99, subjects=1, cited_passages_missing=("WHO",), cited=True)
    assert decide(one, POLICY).answer  # one subject: often left to the sentences around the window
    assert decide(replace(off, said_not_found=True), POLICY).reason is Reason.MODEL_SAID_NOT_FOUND  # the model first


def test_the_cited_passages_are_read_as_the_model_saw_them() -> None:
    src = Source("a1", "Bupati Kolaka Dilantik", None, "2005-08-01", "kompas.com", "a.txt")
    p1 = Passage(source=src, start=0, end=10, text="Bupati Kolaka H Buhari Matta dilantik kemarin.", chunk_ids=["c1"], n=1)
    p2 = Passage(source=src, start=10, end=20, text="Warga Blora menyambut bupati baru.", chunk_ids=["c2"], n=2)
    cite = lambda *ns: [SimpleNamespace(n=n) for n in ns]  # noqa: E731
    s = Signals(subjects=1)
    missing = Assistant.cited_passages_missing
    assert missing(cite(1), [p1, p2], "Siapa Bupati Blora?", s, True) == ("Blora",)  # only what is cited counts
    assert missing(cite(1, 2), [p1, p2], "Siapa Bupati Blora?", s, True) == ()
    assert missing(cite(1), [p1, p2], "Siapa yang dilantik pada Agustus 2005?", Signals(subjects=2), True) == ()
    assert missing([], [p1, p2], "Siapa Bupati Blora?", s, True) is None
    assert missing(cite(1), [p1, p2], "Siapa Bupati Blora?", Signals(subjects=0), True) is None


def test_the_answerability_check_refuses_below_its_threshold_and_only_when_on() -> None:
    assert decide(Signals(evidence_score=0.99, p_answerable=0.3), POLICY).reason is Reason.NOT_IN_CONTEXT
    assert decide(Signals(evidence_score=0.99, p_answerable=0.5), POLICY).answer
    assert decide(Signals(evidence_score=0.99, p_answerable=0.3), Policy(**{**POLICY.__dict__, "check": False})).answer
    assert decide(Signals(evidence_score=0.99, p_answerable=None), POLICY).answer  # a backend that cannot tell


def test_an_unsupported_name_refuses_after_figures() -> None:
    done = dict(evidence_score=0.95, p_refuse=0.05)
    assert decide(Signals(**done, unsupported_names=("Thanh",)), POLICY).reason is Reason.UNSUPPORTED_NAME
    assert decide(Signals(**done, invented_figures=("7",), unsupported_names=("Thanh",)), POLICY).reason \
        is Reason.INVENTED_FIGURE


def test_the_default_policy_matches_the_default_settings() -> None:
    """One set of defaults: the policy from default settings is the Policy dataclass's default."""
    assert Policy.from_settings(Settings()) == Policy()
    changed = Settings(gate=False, gate_p_refuse=0.7, answer_check=True, verify_names=False, claim_min=0.6)
    assert Policy.from_settings(changed) == Policy(gate=False, p_refuse_max=0.7, check=True,
                                                   refuse_unsupported_names=False, claim_min=0.6)


def test_an_answer_of_the_wrong_shape_is_refused_after_the_models_own_refusal() -> None:
    done = dict(evidence_score=0.95, p_refuse=0.05, cited=True)
    assert decide(Signals(**done, repeats_question=True), POLICY).reason is Reason.REPEATS_QUESTION
    assert decide(Signals(**done, lacks_figure=True), POLICY).reason is Reason.NO_FIGURE
    assert decide(Signals(**done, lacks_figure=True, said_not_found=True), POLICY).reason \
        is Reason.MODEL_SAID_NOT_FOUND
    off = replace(POLICY, refuse_off_shape=False)
    assert decide(Signals(**done, repeats_question=True, lacks_figure=True), off).answer
    assert not Policy.from_settings(Settings(verify_shape=False)).refuse_off_shape
