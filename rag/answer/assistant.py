"""The ask path shared by the CLI, the UI and evaluation: question -> passages -> streamed answer -> citations."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from rag.ingest.formats import read_bytes, unsupported_reason
from rag.answer.attribution import AttributionParams, attribute, split_claims
from rag.answer.citations import CheckedAnswer, check_citations, says_not_found
from rag.answer.faithful import (
    check_names,
    evidence_language,
    missing_subjects,
    question_subjects,
    unsupported_figures,
)
from rag.ingest.clean import clean_article
from rag.errors import BadInputError
from rag.answer.followup import needs_rewrite, rewrite_question
from rag.answer.events import AskResult, Attribution, Done, Event, Retrieved, Timings, Token
from rag.answer.evidence import EvidenceParams, lead_passages, select_evidence, within_budget
from rag.answer.period import period_question
from rag.backends.embedders.base import Embedder
from rag.backends.generators.base import GenerationReport, Generator
from rag.backends.stores.base import Store, StoreReader
from rag.access.audit import Actor, cli_actor
from rag.ingest.run import IngestReport, check_compatible, ingest, remove_articles
from rag.answer.language import REFUSAL, SUPPORTED, UNSUPPORTED_REPLY, detect_language, text_language
from rag.answer.policy import Decision, Policy, Reason, Signals, decide
from rag.answer.prompt import (
    CHECK_OPTIONS,
    as_seen,
    build_messages,
    check_messages,
    claim_messages,
    instruction_messages,
)
from rag.answer.retrieve import Retrieval, retrieve
from rag.answer.shape import lacks_figure, repeats_question
from rag.settings import Settings
from rag.text import strip_markers
from rag.types import ArticleFilter, Passage

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def validate_question(question: str, settings: Settings) -> str:
    """The question with control characters removed; BadInputError when it cannot be asked."""
    if not isinstance(question, str):
        raise BadInputError("the question must be text")
    q = unicodedata.normalize("NFC", _CONTROL.sub(" ", question.replace("\n", " ").replace("\t", " ")))
    q = re.sub(r"\s+", " ", q).strip()
    if not q:
        raise BadInputError("the question is empty", 'ask something, e.g. rag ask "Apa itu Konvensi Hanoi?"')
    if len(q) > settings.max_question_chars:
        raise BadInputError(
            f"the question is {len(q):,} characters long; the limit is {settings.max_question_chars:,}",
            "ask a shorter, focused question (the limit is the max_question_chars setting)",
        )
    if not re.search(r"\w", q):
        raise BadInputError("the question has no words in it")
    return q


def upload_name(filename: str) -> str:
    """An uploaded file's name when it is a plain file name; BadInputError for folders, '..', hidden or control
    characters (a name is never turned into another one silently)."""
    if not isinstance(filename, str) or not filename.strip():
        raise BadInputError("the upload has no file name")
    if (filename != Path(filename).name or "\\" in filename or filename.startswith(".") or _CONTROL.search(filename)
            or len(filename) > 200):
        raise BadInputError(f"{filename[:80]!r} is not a plain file name",
                            "send the file under its own name, without folders (e.g. article.txt)")
    return filename


class Assistant:
    """Answers questions over one store with one embedder and one generator; every front end asks through it.

    It receives its components (see rag.assemble.make_assistant for the ones chosen from settings)."""

    def __init__(self, settings: Settings, embedder: Embedder, generator: Generator, store: Store) -> None:
        self.settings = settings
        self.embedder = embedder
        self.generator = generator
        self.store = store
        self._checked: StoreReader | None = None
        self._lock = threading.Lock()

    @property
    def index(self) -> StoreReader:
        """The store's current contents (a new ingest, from any process, is seen by the next question)."""
        with self._lock:
            view = self.store.snapshot()
            if view is not self._checked:  # a new generation: check it was built with these settings
                check_compatible(self.store, self.settings)
                self._checked = view
            return view

    def ingest(self, paths: list[Path], rebuild: bool = False, progress: bool = True, actor: Actor | None = None,
               restore: bool = False) -> IngestReport:
        """Ingest articles (recorded in the audit trail as actor); the next question sees the new index."""
        return ingest(paths, self.settings, self.store, self.embedder, rebuild=rebuild, progress=progress,
                      actor=actor, restore=restore)

    def remove(self, article_ids: list[str], actor: Actor | None = None, delete_files: bool = False) -> IngestReport:
        """Take articles out of the index atomically (copies promoted); the next question no longer sees them."""
        return remove_articles(article_ids, self.settings, self.store, self.embedder, actor, delete_files)

    def add_article(self, source: Path, filename: str, actor: Actor | None = None) -> IngestReport:
        """Check an upload as `rag ingest` reads files (same formats, both size limits), keep a copy, index it
        (also when it was removed before: an upload is an explicit wish to have it)."""
        name = upload_name(filename)
        if reason := unsupported_reason(Path(name)):
            raise BadInputError(f"{name}: {reason}")
        st = self.settings
        limit, setting = min((st.ui_max_upload_bytes, "ui_max_upload_bytes"),
                             (st.max_article_bytes, "max_article_bytes"))
        size = source.stat().st_size
        if size > limit:
            raise BadInputError(f"{name}: {size:,} bytes is larger than the {limit:,}-byte limit ({setting} setting)")
        got = read_bytes(source.read_bytes(), Path(name))  # raises with the reason: binary, scanned PDF, mislabelled...
        if not any(clean_article(raw, Path(name).stem).text for raw in got.articles):
            raise BadInputError(f"{name}: no article text is left after removing page boilerplate")
        self.settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        target = self.settings.uploads_dir / name
        tmp = target.with_name(f".{name}.part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return self.ingest([target], progress=False, actor=actor or cli_actor("upload"), restore=True)

    def articles(self) -> list[dict[str, Any]]:
        """Metadata of every indexed article, newest first."""
        return self.index.article_list()

    def model_names(self) -> dict[str, str]:
        """Names of the configured generator and embedder."""
        return {"generator": self.generator.name, "embedder": self.embedder.name}

    def warm_up(self, prime: bool = True) -> None:
        """Load the index and both models now rather than on the first question; with prime, also read the answer
        prompt's fixed instructions (in the collection's language), so the first question reads only its own part,
        as every later one does."""
        _ = self.index
        self.embedder.embed_query("warm up")
        warm = getattr(self.generator, "warm_up", None)
        if warm:
            warm()
        read = getattr(self.generator, "prime", None)
        if prime and read:
            read(instruction_messages(self.collection_language(), self.settings.prompt_style))

    def collection_language(self, sample: int = 30) -> str:
        """'id' or 'en': the language most of the newest articles' titles are written in."""
        titles = [m.get("title") or "" for m in self.index.article_list()[:sample]]
        return text_language(". ".join(titles))

    def retrieve(self, question: str, top_k: int | None = None) -> Retrieval:
        """Hybrid retrieval for a question (validated first)."""
        q = validate_question(question, self.settings)
        return retrieve(self.index, self.embedder, q, self.settings, top_k)

    @property
    def policy(self) -> Policy:
        """The answer policy from the settings."""
        return Policy.from_settings(self.settings)

    def evidence(self, found: Retrieval, question: str, index: StoreReader | None = None,
                 where: ArticleFilter | None = None) -> list[Passage]:
        """What the model reads: sentence windows (default), selected sentences, or the top fused chunks."""
        st = self.settings
        if st.evidence == "chunks" or found.query_vector is None:
            return within_budget(found.passages, st.evidence_max_chars)
        params = EvidenceParams(max_chars=st.evidence_max_chars, max_key=st.evidence_max_key, margin=st.evidence_margin,
                                lexical_weight=st.evidence_lexical_weight, neighbours=st.evidence_neighbours,
                                chunk_prior=st.evidence_chunk_prior,
                                window=st.evidence_window if st.evidence == "windows" else 0)
        return select_evidence(index or self.index, question, found.query_vector, found.ranked, params, where)

    def check(self, messages: list[dict[str, str]]) -> tuple[float | None, float]:
        """The answerability check on an answer prompt: P(yes) (None when the backend cannot tell) and its seconds."""
        return self._yes(check_messages(messages))

    def check_claim(self, messages: list[dict[str, str]], answer: str) -> tuple[float | None, float]:
        """The claim check on a written answer: P(yes) that the context supports it, and its seconds."""
        return self._yes(claim_messages(messages, strip_markers(answer).strip()))

    def _yes(self, messages: list[dict[str, str]]) -> tuple[float | None, float]:
        t0 = time.perf_counter()
        choose = getattr(self.generator, "choose", None)
        probs = choose(messages, CHECK_OPTIONS) if choose else None
        return (round(probs["yes"], 4) if probs else None), round(time.perf_counter() - t0, 4)

    def cited_missing(self, citations: list, question: str, language: str, passages: list[Passage], signals: Signals,
                      index: StoreReader | None = None) -> tuple[str, ...] | None:
        """The question's subjects absent from the whole articles the answer cites (source line and text); None when
        nothing is cited or the question names nothing to look for."""
        ids = list(dict.fromkeys(c.source.article_id for c in citations))
        if not ids or not signals.subjects:
            return None
        store = index or self.index
        texts = [f"({', '.join(x for x in (d.title, d.site, d.date) if x)})\n{d.text}"
                 for d in (store.document(a) for a in ids)]  # as the evidence is shown: the date counts
        same = language == evidence_language(passages)
        return tuple(missing_subjects(question, texts, same_language=same))

    @staticmethod
    def cited_passages_missing(citations: list, passages: list[Passage], question: str, signals: Signals,
                               same_language: bool) -> tuple[str, ...] | None:
        """The question's subjects absent from the passages the answer cites, as the model saw them; None when nothing
        is cited or the question names nothing to look for."""
        cited = {c.n for c in citations}
        texts = [as_seen(p) for p in passages if p.n in cited]
        if not texts or not signals.subjects:
            return None
        return tuple(missing_subjects(question, texts, same_language=same_language))

    def period_evidence(self, found: Retrieval, where: ArticleFilter, index: StoreReader) -> list[Passage]:
        """For a question about a period: the openings of the period's articles, best retrieved first, then by date."""
        ranked = list(dict.fromkeys(index.chunk(pos).article_id for pos, _ in found.ranked))
        dated = [m["article_id"] for m in index.article_list()
                 if not m["duplicate_of"] and where.admits(m["date"], m["site"])]
        in_period, retrieved = set(dated), set(ranked)
        order = [a for a in ranked if a in in_period] + [a for a in reversed(dated) if a not in retrieved]
        return lead_passages(index, order[: self.settings.period_max_articles], self.settings.evidence_max_chars)

    def verify(
        self, raw: str, passages: list[Passage], signals: Signals, language: str, question: str,
        attribution: bool | None = None, policy: Policy | None = None, index: StoreReader | None = None,
        faithful: bool = True,
    ) -> tuple[CheckedAnswer, Decision, Attribution, Signals]:
        """After generation: names respelled where the model misspelt the evidence's (faithful), markers checked (or
        re-attributed by code), figures and names checked against what the model saw; the policy decides."""
        stats = Attribution()
        seen = [as_seen(p) for p in passages] + [question]  # everything the model was shown
        same = language == evidence_language(passages)
        names = check_names(raw, seen + list(REFUSAL.values()), same_language=same)
        if faithful:
            raw = names.text  # near-miss names respelled as the evidence spells them
        if attribution if attribution is not None else self.settings.attribution:
            claims = split_claims(raw)
            vectors = self.embedder.embed_passages([c.text for c in claims]) if claims else None
            params = AttributionParams(threshold=self.settings.attribution_threshold,
                                       token_weight=self.settings.attribution_token_weight)
            checked, counts = attribute(raw, passages, index or self.index, vectors, params) if claims else (
                check_citations(raw, passages), {})
            stats = Attribution(**counts)
        else:
            checked = check_citations(raw, passages)
        signals = replace(
            signals, answer_empty=not raw, said_not_found=bool(raw) and says_not_found(raw, REFUSAL[language]),
            # A figure or name is unsupported when the model saw it nowhere: not in the passages, their source lines
            # (titles, sites, article dates), or the question.
            repeats_question=bool(raw) and repeats_question(raw, question),
            lacks_figure=bool(raw) and lacks_figure(raw, question),
            invented_figures=tuple(unsupported_figures(checked.text, seen)),
            unsupported_names=tuple(names.unsupported),
            cited=bool(checked.citations),
            cited_passages_missing=self.cited_passages_missing(checked.citations, passages, question, signals, same),
        )
        if (policy or self.policy).refuse_off_subject_citations:  # off by default: no article reads on the answer path
            signals = replace(signals, cited_missing_subjects=self.cited_missing(
                checked.citations, question, language, passages, signals, index))
        stats.names_respelled = len(names.snapped)
        return checked, decide(signals, policy or self.policy), stats, signals

    def ask_stream(
        self, question: str, top_k: int | None = None, max_tokens: int | None = None,
        history: list[tuple[str, str]] | None = None, gate: bool | None = None, where: ArticleFilter | None = None,
        record_check: bool = False,
    ) -> Iterator[Event]:
        """Answer a question as events: Retrieved, then Token pieces, then Done with the verified result.

        where: only articles it admits are searched (dates, sites); a question about a period ("what happened in May
        2023") adds that period when `where` sets no dates. gate=False generates even when the first token or the
        answerability check says the model will refuse; record_check runs the checks even when the policy does not
        use them (evaluation records every signal and re-decides), after the answer."""
        t0 = time.perf_counter()
        q = validate_question(question, self.settings)
        language = detect_language(q)
        timings = Timings()
        base = dict(question=q, model=self.model_names(), language=language)
        policy = self.policy if gate is None else replace(
            self.policy, gate=gate, check=gate and self.policy.check, claim_check=gate and self.policy.claim_check,
            refuse_missing_subjects=gate and self.policy.refuse_missing_subjects)
        if language not in SUPPORTED:
            decision = decide(Signals(language_supported=False), policy)
            yield Retrieved([], None, refused=True, language=language)
            timings.total = round(time.perf_counter() - t0, 4)
            yield Done(AskResult(answer=UNSUPPORTED_REPLY, refused=True, citations=[], passages=[], timings=timings,
                                 refusal_reason=decision.reason, **base))
            return
        index = self.index
        standalone = None
        if history and needs_rewrite(q, history):
            standalone = rewrite_question(self.generator, q, history, language)
        search_q = standalone or q
        period = period_question(search_q)
        if period and not (where and (where.since or where.until)):
            where = period.as_filter(where.sites if where else ())
        found = retrieve(index, self.embedder, search_q, self.settings, top_k, where)
        if period and where:
            passages = self.period_evidence(found, where, index)
            weak = not passages  # the period is what was asked: any article dated in it is evidence
        else:
            passages = self.evidence(found, search_q, index, where)
            weak = found.weak or not passages
        for p in passages:
            p.also_reported_by = index.also_reported_by(p.source.article_id)
        timings.retrieval = round(time.perf_counter() - t0, 4)
        scored = [p.scores["evidence"] for p in passages if "evidence" in p.scores]  # none for chunk evidence
        same = not passages or language == evidence_language(passages)
        missing = () if period else tuple(
            missing_subjects(search_q, [as_seen(p) for p in passages], same_language=same))
        signals = Signals(weak_evidence=weak, evidence_score=max(scored, default=None),
                          subjects=0 if period else len(question_subjects(search_q, same_language=same)),
                          missing_subjects=missing)
        base.update(standalone_question=standalone, passages=passages, filters=where or None)
        decision = decide(signals, policy)
        yield Retrieved(passages, standalone, refused=not decision.answer, language=language)

        def refusal(reason: Reason | None) -> Done:
            timings.total = round(time.perf_counter() - t0, 4)
            return Done(AskResult(answer=REFUSAL[language], refused=True, citations=[], timings=timings,
                                  refusal_reason=reason, signals=signals, **base))

        if not decision.answer:
            yield refusal(decision.reason)
            return
        messages = build_messages(search_q, passages, language, self.settings.prompt_style)
        if policy.check and not period:  # a period question is answered by any article in it
            p_answerable, timings.check = self.check(messages)
            signals = replace(signals, p_answerable=p_answerable)
            decision = decide(signals, policy)
            if not decision.answer:  # the model judges the context does not state the answer: no generation
                yield refusal(decision.reason)
                return
        # With the gate on, a refusal is the gate's call (p_refuse_max): below it the model is more likely to answer
        # than to refuse, so the refusal may not start the answer (greedy decoding would take it when its first
        # token is the single likeliest one, though most of the probability is on answers). Read from the settings,
        # not the gate=False override, so evaluation records the answer the live path gives.
        report = GenerationReport(watch=[REFUSAL[language], REFUSAL["en"], REFUSAL["id"]],
                                  ban_below=self.policy.p_refuse_max if self.policy.gate else None)
        pieces: list[str] = []
        stream = self.generator.stream(messages, max_tokens or self.settings.max_tokens, self.settings.temperature,
                                       report)
        for piece in stream:
            if timings.first_token is None:
                timings.first_token = round(time.perf_counter() - t0, 4)
                signals = replace(signals, p_refuse=report.p_watch)
                decision = decide(signals, policy)
                if not decision.answer:  # the model is about to refuse: stop now, nothing was shown
                    stream.close()
                    yield refusal(decision.reason)
                    return
            pieces.append(piece)
            yield Token(piece)
        if report.p_watch is not None:
            signals = replace(signals, p_refuse=report.p_watch, refusal_set_aside=report.banned)
        raw = "".join(pieces).strip()
        if (policy.claim_check or record_check) and raw and not says_not_found(raw, REFUSAL[language]):
            p_supported, timings.claim_check = self.check_claim(messages, raw)
            signals = replace(signals, p_supported=p_supported)
        if record_check and not policy.check and not period:
            # Recorded only (evaluation re-decides with it): asked after the answer, so the first token is timed as
            # the live path gives it; the check reuses the cached context either way.
            p_answerable, timings.check = self.check(messages)
            signals = replace(signals, p_answerable=p_answerable)
        timings.total = round(time.perf_counter() - t0, 4)
        checked, decision, stats, signals = self.verify(raw, passages, signals, language, search_q, policy=policy,
                                                        index=index)
        copies = {p.source.article_id: p.also_reported_by for p in passages}
        for c in checked.citations:
            c.also_reported_by = copies.get(c.source.article_id, [])
        result = AskResult(
            answer=checked.text, refused=False, citations=checked.citations, timings=timings,
            invalid_markers=checked.invalid_markers, uncited=decision.uncited, raw_answer=raw,
            prompt_tokens=report.prompt_tokens or 0, cached_prompt_tokens=report.cached_tokens or 0,
            generated_tokens=report.completion_tokens or 0,
            signals=signals, attribution=stats, **base,
        )
        if not decision.answer:
            result.answer, result.refused, result.citations, result.uncited = REFUSAL[language], True, [], False
            result.refusal_reason = decision.reason
        yield Done(result)

    def ask(self, question: str, **kwargs: Any) -> AskResult:
        """Answer a question and return only the final result."""
        for event in self.ask_stream(question, **kwargs):
            if isinstance(event, Done):
                return event.result
        raise RuntimeError("ask_stream ended without a result")  # unreachable by construction
