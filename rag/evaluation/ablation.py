"""Side-by-side evaluation: the assistant with each technique on and off, and the naive peer baseline.

Generation is the cost, so each evidence mode ("sentences", "chunks") is generated once per question with the
gate off, recording the policy's signals; attribution on/off and gate on/off are then re-applied to that one
generation through the same `Assistant.verify` and `decide` the live path uses. The baseline (PrivateGPT's
default recipe) is generated separately. Every row of the table comes from the same run.

Each recipe (the baseline, each evidence mode) has a generator of its own, as it would in a session of its own:
llama.cpp keeps the recipe's previous prompt, so the fixed instructions that open every prompt are read once, not
for every question. (On one shared model the recipes took turns and every prompt was read from its first token,
which is how no user runs either.) "prompt tokens reused" is that prefix; prompt tokens/s counts only tokens read.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.evaluation.metrics import (
    answer_tokens,
    fact_found,
    key_fact_recall,
    key_fact_share,
    mean,
    percentile,
    token_f1,
)
from rag.evaluation.questions import Question
from rag.answer.policy import Policy, Signals
from rag.answer.prompt import STYLES, source_line
from rag.settings import Settings


@dataclass(frozen=True)
class Variant:
    """One row of the table: an evidence mode and prompt style plus the checks switched on (or the baseline)."""

    name: str
    evidence: str  # "sentences", "windows", "chunks" or "naive"
    prompt: str = "plain"  # a prompt style of rag.answer.prompt (STYLES)
    attribution: bool = False  # code places the citations
    verify: bool = False  # figures and names checked against the evidence (near misses respelled)
    gate: bool = False  # first-token refusal probability
    check: bool = False  # the answerability check

    @property
    def generation(self) -> tuple[str, str]:
        """What must be generated for this row: variants sharing it share one generation."""
        return ("naive", "") if self.evidence == "naive" else (self.evidence, self.prompt)

    @property
    def switches(self) -> tuple[bool, bool, bool, bool]:
        """The checks this row applies to its generation."""
        return (self.attribution, self.verify, self.gate, self.check)


SHORT_ANSWER_WORDS = 3  # an answer of this many words or fewer is a fragment unless a bare value was asked for
HALF_FACT = 0.5  # a key fact counts as half-found when this share of its words is in the answer

EVIDENCE = ("sentences", "windows", "chunks")
MODES = tuple((e, p) for e in EVIDENCE for p in STYLES)  # every evidence / prompt style pair
DEFAULT_MODES = (("chunks", "numbered"), ("sentences", "plain"), ("windows", "complete"), ("windows", "open"))
# The rows of one generation: what each technique adds on top of the one before
SWITCHES = ((False, False, False, False), (True, False, False, False), (True, True, False, False),
            (True, True, True, False), (True, True, False, True), (True, True, True, True))


def variant_name(evidence: str, prompt: str, switches: tuple[bool, bool, bool, bool]) -> str:
    """'windows + complete prompt + attribution + verification + check' and so on."""
    words = ("attribution", "verification", "gate", "check")
    return " + ".join([evidence, f"{prompt} prompt"] + [w for w, on in zip(words, switches) if on])


def variants(default: Settings, modes: list[tuple[str, str]] | None = None) -> list[Variant]:
    """Every row (of the given evidence/prompt modes), the baseline first, the configured default last."""
    out = [Variant("naive baseline (PrivateGPT 0.6 recipe)", "naive")]
    for evidence, prompt in (DEFAULT_MODES if modes is None else modes):
        for sw in SWITCHES:
            out.append(Variant(variant_name(evidence, prompt, sw), evidence, prompt, *sw))
    want = (default.evidence, default.prompt_style, default.attribution, default.verify_names, default.gate,
            default.answer_check)
    if not any((v.evidence, v.prompt, *v.switches) == want for v in out):
        out.append(Variant("configured default", *want))
    out.sort(key=lambda v: (v.evidence, v.prompt, *v.switches) == want)
    return out


def support_ok(support: str, q: Question) -> bool:
    """A supporting sentence is right when it holds a key fact or most of the gold passage's words."""
    if any(fact_found(support, f) for f in q.key_facts):
        return True
    gold = set(answer_tokens(q.gold_passage))
    return bool(gold) and len(gold & set(answer_tokens(support))) / len(gold) >= 0.5


