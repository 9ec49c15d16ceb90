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


def test_warm_up_reads_the_instructions_so_the_first_question_reuses_them(small_settings: Settings) -> None:
    """With the tiny GGUF and the seed index: after warm_up the first question reads only what follows the fixed
    instructions; warm_up(prime=False) leaves a context of its own empty, so the same question reads them too."""
    from rag.answer.prompt import instruction_messages
    from rag.assemble import make_assistant

    question = "Apa itu Konvensi Hanoi?"
    primed = make_assistant(small_settings, own_generator=True)
    primed.warm_up()
    assert primed.collection_language() == "id"  # the seed articles are Indonesian
    first = primed.ask(question, gate=False, max_tokens=4)
    cold = make_assistant(small_settings, own_generator=True)
    cold.warm_up(prime=False)
    unprimed = cold.ask(question, gate=False, max_tokens=4)
    system = instruction_messages("id", small_settings.prompt_style)[0]["content"]
    instructions = primed.generator.count_tokens(system.split("--------------------")[0])
    assert unprimed.cached_prompt_tokens == 0
    assert first.cached_prompt_tokens >= instructions > 50
    assert first.prompt_tokens == unprimed.prompt_tokens  # the same prompt, only less of it read


def test_the_first_question_benchmark_compares_a_primed_context_with_an_unprimed_one(small_settings: Settings) -> None:
    """The benchmark's plumbing with the tiny GGUF: each side a fresh context, only ours reuses the instructions."""
    from rag.evaluation.benchmark import bench_first_question, markdown_table

    res = bench_first_question(small_settings, ["Apa itu Konvensi Hanoi?"], runs=1)
    assert res["ours"]["reused_tokens"] > 50 and res["baseline"]["reused_tokens"] == 0
    assert res["ours"]["prompt_tokens"] == res["baseline"]["prompt_tokens"]
    assert res["ours"]["read_tokens"] < res["baseline"]["read_tokens"]
    assert "first question after start-up: time to first token" in markdown_table({"first_question": res})
