"""Split cleaned documents into sentence-aligned, overlapping chunks with exact character spans."""

from __future__ import annotations

from rag.text import split_sentences
from rag.types import Chunk, Document


def chunk_document(doc: Document, chunk_chars: int = 700, overlap_sentences: int = 1) -> list[Chunk]:
    """Group whole sentences into chunks of about `chunk_chars`, repeating `overlap_sentences` between them."""
    sentences = split_sentences(doc.text)
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i
        # Take sentences while the chunk stays within the budget (always at least one sentence).
        while j + 1 < len(sentences) and (
            sentences[j + 1][1] - sentences[i][0] <= chunk_chars  # fits
            or sentences[j][1] - sentences[i][0] < chunk_chars // 3  # too small to stand alone
        ):
            j += 1
        start, end = sentences[i][0], sentences[j][1]
        chunks.append(
            Chunk(
                chunk_id=f"{doc.article_id}#{len(chunks)}",
                article_id=doc.article_id,
                start=start,
                end=end,
                text=doc.text[start:end],
            )
        )
        if j + 1 >= len(sentences):
            break
        i = max(j + 1 - overlap_sentences, i + 1)
    return chunks
