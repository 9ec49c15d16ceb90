"""The first-token probe: it reads the refusal's probability and, below the gate's limit, sets the refusal aside."""

from __future__ import annotations

import numpy as np

from rag.backends.factory import make_generator
from rag.backends.generators.base import GenerationReport
from rag.backends.generators.llama_cpp import FirstTokenProbe
from rag.settings import Settings


def logits(probs: list[float]) -> np.ndarray:
    """Scores whose softmax is `probs`."""
    return np.log(np.array(probs, dtype=np.float32))


def test_an_unlikely_refusal_that_greedy_would_take_is_set_aside() -> None:
    """Refusal token 0 is the single likeliest (0.4) but answers hold 0.6: the answer starts with token 1."""
    probe = FirstTokenProbe([0], ban_below=0.5)
    out = probe(np.array([], dtype=np.intc), logits([0.4, 0.3, 0.2, 0.1]))
    assert abs(probe.p - 0.4) < 1e-6 and probe.banned
    assert int(np.argmax(out)) == 1 and out[0] == -np.inf


def test_a_likely_refusal_is_left_alone_and_recorded() -> None:
    probe = FirstTokenProbe([0, 2], ban_below=0.5)
    scores = logits([0.4, 0.3, 0.2, 0.1])
    out = probe(np.array([], dtype=np.intc), scores)
    assert abs(probe.p - 0.6) < 1e-6 and not probe.banned
    assert np.array_equal(out, scores)


def test_without_a_limit_nothing_changes() -> None:
    probe = FirstTokenProbe([0])
    scores = logits([0.4, 0.3, 0.2, 0.1])
    assert np.array_equal(probe(np.array([], dtype=np.intc), scores), scores) and not probe.banned


def test_only_the_first_position_is_touched() -> None:
    """Later in the answer the refusal's first token is an ordinary token again."""
    probe = FirstTokenProbe([0], ban_below=0.5)
    probe(np.array([], dtype=np.intc), logits([0.4, 0.3, 0.2, 0.1]))
    later = logits([0.7, 0.1, 0.1, 0.1])
    assert np.array_equal(probe(np.array([5], dtype=np.intc), later), later)


def test_an_unlikely_refusal_that_is_not_the_likeliest_is_removed_but_not_counted() -> None:
    """Removing it changes no greedy answer, so `banned` (the answer differs from greedy) stays false."""
    probe = FirstTokenProbe([3], ban_below=0.5)
    out = probe(np.array([], dtype=np.intc), logits([0.4, 0.3, 0.2, 0.1]))
    assert out[3] == -np.inf and int(np.argmax(out)) == 0 and not probe.banned


def test_the_real_model_writes_another_first_token_when_its_greedy_one_is_set_aside(small_settings: Settings) -> None:
    """With the tiny GGUF: watch the text it writes greedily, then ban its first token at any probability."""
    generator = make_generator(small_settings)
    messages = [{"role": "user", "content": "Name one colour."}]
    greedy = "".join(generator.stream(messages, 8, 0.0)).strip()
    assert greedy
    report = GenerationReport(watch=[greedy], ban_below=1.01)
    other = "".join(generator.stream(messages, 8, 0.0, report)).strip()
    first = generator.first_tokens([greedy])[0]
    assert report.banned and report.p_watch is not None and report.p_watch > 0
    assert generator.llm.tokenize(other.encode("utf-8"), add_bos=False)[0] != first
