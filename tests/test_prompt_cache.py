"""llama.cpp's prompt cache as the generator reports it: the prefix kept from the previous prompt is not read again."""

from __future__ import annotations

from rag.backends.factory import make_generator
from rag.backends.generators.base import GenerationReport
from rag.backends.generators.llama_cpp import reused_prefix
from rag.settings import Settings


def test_the_reused_prefix_is_the_common_start_less_the_token_read_again_for_the_logits() -> None:
    assert reused_prefix([], [1, 2, 3]) == 0
    assert reused_prefix([1, 2, 9, 9], [1, 2, 3, 4]) == 2
    assert reused_prefix([5, 2, 3], [1, 2, 3]) == 0
    assert reused_prefix([1, 2, 3, 7, 8], [1, 2, 3]) == 2  # the whole prompt was cached: its last token is re-read


def test_a_second_prompt_with_the_same_instructions_reuses_them_and_an_own_generator_starts_cold(
    small_settings: Settings,
) -> None:
    """With the tiny GGUF: the shared system message is kept; a generator of its own has no previous prompt."""
    shared = make_generator(small_settings)
    own = make_generator(small_settings, own=True)
    assert own is not shared and make_generator(small_settings) is shared
    system = {"role": "system", "content": "You answer questions about colours in one word. " * 8}
    reports = []
    for question in ("Name one colour.", "Name another colour, please."):
        report = GenerationReport()
        assert "".join(own.stream([system, {"role": "user", "content": question}], 4, 0.0, report)).strip()
        reports.append(report)
    instructions = own.count_tokens(system["content"])
    assert reports[0].cached_tokens == 0  # nothing before it in this generator's context
    assert instructions <= reports[1].cached_tokens < reports[1].prompt_tokens
