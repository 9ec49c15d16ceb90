"""The answer policy: a pure decision from measured signals to answer or refuse (with a reason), and flags.

The pipeline calls `decide` three times as signals arrive: before generation (language, retrieval strength),
at the first token (the model's own probability of starting its refusal sentence) and after the answer (the model
said "not found", a figure found in no passage, no verified citation). Evaluation re-applies it to recorded
signals to compare policies without generating again. The defaults are the model's own calls (probability 0.5)
and counts, not thresholds fitted to one collection: a soft rule tuned on the dev pages refused good answers on
FacQA's news passages, so it is off unless set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.settings import Settings


class Reason(str, Enum):
    """Why an answer was refused (a value, never text to be parsed)."""

    UNSUPPORTED_LANGUAGE = "unsupported_language"
    WEAK_EVIDENCE = "weak_evidence"
    SUBJECT_NOT_FOUND = "subject_not_found"  # a name or figure the question asks about is in none of the evidence
    CITED_OFF_SUBJECT = "cited_off_subject"  # what the answer cites lacks the question's subjects (see decide)
    MODEL_LIKELY_REFUSES = "model_likely_refuses"  # first-token refusal probability over the threshold
    MODEL_SAID_NOT_FOUND = "model_said_not_found"
    REPEATS_QUESTION = "repeats_question"  # the answer says nothing the question does not (rag.answer.shape)
    NO_FIGURE = "no_figure"  # a how-many / how-much question answered without a figure
    INVENTED_FIGURE = "invented_figure"
    UNSUPPORTED_NAME = "unsupported_name"  # a name in the answer is in none of the evidence the model saw
    NOT_IN_CONTEXT = "not_in_context"  # the answerability check: the model judges the context does not state it
    NOT_SUPPORTED = "not_supported"  # the claim check: the model judges the context does not support its answer
    EMPTY_ANSWER = "empty_answer"


@dataclass(frozen=True)
class Signals:
    """What is known about one question so far; None means not measured (yet)."""

    language_supported: bool = True
    weak_evidence: bool = False
    evidence_score: float | None = None  # best evidence sentence score (cosine + lexical bonus)
    subjects: int | None = None  # how many names and figures the question asks about
    missing_subjects: tuple[str, ...] = ()  # those found in none of the evidence
    cited_missing_subjects: tuple[str, ...] | None = None  # those absent from the whole articles the answer cites
    cited_passages_missing: tuple[str, ...] | None = None  # those absent from the passages the answer cites
    p_refuse: float | None = None  # the model's probability of starting the refusal sentence
    refusal_set_aside: bool | None = None  # the refusal was the likeliest first token but under p_refuse_max: answered
    p_answerable: float | None = None  # the answerability check: P(yes) of "does the context state the answer?"
    p_supported: float | None = None  # the claim check: P(yes) of "is this statement (the answer) supported?"
    answer_empty: bool | None = None
    said_not_found: bool | None = None
    repeats_question: bool | None = None  # every content word of the answer is in the question
    lacks_figure: bool | None = None  # the question asks for a quantity and the answer writes no figure
    invented_figures: tuple[str, ...] = ()
    unsupported_names: tuple[str, ...] = ()
    cited: bool | None = None  # at least one verified citation

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (as evaluation logs record it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Signals:
        """Signals back from their JSON form (lists become tuples; keys this version does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(x) if isinstance(x, list) else x) for k, x in d.items() if k in known})


@dataclass(frozen=True)
class Policy:
    """Which checks apply and their thresholds."""

    gate: bool = True  # use the first-token refusal probability
    p_refuse_max: float = 0.5  # refuse when the model is more likely than not to start its refusal ...
    p_refuse_soft: float = 1.0  # ... or at least this likely while the evidence is only middling (1: off)
    evidence_soft: float = 0.97  # "middling": best evidence score below this
    refuse_invented_figures: bool = True
    refuse_unsupported_names: bool = True
    refuse_missing_subjects: bool = True
    refuse_off_subject_citations: bool = False  # the subject rule again, on the whole articles the answer cites
    refuse_off_subject_passages: bool = True  # the passages the answer cites name none of the question's subjects
    refuse_off_shape: bool = True  # an answer that repeats the question, or gives no figure for a quantity
    check: bool = False  # use the answerability check
    claim_check: bool = False  # use the claim check
    claim_min: float = 0.5  # refuse when the claim check's P(yes) is below this
    check_min: float = 0.5  # refuse when the answerability check's P(yes) is below this (0.5: the model's own call)

    @classmethod
    def from_settings(cls, st: Settings) -> Policy:
        """The policy these settings ask for (figures are always checked: no setting turns that off)."""
        return cls(gate=st.gate, p_refuse_max=st.gate_p_refuse, p_refuse_soft=st.gate_p_refuse_soft,
                   evidence_soft=st.gate_evidence_soft, check=st.answer_check, check_min=st.check_min,
                   refuse_unsupported_names=st.verify_names, refuse_missing_subjects=st.verify_subjects,
                   refuse_off_subject_citations=st.verify_cited_subjects,
                   refuse_off_subject_passages=st.verify_cited_passages, refuse_off_shape=st.verify_shape,
                   claim_check=st.claim_check, claim_min=st.claim_min)


