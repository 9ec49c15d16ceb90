"""The answer policy on fixed signals: every branch, its order, and the reason as an enum."""

from __future__ import annotations

from rag.policy import Decision, Policy, Reason, Signals, decide

POLICY = Policy(gate=True, p_refuse_max=0.35, p_refuse_soft=0.15, evidence_soft=0.86)


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
