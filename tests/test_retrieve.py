"""Hybrid retrieval on the real seed index: fusion, merging, cross-language questions, weak-evidence gate."""

from __future__ import annotations

import pytest

from rag.backends.factory import make_embedder
from rag.answer.retrieve import merge_passages, retrieve, rrf
from rag.backends.stores.faiss_files import Index


def test_rrf_rewards_agreement() -> None:
    fused = rrf([[1, 2, 3], [3, 1, 4]], [1.0, 1.0], k=60)
    assert [i for i, _ in fused][:2] == [1, 3]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert [i for i, _ in rrf([[1, 2], [2]], [1.0, 0.0], k=60)] == [1, 2]  # weight 0 switches a ranking off


@pytest.fixture(scope="module")
def index(seed_settings) -> Index:
    return Index.load(seed_settings.index_dir)


def test_overlapping_chunks_of_one_article_are_merged(index: Index) -> None:
    a, b = index.chunks[0], index.chunks[1]
    assert a.article_id == b.article_id and b.start < a.end  # consecutive chunks overlap by a sentence
    passages = merge_passages(index, [(0, 0.9), (1, 0.8), (len(index.chunks) - 1, 0.7)], top_k=3, signals={})
    assert len(passages) == 2 and passages[0].chunk_ids == [a.chunk_id, b.chunk_id]
    assert passages[0].text == index.docs[a.article_id].text[a.start : b.end]
    assert [p.n for p in passages] == [1, 2]


@pytest.mark.parametrize(
    "question, article",
    [
        ("Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?", "001_5588f0be4399d35c"),
        ("Apa rumus kerja sama yang diusulkan Perdana Menteri kepada Qatar?", "000_fe7235151a4f32f4"),
        ("Apa isi semangat 5 peningkatan?", "002_6f724baf5e7adcba"),
        ("Di mana pertemuan Menkominfo Johnny G Plate dengan Nguyen Manh Hung?", "003_103e626a5a1d57e5"),
        ("Which company did Luong Tam Quang ask to transfer 5G and 6G technology?", "004_c4081a22872c9916"),
        ("What did Indonesia and Vietnam agree on about the digital space?", "003_103e626a5a1d57e5"),
        ("Who is the Laotian minister of information and communication?", "001_5588f0be4399d35c"),
    ],
)
def test_questions_in_both_languages_find_their_article(seed_settings, index: Index, question: str, article: str) -> None:
    r = retrieve(index, make_embedder(seed_settings), question, seed_settings)
    assert r.passages[0].article_id == article and not r.weak
    p = r.passages[0]
    assert index.docs[article].text[p.start : p.end] == p.text and {"fused", "dense"} <= set(p.scores)


@pytest.mark.parametrize("question", ["Bagaimana cara memasak rendang yang empuk?", "Who won the 2024 Olympic marathon?"])
def test_off_topic_questions_are_weak_evidence(seed_settings, index: Index, question: str) -> None:
    r = retrieve(index, make_embedder(seed_settings), question, seed_settings)
    assert r.weak and r.best_dense < seed_settings.min_dense_score


def test_fusion_modes_and_top_k(seed_settings, index: Index) -> None:
    q = "Perjanjian Ekstradisi Mozambik"
    for mode in ("dense", "lexical", "rrf"):
        s = seed_settings.model_copy(update={"fusion": mode})
        r = retrieve(index, make_embedder(s), q, s, top_k=5)
        assert r.passages[0].article_id == "004_c4081a22872c9916" and len(r.passages) <= 5