@dataclass(frozen=True)
class Decision:
    """Answer or refuse; `reason` is set exactly when refusing; `uncited` flags an answer with no citation."""

    answer: bool
    reason: Reason | None = None
    uncited: bool = False


ANSWER = Decision(True)


def most_missing(missing: tuple[str, ...] | None, subjects: int | None) -> bool:
    """At least two of the question's distinct names and figures, and most of them, are missing.

    One missing word is common in answerable questions (they add context words their passage lacks: one missing
    refused 8 of 35 answerable FacQA train questions); two distinct ones that are most of what it names are not."""
    n = len(set(missing or ()))
    return bool(subjects) and n >= 2 and 2 * n > (subjects or 0)


def subject_missing(s: Signals) -> bool:
    """The question's subjects are mostly in no evidence (most_missing): it asks about something else."""
    return most_missing(s.missing_subjects, s.subjects)


def cited_off_subject(s: Signals) -> bool:
    """The articles the answer cites, read whole, lack most of the question's subjects: the answer was taken from
    an article about something else (the same rule as subject_missing, on what the answer rests on)."""
    return most_missing(s.cited_missing_subjects, s.subjects)


def cited_passages_off_subject(s: Signals) -> bool:
    """The passages the answer cites (as the model saw them) name none of the question's two or more subjects: the
    answer was read off a passage about something else ("Bupati Kolaka" for "Bupati Blora periode 2005-2010").

    Every subject, not most: a passage that names one of them is about the question's topic, and on FacQA train a
    rule on most refused 6 answerable questions for 9 unanswerable ones. Two or more, as for most_missing: a passage
    often leaves its one subject to the sentences around it (a right answer about WHO cited a window naming
    "kantor pusat" only), and on FacQA train the rule on one subject as well cost that right answer for 4 more
    unanswerable questions refused."""
    missing = set(s.cited_passages_missing or ())
    return (s.subjects or 0) >= 2 and s.cited_passages_missing is not None and len(missing) >= (s.subjects or 0)


def decide(s: Signals, policy: Policy) -> Decision:
    """Apply the checks in order; the first that fails decides the refusal reason."""
    if not s.language_supported:
        return Decision(False, Reason.UNSUPPORTED_LANGUAGE)
    if s.weak_evidence:
        return Decision(False, Reason.WEAK_EVIDENCE)
    if policy.refuse_missing_subjects and subject_missing(s):
        return Decision(False, Reason.SUBJECT_NOT_FOUND)
    if policy.gate and s.p_refuse is not None:
        middling = s.evidence_score is not None and s.evidence_score < policy.evidence_soft
        if s.p_refuse >= policy.p_refuse_max or (middling and s.p_refuse >= policy.p_refuse_soft):
            return Decision(False, Reason.MODEL_LIKELY_REFUSES)
    if policy.check and s.p_answerable is not None and s.p_answerable < policy.check_min:
        return Decision(False, Reason.NOT_IN_CONTEXT)
    if s.answer_empty:
        return Decision(False, Reason.EMPTY_ANSWER)
    if s.said_not_found:
        return Decision(False, Reason.MODEL_SAID_NOT_FOUND)
    if policy.refuse_off_shape and s.repeats_question:
        return Decision(False, Reason.REPEATS_QUESTION)
    if policy.refuse_off_shape and s.lacks_figure:
        return Decision(False, Reason.NO_FIGURE)
    if policy.refuse_off_subject_passages and cited_passages_off_subject(s):
        return Decision(False, Reason.CITED_OFF_SUBJECT)
    if policy.refuse_off_subject_citations and cited_off_subject(s):
        return Decision(False, Reason.CITED_OFF_SUBJECT)
    if policy.claim_check and s.p_supported is not None and s.p_supported < policy.claim_min:
        return Decision(False, Reason.NOT_SUPPORTED)
    if policy.refuse_invented_figures and s.invented_figures:
        return Decision(False, Reason.INVENTED_FIGURE)
    if policy.refuse_unsupported_names and s.unsupported_names:
        return Decision(False, Reason.UNSUPPORTED_NAME)
    return Decision(True, uncited=s.cited is False)
