"""Sentence-aware chunking: exact spans, overlap, sizes, abbreviations."""

from __future__ import annotations

from rag.ingest.articles import read_article
from rag.ingest.chunk import chunk_document
from rag.text import split_sentences
from rag.ingest.clean import clean_article
from tests.conftest import SEEDS


def test_sentences_respect_abbreviations_and_initials() -> None:
    text = "Menteri Johnny G. Plate hadir. Dr. Budi berbicara dll. Kemudian rapat selesai! Apa hasilnya?"
    got = [text[a:b] for a, b in split_sentences(text)]
    assert got == ["Menteri Johnny G. Plate hadir.", "Dr. Budi berbicara dll. Kemudian rapat selesai!", "Apa hasilnya?"]


def test_chunks_point_exactly_into_the_cleaned_text_and_overlap() -> None:
    for f in sorted(SEEDS.glob("*.txt")):
        doc = clean_article(read_article(f), f.stem)
        chunks = chunk_document(doc, chunk_chars=700, overlap_sentences=1)
        assert chunks and all(doc.text[c.start : c.end] == c.text for c in chunks)
        assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)
        for a, b in zip(chunks, chunks[1:]):
            assert b.start > a.start
            if len(split_sentences(a.text)) > 1:
                assert b.start < a.end, "consecutive chunks share a sentence"
            else:  # a single long sentence cannot be repeated; but nothing is skipped
                assert doc.text[a.end : b.start].strip() == ""
        for c in chunks:  # chunks start and end on sentence boundaries
            assert c.text[0].isupper() or c.text[0] in "\"“(0123456789"
            assert c.text[-1] in ".!?\"”)…:" or c.end == len(doc.text) or doc.text[c.end] == "\n"


def test_chunk_size_setting_is_honoured() -> None:
    doc = clean_article(read_article(SEEDS / "001_5588f0be4399d35c.txt"), "x")
    small = chunk_document(doc, chunk_chars=300, overlap_sentences=0)
    large = chunk_document(doc, chunk_chars=1500, overlap_sentences=0)
    assert len(small) > len(large)
    assert all(b.start >= a.end for a, b in zip(small, small[1:]))  # no overlap when 0
