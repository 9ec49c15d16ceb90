"""Split cleaned documents into sentence-aligned, overlapping chunks with exact character spans."""

from __future__ import annotations

import re

from rag.types import Chunk, Document

# Abbreviations after which a period does not end a sentence (Indonesian and English news usage).
_ABBREVIATIONS = {
    "no", "dr", "prof", "ir", "drs", "dll", "dsb", "dkk", "tsb", "yth", "jl", "rp", "st", "mr", "mrs",
    "ms", "vs", "etc", "e.g", "i.e", "hlm", "kab", "kec", "tn", "ny", "sdr", "bpk", "pt", "tbk", "u.s",
}
# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and an upper-case
# letter, a digit, or an opening quote/bracket.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"“'‘(\[]?[A-Z0-9À-ÖØ-Þ])")


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`; newlines are always boundaries; spans exclude whitespace."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        base, s = line.start(), line.group()
        start = 0
        for m in _BOUNDARY.finditer(s):
            word = re.search(r"(\S+)$", s[start : m.start() + 1])
            token = word.group(1).rstrip(".!?…\"'”’)]").lower() if word else ""
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue  # "Dr. X", "Johnny G. Plate"
            end = m.start() + len(m.group().rstrip())
            spans.append((base + start, base + end))
            start = m.end()
        if s[start:].strip():
            spans.append((base + start, base + len(s.rstrip())))
    return [(a + offset, b + offset) for a, b in spans if b > a]


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
