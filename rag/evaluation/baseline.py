"""The peer baseline: PrivateGPT v0.6's default query recipe, rebuilt on our embedder, index and generator.

Recipe (PrivateGPT settings.yaml defaults and its ContextChatEngine): every sentence embedded on its own,
dense top-2, each hit replaced by its window of 3 sentences either side (LlamaIndex SentenceWindowNodeParser +
MetadataReplacementPostProcessor), no reranker, the windows put into the system message under LlamaIndex's
context template after PrivateGPT's default query system prompt, the question as the user message,
temperature 0.1. Its "citations" are the sources PrivateGPT shows: the articles of the two windows.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rag.answer.citations import says_not_found
from rag.backends.embedders.base import Embedder
from rag.backends.generators.base import GenerationReport, Generator
from rag.answer.language import REFUSAL, detect_language
from rag.backends.stores.base import StoreReader
from rag.types import Citation, Passage

if TYPE_CHECKING:
    from rag.answer.events import AskResult

SYSTEM_PROMPT = (
    "You can only answer questions about the provided context. If you know the answer but it is not based in the "
    "provided context, don't provide the answer, just state the answer is not in the context provided."
)
CONTEXT_TEMPLATE = "Context information is below.\n--------------------\n{context_str}\n--------------------\n"
TOP_K = 2
WINDOW = 3
TEMPERATURE = 0.1


def window_passages(index: StoreReader, embedder: Embedder, question: str) -> list[Passage]:
    """The top-2 sentences by cosine, each widened to 3 sentences either side within its article."""
    hits = index.dense_sentence_search(embedder.embed_query(question), TOP_K)
    passages = []
    for n, (pos, score) in enumerate(hits, start=1):
        s = index.sentence(pos)
        first, last = index.sentence_range(s.article_id)
        lo, hi = max(first, pos - WINDOW), min(last - 1, pos + WINDOW)
        d = index.document(s.article_id)
        # SentenceWindowNodeParser joins the window's sentences with spaces
        text = " ".join(index.sentence_text(i) for i in range(lo, hi + 1))
        passages.append(Passage(
            source=d.source, start=index.sentence(lo).start, end=index.sentence(hi).end, text=text, chunk_ids=[],
            scores={"dense": round(score, 4)}, n=n, sentence_ids=list(range(lo, hi + 1)),
        ))
    return passages


def build_messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    """ContextChatEngine's messages: system prompt + context template in the system message, then the question."""
    context = "\n\n".join(p.text for p in passages)
    system = SYSTEM_PROMPT.strip() + "\n" + CONTEXT_TEMPLATE.format(context_str=context)
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def naive_answer(index: StoreReader, embedder: Embedder, generator: Generator, question: str,
                 max_tokens: int) -> AskResult:
    """Answer one question with the baseline recipe; returns an AskResult like the assistant's."""
    from rag.answer.events import AskResult, Timings

    t0 = time.perf_counter()
    passages = window_passages(index, embedder, question)
    retrieval = time.perf_counter() - t0
    messages = build_messages(question, passages)
    pieces, first = [], None
    report = GenerationReport()
    for piece in generator.stream(messages, max_tokens, TEMPERATURE, report):
        first = first if first is not None else time.perf_counter() - t0
        pieces.append(piece)
    answer = "".join(pieces).strip()
    language = detect_language(question)
    refused = not answer or says_not_found(answer, REFUSAL.get(language, REFUSAL["en"]))
    citations = [] if refused else [
        Citation(n=p.n, source=p.source, passage=p.text, support=p.text, start=p.start, end=p.end)
        for p in passages
    ]
    return AskResult(
        question=question, answer=answer, refused=refused, citations=citations, passages=passages,
        timings=Timings(retrieval=round(retrieval, 4), first_token=round(first, 4) if first else None,
                        total=round(time.perf_counter() - t0, 4)),
        model={"generator": generator.name, "recipe": "privategpt-0.6-default"}, language=language,
        prompt_tokens=report.prompt_tokens or 0, cached_prompt_tokens=report.cached_tokens or 0,
        generated_tokens=report.completion_tokens or 0,
        raw_answer=answer,
    )
