"""Multi-turn: rewrite a follow-up question ("Kapan itu terjadi?") into a standalone one before retrieval."""

from __future__ import annotations

import re

from rag.backends.generators.base import Generator, complete
from rag.answer.language import SUPPORTED
from rag.text import strip_plain_markers

_REFERS_BACK = re.compile(
    r"\b(itu|tersebut|ini|dia|mereka|beliau|keduanya|sana|it|its|they|them|their|that|this|those|he|she|his|her|there)\b"
    r"|\w+nya\b",
    re.I,
)
REWRITE_SYSTEM = (
    "Rewrite the user's last question so that it can be understood without the conversation: replace words like "
    "'it', 'that', 'itu', 'tersebut', '-nya' with what they refer to. Keep the question's language ({language}). "
    "Output only the rewritten question, nothing else."
)


def needs_rewrite(question: str, history: list[tuple[str, str]]) -> bool:
    """A follow-up refers back to the conversation: short, or with a pronoun or demonstrative."""
    return bool(history) and (len(question.split()) <= 5 or bool(_REFERS_BACK.search(question)))


def rewrite_question(generator: Generator, question: str, history: list[tuple[str, str]], language: str) -> str:
    """A standalone version of the question (the original when the model's rewrite is unusable)."""
    turns = "\n".join(f"User: {q}\nAssistant: {strip_plain_markers(a)[:300]}" for q, a in history[-2:])
    messages = [
        {"role": "system", "content": REWRITE_SYSTEM.format(language=SUPPORTED.get(language, "English"))},
        {"role": "user", "content": f"Conversation:\n{turns}\n\nLast question: {question}\nRewritten question:"},
    ]
    out = complete(generator, messages, max_tokens=60).splitlines()
    candidate = (out[0] if out else "").strip().strip('"“”').strip()
    candidate = re.sub(r"^(rewritten question|pertanyaan)\s*:\s*", "", candidate, flags=re.I)
    if not (5 <= len(candidate) <= 300) or candidate.lower() == question.lower():
        return question
    return candidate