def row_policy(policy: Policy, v: Variant) -> Policy:
    """The live policy with this row's switches."""
    return replace(policy, gate=v.gate, check=v.check, refuse_invented_figures=v.verify,
                   refuse_unsupported_names=v.verify, refuse_missing_subjects=v.verify,
                   refuse_off_subject_passages=v.verify, refuse_off_shape=v.verify)


def derive(assistant: Any, generated: Any, q: Question, v: Variant, policy: Policy) -> Any:
    """The result this variant would have given, from the one generation of its evidence mode."""
    if not generated.raw_answer:  # refused before generation (weak evidence, language): same for all variants
        return generated
    signals = generated.signals or Signals()
    checked, decision, stats, signals = assistant.verify(
        generated.raw_answer, generated.passages, signals, generated.language,
        generated.standalone_question or generated.question, attribution=v.attribution, faithful=v.verify,
        policy=row_policy(policy, v),
    )
    r = replace(generated, answer=checked.text, citations=checked.citations, invalid_markers=checked.invalid_markers,
                uncited=decision.uncited, refused=not decision.answer, refusal_reason=decision.reason,
                attribution=stats, signals=signals)
    if r.refused:
        r.citations, r.uncited = [], False
    return r


def prompt_rate(r: Any) -> float | None:
    """Prompt tokens read per second for this answer: the prompt, less the tokens reused from the previous one,
    over the time from retrieval to the first token."""
    t = r.timings
    read = (r.prompt_tokens or 0) - (getattr(r, "cached_prompt_tokens", 0) or 0)
    if read <= 0 or t.first_token is None or t.retrieval is None or t.first_token <= t.retrieval:
        return None
    return read / (t.first_token - t.retrieval)


def score(q: Question, r: Any) -> dict[str, Any]:
    """The table's per-question measures."""
    s: dict[str, Any] = {"refused": bool(r.refused), "prompt_tokens": r.prompt_tokens or None,
                         "cached_tokens": r.cached_prompt_tokens if r.prompt_tokens else None,
                         "first_token_s": r.timings.first_token, "prompt_tok_s": prompt_rate(r)}
    if not r.refused:
        s["short_answer"] = len(answer_tokens(r.answer, drop_stopwords=False)) <= SHORT_ANSWER_WORDS
    if q.answerable:
        facts = key_fact_recall(r.answer, q.key_facts)
        s["key_facts"] = None if facts is None else (0.0 if r.refused else facts)
        half = key_fact_share(r.answer, q.key_facts, HALF_FACT)
        s["key_facts_half"] = None if half is None else (0.0 if r.refused else half)
        if q.reference_answer:
            s["token_f1"] = 0.0 if r.refused else token_f1(r.answer, q.reference_answer)
        if not r.refused:
            s["right_article"] = ([c.source.article_id in q.gold_articles for c in r.citations]
                                  if q.gold_articles else [])
            s["support_ok"] = [support_ok(c.support, q) for c in r.citations]
    return s


