"""Pure metric functions: retrieval ranks, answer overlap and key facts, citation counts, means and percentiles."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Any, Iterable

from rag.answer.language import UNCITED_NOTE
from rag.text import parse_plain_markers, stopwords, strip_unlabelled_markers
from rag.types import Passage

RETRIEVAL_K = 5  # retrieval metrics look at (at least) this many passages, whatever top_k the model gets
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")


# ---------------------------------------------------------------- retrieval metrics


def article_ranking(passages: Iterable[Passage]) -> list[str]:
    """Article ids in passage order, each kept at its first (best) position."""
    return list(dict.fromkeys(p.source.article_id for p in passages))


def hit_at_k(ranking: list[str], gold: Iterable[str], k: int) -> float:
    """1.0 when any gold article is among the first k ranked articles, else 0.0."""
    return float(bool(set(ranking[:k]) & set(gold)))


def reciprocal_rank(ranking: list[str], gold: Iterable[str]) -> float:
    """1 / rank of the first gold article (0.0 when none is ranked)."""
    wanted = set(gold)
    return next((1.0 / rank for rank, a in enumerate(ranking, start=1) if a in wanted), 0.0)


def ndcg_at_k(ranking: list[str], gold: Iterable[str], k: int) -> float:
    """Binary-relevance nDCG@k: DCG of the ranking over the DCG of an ideal ranking of the gold articles."""
    wanted = set(gold)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, a in enumerate(ranking[:k], start=1) if a in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal if ideal else 0.0


# ---------------------------------------------------------------- answer metrics


def strip_answer(text: str) -> str:
    """The answer without [n] markers and without the 'no valid citation' note the pipeline may append."""
    for note in UNCITED_NOTE.values():
        text = text.replace(note, " ")
    return strip_unlabelled_markers(text, " ")


def normalise_text(text: str) -> str:
    """Case-folded NFKC text with one kind of dash, straight quotes and single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _DASHES.sub("-", text).replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", text).strip()


def answer_tokens(text: str, drop_stopwords: bool = True) -> list[str]:
    """Lower-case word tokens without punctuation or [n] markers; stopwords dropped unless asked not to."""
    words = _WORDS.findall(normalise_text(strip_answer(text)))
    if drop_stopwords:
        stop = stopwords()
        content = [w for w in words if w not in stop]
        return content or words  # an all-stopword text keeps its words
    return words


def token_f1(answer: str, reference: str, drop_stopwords: bool = True) -> float:
    """SQuAD-style token F1 between an answer and a reference answer."""
    a, r = answer_tokens(answer, drop_stopwords), answer_tokens(reference, drop_stopwords)
    if not a or not r:
        return float(a == r)
    common = sum((Counter(a) & Counter(r)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def fact_found(answer: str, fact: str) -> bool:
    """Whether a key fact occurs in the answer (case/space-normalised; a number only matches a whole number)."""
    text, needle = normalise_text(strip_answer(answer)), normalise_text(fact)
    if not needle:
        return False
    pattern = r"\s+".join(re.escape(part) for part in needle.split(" "))
    if needle[0].isdigit():
        pattern = r"(?<!\d)(?<!\d[.,])" + pattern
    if needle[-1].isdigit():
        pattern += r"(?![.,]?\d)"
    return re.search(pattern, text) is not None


def key_fact_recall(answer: str, facts: list[str]) -> float | None:
    """Share of the key facts found in the answer (None when there are none to find)."""
    if not facts:
        return None
    return sum(fact_found(answer, f) for f in facts) / len(facts)


def key_fact_share(answer: str, facts: list[str], share: float) -> float | None:
    """Share of the key facts of which at least `share` of the words occur in the answer (None when none)."""
    if not facts:
        return None
    words = set(answer_tokens(answer, drop_stopwords=False))
    found = 0
    for fact in facts:
        needed = answer_tokens(fact, drop_stopwords=False)
        found += fact_found(answer, fact) or (bool(needed) and sum(w in words for w in needed) / len(needed) >= share)
    return found / len(facts)


def gold_passage_given(gold_passage: str, passages: Iterable[Passage]) -> bool:
    """Whether the gold passage text (normalised) lies inside one of the passages the model was given."""
    needle = normalise_text(gold_passage)
    return any(needle in normalise_text(p.text) for p in passages)


# ---------------------------------------------------------------- citation metrics


def count_markers(answer: str, passage_numbers: Iterable[int]) -> int:
    """Number of [n] markers left in a verified answer that name one of the given passages."""
    valid = set(passage_numbers)
    return sum(n in valid for n in parse_plain_markers(answer))


def citation_validity(valid: int, invalid: int) -> float | None:
    """Share of the raw answer's markers that point to a given passage (None when it had no markers)."""
    total = valid + invalid
    return valid / total if total else None


def citation_precision(cited_articles: Iterable[str], gold: Iterable[str]) -> float | None:
    """Share of the distinct cited articles that are gold articles (None when nothing was cited)."""
    cited = set(cited_articles)
    return len(cited & set(gold)) / len(cited) if cited else None


# ---------------------------------------------------------------- aggregation


def mean(values: Iterable[Any]) -> float | None:
    """Mean of the values that are not None (booleans count as 0/1); None when there are none."""
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def percentile(values: Iterable[Any], q: float) -> float | None:
    """The q-th percentile (linear interpolation) of the values that are not None."""
    xs = sorted(float(v) for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
