"""Evidence selection and verified attribution on fixed inputs: a hand-made index whose vectors we choose."""

from __future__ import annotations

import numpy as np

from rag.answer.attribution import AttributionParams, attribute, hybrid_similarity, split_claims
from rag.text import split_sentences
from rag.answer.evidence import EvidenceParams, select_evidence
from rag.backends.stores.faiss_files import Index
from rag.types import Chunk, Document, Passage, Sentence

DIM = 8


def unit(*weights: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


def make_index(texts: dict[str, str], vectors: dict[tuple[str, int], np.ndarray]) -> Index:
    """One document per text; sentence i of article a gets vectors[(a, i)] (else an unrelated direction)."""
    docs, chunks, sentences, rows = [], [], [], []
    for aid, text in texts.items():
        docs.append(Document(aid, f"{aid}.txt", f"Title {aid}", f"https://x/{aid}", "2025-01-01", None, "x.id",
                             text, aid))
        chunks.append(Chunk(f"{aid}#0", aid, 0, len(text), text))
        for i, (a, b) in enumerate(split_sentences(text)):
            sentences.append(Sentence(aid, a, b))
            rows.append(vectors.get((aid, i), unit(0, 0, 0, 0, 0, 0, 0, 1)))
    chunk_vectors = np.zeros((len(chunks), DIM), dtype=np.float32)
    meta = {"fingerprint": {"dim": DIM}}
    return Index.build(docs, chunks, chunk_vectors, meta, sentences, np.vstack(rows))


LAOS = ("Menteri Laos Boviengkham Vongdara tiba di Hanoi. Ia bertemu Menteri Nguyen Manh Hung pada 4 Agustus 2025. "
        "Kedua menteri membahas transformasi digital. Cuaca hari itu cerah sekali.")
QATAR = "Qatar ingin membangun pusat data di Timur Tengah. Menteri Al Mannai menyatakan kesediaan berinvestasi."
COPY = "Ia bertemu Menteri Nguyen Manh Hung pada 4 Agustus 2025."  # a syndicated sentence from another site

Q = unit(1, 0, 0, 0)


def test_selection_takes_the_best_sentences_with_neighbours_and_merges_them() -> None:
    index = make_index({"laos": LAOS, "qatar": QATAR},
                       {("laos", 1): unit(1, 0.1), ("laos", 2): unit(0.6, 1), ("qatar", 1): unit(0.2, 0, 1)})
    p = EvidenceParams(max_key=2, margin=0.5, max_chars=400, neighbours=1, lexical_weight=0.0)
    passages = select_evidence(index, "Kapan bertemu Nguyen Manh Hung?", Q, [(0, 1.0), (1, 0.5)], p)
    first = passages[0]
    assert first.source.article_id == "laos" and first.n == 1
    # key sentences 1 and 2 of laos plus neighbours 0 and 3, adjacent: one snippet covering the whole article
    assert first.text == LAOS and first.sentence_ids == [0, 1, 2, 3]
    assert sum(len(x.text) for x in passages) <= 400 + len(LAOS)


def test_selection_respects_the_budget_and_the_margin() -> None:
    index = make_index({"laos": LAOS, "qatar": QATAR}, {("laos", 1): unit(1, 0.1), ("qatar", 1): unit(0.3, 0, 1)})
    p = EvidenceParams(max_key=4, margin=0.05, max_chars=70, neighbours=1, lexical_weight=0.0)
    passages = select_evidence(index, "Kapan?", Q, [(0, 1.0), (1, 0.5)], p)
    assert [x.text for x in passages] == ["Ia bertemu Menteri Nguyen Manh Hung pada 4 Agustus 2025."]


def test_a_syndicated_copy_of_the_same_sentence_is_given_once() -> None:
    index = make_index({"laos": LAOS, "copy": COPY}, {("laos", 1): unit(1, 0.1), ("copy", 0): unit(1, 0.12)})
    p = EvidenceParams(max_key=4, margin=0.5, max_chars=800, neighbours=0, lexical_weight=0.0)
    passages = select_evidence(index, "Kapan?", Q, [(0, 1.0), (1, 0.9)], p)
    texts = [x.text for x in passages]
    assert sum("Nguyen Manh Hung pada 4 Agustus" in t for t in texts) == 1


def test_lexical_overlap_breaks_a_dense_tie() -> None:
    index = make_index({"laos": LAOS, "qatar": QATAR}, {("laos", 2): unit(1, 0.2), ("qatar", 1): unit(1, 0.2)})
    p = EvidenceParams(max_key=1, margin=0.0, max_chars=800, neighbours=0, lexical_weight=0.2)
    passages = select_evidence(index, "Siapa menyatakan kesediaan berinvestasi?", Q, [(0, 1.0), (1, 0.9)], p)
    assert passages[0].source.article_id == "qatar" and passages[0].scores["lexical"] > 0


# ---------------------------------------------------------------- attribution


def two_passages() -> tuple[Index, list[Passage]]:
    index = make_index({"laos": LAOS, "qatar": QATAR}, {("laos", 1): unit(1, 0, 0), ("qatar", 1): unit(0, 1, 0)})
    passages = []
    for n, (aid, ids) in enumerate([("laos", [0, 1, 2]), ("qatar", [4, 5])], start=1):
        d = index.docs[aid]
        a, b = index.sentences[ids[0]].start, index.sentences[ids[-1]].end
        passages.append(Passage(d.source, a, b, d.text[a:b], [], n=n,
                                sentence_ids=ids))
    return index, passages


P = AttributionParams(token_weight=0.5, cosine_floor=0.75, threshold=0.45, min_threshold=0.25, keep_margin=0.1)


def test_a_marker_pointing_to_the_wrong_passage_is_moved() -> None:
    index, passages = two_passages()
    answer = "Boviengkham Vongdara bertemu Nguyen Manh Hung pada 4 Agustus 2025 [2]."
    checked, stats = attribute(answer, passages, index, np.vstack([unit(1, 0, 0)]), P)
    assert checked.text == "Boviengkham Vongdara bertemu Nguyen Manh Hung pada 4 Agustus 2025 [1]."
    assert stats["moved"] == 1 and [c.source.article_id for c in checked.citations] == ["laos"]
    assert checked.citations[0].support == "Ia bertemu Menteri Nguyen Manh Hung pada 4 Agustus 2025."


def test_a_right_marker_is_confirmed_and_a_missing_one_added() -> None:
    index, passages = two_passages()
    answer = "Al Mannai menyatakan kesediaan berinvestasi [2]. Ia bertemu Nguyen Manh Hung pada 4 Agustus 2025."
    checked, stats = attribute(answer, passages, index, np.vstack([unit(0, 1, 0), unit(1, 0, 0)]), P)
    assert checked.text == ("Al Mannai menyatakan kesediaan berinvestasi [2]. "
                            "Ia bertemu Nguyen Manh Hung pada 4 Agustus 2025 [1].")
    assert stats["confirmed"] == 1 and stats["added"] == 1
    assert [c.n for c in checked.citations] == [2, 1]


def test_an_unsupported_claim_loses_its_marker_and_invalid_markers_are_listed() -> None:
    index, passages = two_passages()
    answer = "Al Mannai menyatakan kesediaan berinvestasi [2]. Vietnam memenangkan Piala Dunia sepak bola [1][9]."
    checked, stats = attribute(answer, passages, index, np.vstack([unit(0, 1, 0), unit(0, 0, 0, 1)]), P)
    assert checked.text == "Al Mannai menyatakan kesediaan berinvestasi [2]. Vietnam memenangkan Piala Dunia sepak bola."
    assert stats["dropped"] == 1 and checked.invalid_markers == [9]


def test_markers_opening_a_sentence_belong_to_the_previous_one() -> None:
    claims = split_claims("Menteri Laos tiba di Hanoi. [1] Qatar ingin pusat data [2].")
    assert [(c.text, c.proposed) for c in claims] == [("Menteri Laos tiba di Hanoi.", [1]),
                                                      ("Qatar ingin pusat data.", [2])]


def test_hybrid_similarity_mixes_terms_and_cosine() -> None:
    assert hybrid_similarity({"a", "b"}, {"a", "b", "c"}, 1.0, P) == 1.0
    assert hybrid_similarity({"a", "b"}, {"c"}, 0.75, P) == 0.0
    assert abs(hybrid_similarity({"a", "b"}, {"a"}, 0.875, P) - 0.5) < 1e-9


LONG = ("Satelit Merah Putih 2 diluncurkan dari Florida. Peluncuran dilakukan dengan roket Falcon 9. "
        "Satelit ini akan ditempatkan di orbit 113 derajat Bujur Timur. Kapasitasnya 32 Gbps. "
        "Operatornya Telkomsat. Biaya peluncurannya tidak disebutkan oleh operator. Cuaca di lokasi cerah.")
SATRIA = "SATRIA-1 ditempatkan di orbit 146 derajat Bujur Timur. Satelit itu milik pemerintah."


def test_windows_keep_the_context_that_names_the_subject() -> None:
    """The key sentence says "this satellite"; its window and the opening sentence say which one."""
    index = make_index({"mp2": LONG, "satria": SATRIA}, {("mp2", 2): unit(1, 0.1), ("satria", 0): unit(0.8, 0.6)})
    p = EvidenceParams(max_key=2, margin=0.5, max_chars=260, window=1, lexical_weight=0.0)
    passages = select_evidence(index, "Di orbit berapa Merah Putih 2 ditempatkan?", Q, [(0, 1.0), (1, 0.5)], p)
    first = passages[0]
    assert first.source.article_id == "mp2" and first.n == 1
    # the key sentence (2) with one sentence each side: contiguous, and it reaches the opening sentence (0)
    assert first.sentence_ids == [0, 1, 2, 3] and first.text.startswith("Satelit Merah Putih 2")
    # an article's passages stay together and in reading order; the budget holds
    assert [x.source.article_id for x in passages] == sorted([x.source.article_id for x in passages],
                                                          key=lambda a: a != "mp2")
    assert sum(len(x.text) for x in passages) <= 260


def test_windows_bring_the_opening_sentence_when_the_window_does_not_reach_it() -> None:
    index = make_index({"mp2": LONG}, {("mp2", 5): unit(1, 0.1)})
    p = EvidenceParams(max_key=1, margin=0.5, max_chars=400, window=1, lexical_weight=0.0)
    passages = select_evidence(index, "Berapa biayanya?", Q, [(0, 1.0)], p)
    assert [x.sentence_ids for x in passages] == [[0], [4, 5, 6]]  # the opening, then the window, in reading order
    assert passages[0].text == "Satelit Merah Putih 2 diluncurkan dari Florida."


def test_sentences_mode_is_unchanged_by_windows_being_available() -> None:
    index = make_index({"mp2": LONG}, {("mp2", 5): unit(1, 0.1)})
    p = EvidenceParams(max_key=1, margin=0.5, max_chars=400, neighbours=1, lexical_weight=0.0)
    assert [x.sentence_ids for x in select_evidence(index, "Berapa biayanya?", Q, [(0, 1.0)], p)] == [[4, 5, 6]]