def summarise(questions: list[Question], scores: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row from the per-question measures."""
    pairs = list(zip(questions, scores))
    answerable = [s for q, s in pairs if q.answerable]
    near = [s for q, s in pairs if not q.answerable and q.near_topic]
    unanswerable = [s for q, s in pairs if not q.answerable]
    flat = lambda key: [x for s in answerable for x in s.get(key, [])]  # noqa: E731
    # An answer shown that is not right: an answerable question answered without every key fact, or an
    # unanswerable one answered. A refusal of a wrong answer raises "false refusal" and lowers this.
    wrong = [not s["refused"] and (not q.answerable or s["key_facts"] < 1) for q, s in pairs
             if not q.answerable or s.get("key_facts") is not None]
    return {
        "key_facts": mean(s.get("key_facts") for s in answerable),
        "key_facts_half": mean(s.get("key_facts_half") for s in answerable),
        "token_f1": mean(s.get("token_f1") for s in answerable),
        "short_answers": mean(s.get("short_answer") for s in scores),
        "near_topic_refusal": mean(s["refused"] for s in near),
        "unanswerable_refusal": mean(s["refused"] for s in unanswerable),
        "false_refusal": mean(s["refused"] for s in answerable),
        "wrong_answers": mean(wrong),
        "right_article": mean(flat("right_article")),
        "support_precision": mean(flat("support_ok")),
        "prompt_tokens_p50": percentile([s["prompt_tokens"] for s in scores], 50),
        "cached_tokens_p50": percentile([s.get("cached_tokens") for s in scores], 50),
        "first_token_p50": percentile([s["first_token_s"] for s in scores], 50),
        "prompt_tok_s_p50": percentile([s.get("prompt_tok_s") for s in scores], 50),
        "n_answerable": len(answerable), "n_near_topic": len(near), "n_unanswerable": len(unanswerable),
    }


def run(settings: Settings, questions: list[Question], chosen: list[Variant], out: Path,
        progress: bool = True) -> dict[str, Any]:
    """Ask every question once per evidence mode (and the baseline), derive every variant, write the table."""
    from tqdm import tqdm

    from rag.assemble import make_assistant
    from rag.backends.factory import make_generator
    from rag.evaluation.baseline import naive_answer

    modes = sorted({v.generation for v in chosen})
    assistants = {m: make_assistant(settings.model_copy(update={"evidence": m[0], "prompt_style": m[1]}),
                                    own_generator=True) for m in modes if m[0] != "naive"}
    any_assistant = next(iter(assistants.values())) if assistants else make_assistant(settings)
    naive_generator = make_generator(settings, own=True)  # each recipe keeps its own previous prompt
    for a in assistants.values():
        a.warm_up()
    getattr(naive_generator, "warm_up", lambda: None)()
    policy = any_assistant.policy
    scores: dict[str, list[dict[str, Any]]] = {v.name: [] for v in chosen}
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(out / "ablation.jsonl", "w", encoding="utf-8") as log:
        for q in tqdm(questions, desc="ablation", unit="q", file=sys.stderr, disable=not progress):
            generated = {}
            for m in modes:
                if m[0] == "naive":
                    a = any_assistant
                    generated[m] = naive_answer(a.index, a.embedder, naive_generator, q.question,
                                                settings.max_tokens)
                else:
                    generated[m] = assistants[m].ask(q.question, gate=False, record_check=True)
            row: dict[str, Any] = {"id": q.id, "question": q.question, "answerable": q.answerable,
                                   "near_topic": q.near_topic, "variants": {},
                                   # what the model read in each generation: re-verification needs no re-run
                                   "evidence": {"/".join(m): [f"({source_line(p)})\n{p.text}" for p in g.passages]
                                                for m, g in generated.items()}}
            for v in chosen:
                g = generated[v.generation]
                r = g if v.evidence == "naive" else derive(assistants[v.generation], g, q, v, policy)
                s = score(q, r)
                scores[v.name].append(s)
                row["variants"][v.name] = {"answer": r.answer, "refused": r.refused, "reason": r.refusal_reason,
                                           "cited": [c.source.article_id for c in r.citations],
                                           "signals": r.signals.to_dict() if r.signals else {},
                                           "generation": list(v.generation), "switches": list(v.switches), **s}
            log.write(json.dumps(row, ensure_ascii=False) + "\n")
            log.flush()
    table = {v.name: summarise(questions, scores[v.name]) for v in chosen}
    result = {"questions": len(questions), "wall_s": round(time.perf_counter() - t0, 1), "table": table,
              "policy": policy.__dict__, "evidence_chars": settings.evidence_max_chars}
    (out / "ablation.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    default = chosen[-1]
    if (default.gate or default.check) and default.evidence != "naive":
        ungated_name = next((v.name for v in chosen if v.generation == default.generation and v.switches ==
                             (default.attribution, default.verify, False, False)), None)
        if ungated_name:
            result["sweep_of"] = ungated_name
            result["sweep"] = sweep(out / "ablation.jsonl", ungated_name, policy)
    (out / "ablation.md").write_text(render(result), encoding="utf-8")
    return result


GATE_GRID = [(hard, soft, ev, check) for hard in (0.2, 0.35, 0.5, 1.01) for soft in (0.02, 0.05, 0.1, 1.01)
             for ev in (0.97, 2.0) for check in (0.0, 0.3, 0.5, 0.7) if soft <= hard]


def sweep(log: Path, ungated: str, policy: Policy) -> list[dict[str, Any]]:
    """The refusal trade-off curve: re-decide the recorded ungated answers for each gate and check threshold."""
    from rag.answer.policy import decide

    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    curve = []
    for hard, soft, ev, check in GATE_GRID:
        p = replace(policy, gate=True, p_refuse_max=hard, p_refuse_soft=soft, evidence_soft=ev, check=check > 0,
                    check_min=check)
        kf, near, unans, false = [], [], [], []
        for row in rows:
            v = row["variants"][ungated]
            sig = v.get("signals") or {}
            gated = bool(sig) and not decide(_model_signals(sig), p).answer
            refused = v["refused"] or gated
            if row["answerable"]:
                false.append(refused)
                if v.get("key_facts") is not None:
                    kf.append(0.0 if refused else v["key_facts"])
            else:
                unans.append(refused)
                if row["near_topic"]:
                    near.append(refused)
        curve.append({"p_refuse_max": hard, "p_refuse_soft": soft, "evidence_soft": ev, "check_min": check,
                      "key_facts": mean(kf), "near_topic_refusal": mean(near), "unanswerable_refusal": mean(unans),
                      "false_refusal": mean(false)})
    return curve


def _model_signals(sig: dict[str, Any]) -> Signals:
    """The recorded signals the model-judgement checks read (first-token refusal probability, answerability)."""
    evidence = sig.get("evidence_score") or None  # 0.0 in older logs meant "no evidence score" (chunk evidence)
    return Signals(p_refuse=sig.get("p_refuse"), evidence_score=evidence, p_answerable=sig.get("p_answerable"))


def _twin(name: str, v: dict[str, Any], variants: dict[str, Any]) -> str | None:
    """The row with the same generation and checks but neither gate nor answerability check (what it re-decides)."""
    if "switches" in v:
        a, ver, gate, check = v["switches"]
        if not (gate or check):
            return None
        return next((n for n, x in variants.items() if x.get("generation") == v.get("generation")
                     and x.get("switches") == [a, ver, False, False]), None)
    return name.removesuffix(" + gate") if name.endswith(" + gate") else None  # logs from before the check


def regate(v: dict[str, Any], ungated: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """A gated row's recorded scores re-decided with another policy from its ungated twin's record."""
    from rag.answer.policy import decide

    sig = ungated.get("signals") or {}
    gate, check = (v["switches"][2], v["switches"][3]) if "switches" in v else (True, False)
    fires = bool(sig) and not decide(_model_signals(sig), replace(policy, gate=gate, check=check)).answer
    out = dict(ungated, refused=ungated["refused"] or fires)
    if fires and not ungated["refused"]:
        out.update(answer="", reason="model_likely_refuses", cited=[])
        for k in ("key_facts", "key_facts_half", "token_f1"):
            if out.get(k) is not None:
                out[k] = 0.0
        out.pop("short_answer", None)
        out.pop("right_article", None)
        out.pop("support_ok", None)
    return out


def table_from_logs(logs: list[Path], policy: Policy | None = None,
                    only: list[Question] | None = None) -> dict[str, Any]:
    """The table from ablation.jsonl files (runs merged); with a policy, gated rows are re-decided with it;
    with `only`, just those questions (and their current labels) count."""
    rows = [json.loads(x) for log in logs for x in log.read_text(encoding="utf-8").splitlines() if x.strip()]
    if only is not None:
        labels = {q.id: q for q in only}
        rows = [dict(r, answerable=labels[r["id"]].answerable, near_topic=labels[r["id"]].near_topic)
                for r in rows if r["id"] in labels]
    names = list(rows[0]["variants"])
    questions = [Question(r["id"], r["question"], r["answerable"], near_topic=r["near_topic"]) for r in rows]
    scores: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in rows:
        for n in names:
            v = r["variants"][n]
            twin = _twin(n, v, r["variants"]) if policy is not None else None
            if twin:
                v = regate(v, r["variants"][twin], policy)
            scores[n].append({k: v.get(k) for k in ("refused", "prompt_tokens", "cached_tokens", "first_token_s",
                                                    "prompt_tok_s", "key_facts", "key_facts_half", "token_f1",
                                                    "short_answer")}
                             | {k: v[k] for k in ("right_article", "support_ok") if k in v})
    return {n: summarise(questions, scores[n]) for n in names}


def _f(x: Any, digits: int = 3) -> str:
    return "—" if x is None else (f"{x:.{digits}f}" if isinstance(x, float) else str(x))


def render(result: dict[str, Any]) -> str:
    """The ablation table as Markdown, with ratios against the baseline where it ran."""
    table = result["table"]
    base = next((row for name, row in table.items() if name.startswith("naive")), None)
    head = ("| variant | key facts | vs baseline | key facts (half the words) | token F1 | near-topic refusal "
            "| all-unanswerable refusal | false refusal | wrong answers shown | citation → right article "
            "| supporting sentence precision | answers ≤ 3 words | prompt tokens (p50) "
            "| prompt tokens reused (p50) | first token s (p50) | prompt tok/s (p50) |")
    lines = [head, "|" + "---|" * 16]
    for name, row in table.items():
        ratio = (row["key_facts"] / base["key_facts"]) if base and base["key_facts"] and row["key_facts"] is not None else None
        lines.append(
            f"| {name} | {_f(row['key_facts'])} | {_f(ratio, 2) + '×' if ratio else '—'} | "
            f"{_f(row.get('key_facts_half'))} | {_f(row.get('token_f1'))} | "
            f"{_f(row['near_topic_refusal'])} | {_f(row['unanswerable_refusal'])} | {_f(row['false_refusal'])} | "
            f"{_f(row.get('wrong_answers'))} | {_f(row['right_article'])} | {_f(row['support_precision'])} | "
            f"{_f(row.get('short_answers'))} | "
            f"{_f(row['prompt_tokens_p50'], 0)} | {_f(row.get('cached_tokens_p50'), 0)} | "
            f"{_f(row['first_token_p50'], 2)} | "
            f"{_f(row.get('prompt_tok_s_p50'), 0)} |"
        )
    if result.get("sweep"):
        lines += ["", f"Gate thresholds re-applied to the recorded answers of “{result['sweep_of']}” "
                  "(hard: refuse at this first-token refusal probability; soft: refuse at this one when the best "
                  "evidence score is below ev; 1.01 = off; check: refuse when the answerability check's P(yes) is "
                  "below this, 0 = off):", "",
                  "| hard | soft | ev | check | key facts | near-topic refusal | all-unanswerable refusal "
                  "| false refusal |", "|---|---|---|---|---|---|---|---|"]
        seen = set()
        for c in sorted(result["sweep"], key=lambda c: (c["false_refusal"] or 0, -(c["unanswerable_refusal"] or 0))):
            key = (c["key_facts"], c["near_topic_refusal"], c["unanswerable_refusal"], c["false_refusal"])
            if key in seen:
                continue  # same outcome as a line already shown
            seen.add(key)
            lines.append(f"| {c['p_refuse_max']} | {c['p_refuse_soft']} | {c['evidence_soft']} | "
                         f"{c.get('check_min', 0.0)} | {_f(c['key_facts'])} | {_f(c['near_topic_refusal'])} | "
                         f"{_f(c.get('unanswerable_refusal'))} | {_f(c['false_refusal'])} |")
    any_row = next(iter(table.values()))
    lines += ["", f"{result['questions']} questions ({any_row['n_answerable']} answerable, "
              f"{any_row['n_near_topic']} near-topic unanswerable of {any_row['n_unanswerable']} unanswerable)"
              + (f"; wall time {result['wall_s']:.0f} s." if result.get("wall_s") else ".")]
    return "\n".join(lines) + "\n"
