"""Citation checking by code: valid markers kept and resolved, invalid ones removed, refusals recognised."""

from __future__ import annotations

from rag.answer.citations import check_citations, says_not_found
from rag.answer.language import REFUSAL
from rag.types import Passage, Source


def passage(n: int, article: str, text: str) -> Passage:
    source = Source(article, f"T{n}", f"https://x/{n}", "2025-01-0%d" % n, "x", f"/a/{article}.txt")
    return Passage(source=source, start=100, end=100 + len(text), text=text, chunk_ids=[f"{article}#0"], n=n)


P = [
    passage(1, "a", "Menteri Laos adalah Boviengkham Vongdara. Ia berkunjung ke Hanoi."),
    passage(2, "b", "Konvensi Hanoi ditandatangani pada Oktober 2025. Banyak negara hadir."),
]


def test_valid_markers_resolve_in_first_use_order_with_supporting_sentence() -> None:
    c = check_citations("Konvensi ditandatangani Oktober 2025 [2]. Menterinya Boviengkham Vongdara [1].", P)
    assert [x.n for x in c.citations] == [2, 1]
    assert c.citations[0].source.article_id == "b" and c.citations[0].source.url == "https://x/2"
    assert c.citations[0].support == "Konvensi Hanoi ditandatangani pada Oktober 2025."
    assert c.citations[1].support == "Menteri Laos adalah Boviengkham Vongdara."
    assert c.citations[1].start == 100 and not c.uncited and not c.invalid_markers


def test_invalid_markers_are_removed_and_lists_split() -> None:
    c = check_citations("Jawaban [1, 2] dan klaim lain [7][0] serta [Passage 2].", P)
    assert c.text == "Jawaban [1][2] dan klaim lain serta [2]."
    assert c.invalid_markers == [7, 0]
    assert [x.n for x in c.citations] == [1, 2]


def test_answer_without_valid_citation_is_flagged() -> None:
    c = check_citations("Vietnam memenangkan Piala Dunia [9].", P)
    assert c.uncited and c.citations == [] and c.text == "Vietnam memenangkan Piala Dunia."


def test_not_found_replies_are_recognised() -> None:
    assert says_not_found(REFUSAL["id"], REFUSAL["id"])
    assert says_not_found("Informasi tersebut tidak ditemukan dalam bagian yang diberikan.", REFUSAL["id"])
    assert says_not_found("The passages do not contain this information.", REFUSAL["en"])
    assert says_not_found("Sebenarnya, artikel tersebut tidak mengandung jawaban yang spesifik tentang itu.", REFUSAL["id"])
    assert not says_not_found("Produk itu tidak mengandung babi.", REFUSAL["id"])  # an answer that says "contains no"
    assert not says_not_found("Menteri Laos adalah Boviengkham Vongdara [1].", REFUSAL["id"])


def test_a_refusal_after_an_echoed_question_is_a_refusal() -> None:
    """The model sometimes repeats the question, then refuses: the echo answers nothing."""
    echo = ("Tanggal berapakah Taufik Hidayat mengalahkan Lin Dan di final Kejuaraan Dunia di Anaheim? "
            + REFUSAL["id"])
    assert says_not_found(echo, REFUSAL["id"])
    assert says_not_found("Who signed it? What was signed? " + REFUSAL["en"], REFUSAL["en"])
    assert not says_not_found("Apa itu Konvensi Hanoi? Konvensi Hanoi adalah konvensi PBB tentang kejahatan siber.",
                              REFUSAL["id"])
