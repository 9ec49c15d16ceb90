"""The store contract: what every store does, checked on each one against an exact reference computed here.

A store passes by subclassing `StoreContract` and overriding two fixtures: `make_store` (a function that opens a new
handle on one empty store, as another process would) and `store_source` (Python code that opens it in a child
process, for the kill -9 test). Vectors come from the fake embedder (deterministic); texts are the seed articles
and three small dated articles from other sites. The reference for searches is exact: cosine over the live
records' vectors, and BM25 as bm25s indexes the live chunks from scratch (not the store's own code).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import bm25s
import numpy as np
import psycopg
import pytest

from rag.backends.embedders.fake import FakeEmbedder
from rag.backends.stores.base import ArticleRecord, IndexStats, Store, StoreReader, fingerprint
from rag.backends.stores.faiss_files import FaissStore
from rag.backends.stores.lexical import analyze
from rag.backends.stores.postgres import PostgresStore
from rag.backends.stores.postgres_local import local_postgres
from rag.errors import IndexMissingError
from rag.ingest.articles import read_article
from rag.ingest.chunk import chunk_document
from rag.text import split_sentences
from rag.ingest.clean import clean_article
from rag.ingest.run import ingest
from rag.settings import PROJECT_ROOT
from rag.types import ArticleFilter, Document, Sentence
from tests.conftest import SEEDS, make_settings

DIM = 64
FINGERPRINT = fingerprint("fake", "passage: ", DIM, 700, 1)
EMBEDDER = FakeEmbedder(DIM)
OTHERS = {  # (site, date, text): small articles from other sites, for the filters
    "pelabuhan": ("makassarnews.id", "2024-03-14", "Pelabuhan Baru di Makassar\n\nPemerintah meresmikan pelabuhan peti "
                  "kemas baru di Makassar pada hari Kamis. Pelabuhan itu mampu menampung dua juta kontainer per tahun."
                  "\n\nMenteri Perhubungan mengatakan pelabuhan akan memangkas biaya logistik di kawasan timur."),
    "banjir": ("semarangpos.com", None, "Banjir Rendam Ribuan Rumah\n\nHujan deras selama tiga hari menyebabkan banjir "
               "di Semarang. Ribuan rumah terendam dan warga mengungsi ke sekolah terdekat.\n\nBadan penanggulangan "
               "bencana mengirim perahu karet dan bantuan makanan untuk para pengungsi di Semarang."),
    "kopi": ("kabaraceh.id", "2024-10-02", "Ekspor Kopi Naik\n\nEkspor kopi Indonesia naik dua belas persen tahun ini. "
             "Petani di Aceh dan Lampung menikmati harga yang lebih baik.\n\nPemerintah mendorong hilirisasi agar kopi "
             "diekspor dalam bentuk olahan, bukan biji mentah, kata Menteri Perdagangan di Jakarta."),
}
QUERIES = ["Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?", "pelabuhan peti kemas Makassar",
           "Konvensi Hanoi tentang kejahatan siber", "banjir di Semarang dan pengungsi", "ekspor kopi Aceh Indonesia",
           "What did Indonesia and Vietnam agree on in Labuan Bajo?", "transformasi digital kerja sama"]
FILTERS = [ArticleFilter("2024-01-01", "2024-12-31"), ArticleFilter(sites=("indonews",)),
           ArticleFilter("2023-05-01", "2023-05-31", ("INDONEWS", "vietnam")), ArticleFilter(sites=("nowhere",)),
           ArticleFilter(until="2024-06-30")]


def _documents() -> dict[str, Document]:
    docs = {f.stem: clean_article(read_article(f), f.stem) for f in sorted(SEEDS.glob("*.txt"))}
    for aid, (site, day, text) in OTHERS.items():
        d = Document(article_id=aid, source_file=f"/articles/{aid}.txt", title=text.split("\n")[0], url=None, date=day,
                     date_source="file" if day else None, site=site, text=text, content_hash=aid)
        docs[aid] = d
    return docs


DOCS = _documents()


def record(doc: Document) -> ArticleRecord:
    """An article as ingest hands it to a store: chunks, sentences and their (fake) vectors."""
    chunks = chunk_document(doc, 700, 1)
    sentences = [Sentence(doc.article_id, a, b) for a, b in split_sentences(doc.text)]
    return ArticleRecord(doc, chunks, EMBEDDER.embed_passages([c.text for c in chunks]), sentences,
                         EMBEDDER.embed_passages([doc.text[s.start : s.end] for s in sentences]))


def edited(aid: str, extra: str) -> ArticleRecord:
    """A new version of an article: one sentence added at the end."""
    d = DOCS[aid]
    return record(Document(**{**vars(d), "text": d.text + "\n" + extra, "content_hash": d.content_hash + "+"}))


def slow_records(ids: list[str], delay: float) -> Iterator[ArticleRecord]:
    """Records as a slow embedder would hand them over (for the kill -9 test's child process)."""
    for aid in ids:
        time.sleep(delay)
        yield edited(aid, f"Revisi {aid}.")


class Reference:
    """The exact answers for a set of live records: what every store must return."""

    def __init__(self, records: list[ArticleRecord]) -> None:
        self.records = {r.doc.article_id: r for r in records}
        self.chunks = [(c, v) for r in self.records.values() for c, v in zip(r.chunks, r.chunk_vectors)]
        self.sentences = [(s, v, r.doc.text[s.start : s.end]) for r in self.records.values()
                          for s, v in zip(r.sentences, r.sentence_vectors)]
        self.bm25 = bm25s.BM25()
        if self.chunks:
            self.bm25.index([analyze(c.text) or [""] for c, _ in self.chunks], show_progress=False)

    def admitted(self, aid: str, where: ArticleFilter | None) -> bool:
        d = self.records[aid].doc
        return not where or where.admits(d.date, d.site)

    def dense(self, q: np.ndarray, k: int, where: ArticleFilter | None) -> list[tuple[float, tuple]]:
        hits = [(float(v @ q), (c.article_id, c.start, c.end)) for c, v in self.chunks if self.admitted(c.article_id, where)]
        return top(hits, k)

    def dense_sentences(self, q: np.ndarray, k: int, where: ArticleFilter | None) -> list[tuple[float, tuple]]:
        hits = [(float(v @ q), (s.article_id, s.start, s.end)) for s, v, _ in self.sentences
                if self.admitted(s.article_id, where)]
        return top(hits, k)

    def lexical(self, query: str, k: int, where: ArticleFilter | None) -> list[tuple[float, tuple]]:
        terms = [t for t in analyze(query) if t in getattr(self.bm25, "vocab_dict", {})]
        if not terms:
            return []
        scores = self.bm25.get_scores(terms)
        hits = [(float(s), (c.article_id, c.start, c.end)) for (c, _), s in zip(self.chunks, scores)
                if s > 0 and self.admitted(c.article_id, where)]
        return top(hits, k)


def top(hits: list[tuple[float, tuple]], k: int) -> list[tuple[float, tuple]]:
    """The k best (score, item), ties in item order."""
    return sorted(hits, key=lambda h: (-h[0], h[1]))[:k]


def found(view: StoreReader, hits: list[tuple[int, float]], unit: str) -> list[tuple[float, tuple]]:
    """A store's hits as (score, item): keys differ between stores, items do not. Best first, as returned."""
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True), "hits must come best first"
    at = view.chunk if unit == "chunk" else view.sentence
    return [(s, (at(k).article_id, at(k).start, at(k).end)) for k, s in hits]


def same_ranking(got: list[tuple[float, tuple]], want: list[tuple[float, tuple]], rel: float = 1e-4) -> None:
    """The same scores in the same order (within rel), the same items except where scores tie."""
    assert len(got) == len(want), (got, want)
    for (gs, _), (ws, _) in zip(got, want):
        assert gs == pytest.approx(ws, rel=rel, abs=1e-5), (got, want)
    tie = lambda hits: sorted((round(s, 3), item) for s, item in hits)  # noqa: E731
    assert {i for s, i in got if s > (want[-1][0] if want else 0) + 1e-4} == \
           {i for s, i in want if s > (want[-1][0] if want else 0) + 1e-4}, (tie(got), tie(want))


class StoreContract:
    """Every store: override `make_store` and `store_source`; the tests below then run on it."""

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        """A function that opens a new handle on one empty store (each call: like another process)."""
        raise NotImplementedError

    @pytest.fixture
    def store_source(self) -> str:
        """Python source that opens the same store in a child process, as a variable named `store`."""
        raise NotImplementedError

    # --- helpers -------------------------------------------------------------------------------------------
    def matches(self, store: Store, ref: Reference) -> None:
        """Everything a reader offers agrees with the reference (contents, lookups and all three searches)."""
        view = store.snapshot()
        assert isinstance(view, StoreReader)
        assert store.documents() == {aid: r.doc for aid, r in ref.records.items()}
        assert view.article_ids() == set(ref.records)
        assert view.article_list() == sorted((r.doc.meta() for r in ref.records.values()),
                                             key=lambda m: (m["date"] or "", m["article_id"]), reverse=True)
        assert (view.chunk_count(), view.sentence_count()) == (len(ref.chunks), len(ref.sentences))
        copies = sum(1 for r in ref.records.values() if r.doc.duplicate_of)
        assert store.stats() == IndexStats(len(ref.records), len(ref.chunks), len(ref.sentences), copies)
        for aid, r in ref.records.items():
            assert view.document(aid) == r.doc
            a, b = view.sentence_range(aid)
            assert b - a == len(r.sentences)
            assert [view.sentence(k) for k in range(a, b)] == r.sentences  # consecutive keys, document order
            assert [view.sentence_text(k) for k in range(a, b)] == [r.doc.text[s.start : s.end] for s in r.sentences]
            if r.sentences:
                np.testing.assert_allclose(view.sentence_vectors_of(list(range(b - 1, a - 1, -1))),
                                           r.sentence_vectors[::-1], atol=1e-6)
            for c in r.chunks:
                assert [view.sentence(k) for k in view.sentences_in(aid, c.start, c.end)] == \
                       [s for s in r.sentences if s.start < c.end and c.start < s.end]
        for q in QUERIES:
            v = EMBEDDER.embed_query(q)
            for where in [None, *FILTERS]:
                same_ranking(found(view, view.dense_search(v, 8, where), "chunk"), ref.dense(v, 8, where))
                same_ranking(found(view, view.dense_sentence_search(v, 8, where), "sentence"),
                             ref.dense_sentences(v, 8, where))
                same_ranking(found(view, view.lexical_search(q, 20, where), "chunk"), ref.lexical(q, 20, where),
                             rel=1e-3)

    # --- the contract --------------------------------------------------------------------------------------
    def test_an_empty_store(self, make_store: Callable[[], Store]) -> None:
        store = make_store()
        with pytest.raises(IndexMissingError) as e:
            store.snapshot()
        assert e.value.message.startswith("no index at") and e.value.hint and e.value.exit_code == 3
        assert store.documents() == {} and store.fingerprint() is None and store.describe()
        assert store.stats() == IndexStats(0, 0, 0, 0)

    def test_write_then_read_everything(self, make_store: Callable[[], Store]) -> None:
        store, records = make_store(), [record(d) for d in DOCS.values()]
        store.write(iter(records), [], FINGERPRINT)
        assert store.fingerprint() == FINGERPRINT
        self.matches(store, Reference(records))
        self.matches(make_store(), Reference(records))  # another handle (process) reads the same
        view = store.snapshot()
        assert view.lexical_search("yang dan di", 5) == [] and view.sentence_range("no-such-article") == (0, 0)
        assert view.sentences_in("no-such-article", 0, 100) == []
        with pytest.raises(KeyError):
            view.document("no-such-article")

    def test_incremental_update_removal_and_rebuild(self, make_store: Callable[[], Store]) -> None:
        store, records = make_store(), {aid: record(d) for aid, d in DOCS.items()}
        store.write(iter(records.values()), [], FINGERPRINT)
        reader = make_store()
        before = reader.snapshot()
        records["kopi"] = edited("kopi", "Harga kopi arabika juga naik di pasar dunia.")
        del records["banjir"]
        store.write(iter([records["kopi"]]), ["banjir", "never-indexed"], FINGERPRINT)
        self.matches(reader, Reference(list(records.values())))  # BM25 statistics follow the change
        assert reader.snapshot() is not before
        for round_ in range(6):  # many small writes: the store stays exact (and may reorganise itself)
            aid = sorted(records)[round_ % len(records)]
            records[aid] = edited(aid, f"Kalimat tambahan nomor {round_} tentang pelabuhan dan kopi.")
            store.write(iter([records[aid]]), [], FINGERPRINT)
        self.matches(make_store(), Reference(list(records.values())))
        store.write(iter([]), list(records)[:2], FINGERPRINT)
        self.matches(store, Reference(list(records.values())[2:]))
        store.write(iter([record(DOCS["banjir"])]), [], FINGERPRINT, replace_all=True)
        self.matches(make_store(), Reference([record(DOCS["banjir"])]))

    def test_copies_are_stored_without_vectors_and_promoted_when_the_original_goes(
            self, make_store: Callable[[], Store], tmp_path: Path) -> None:
        from tests.test_duplicates_filters import ORIGINAL, syndicated_copy

        folder = tmp_path / "articles"
        shutil.copytree(SEEDS, folder)
        (folder / "copy_tulungagung.txt").write_text(syndicated_copy(ORIGINAL.read_text(encoding="utf-8")),
                                                     encoding="utf-8")
        s, store = make_settings(tmp_path), make_store()
        report = ingest([folder], s, store, EMBEDDER, progress=False)
        assert list(report.duplicates) == ["copy_tulungagung"]
        view = store.snapshot()
        assert make_store().stats() == IndexStats(len(view.article_ids()), view.chunk_count(), view.sentence_count(), 1)
        assert (report.articles, report.chunks, report.copies_in_index) == (len(view.article_ids()),
                                                                            view.chunk_count(), 1)
        copy = view.document("copy_tulungagung")
        assert copy.duplicate_of == ORIGINAL.stem and view.sentence_range("copy_tulungagung") == (0, 0)
        assert all(view.chunk(k).article_id != "copy_tulungagung" for k, _ in view.lexical_search("Labuan Bajo", 50))
        assert [s.article_id for s in view.also_reported_by(ORIGINAL.stem)] == ["copy_tulungagung"]
        assert any(m["duplicate_of"] == ORIGINAL.stem for m in view.article_list())

        (folder / ORIGINAL.name).unlink()
        report = ingest([folder], s, store, EMBEDDER, progress=False)
        assert report.removed == [ORIGINAL.stem] and report.updated == ["copy_tulungagung"]
        view = make_store().snapshot()
        assert store.stats() == IndexStats(len(view.article_ids()), view.chunk_count(), view.sentence_count(), 0)
        promoted = view.document("copy_tulungagung")
        assert promoted.duplicate_of is None and view.also_reported_by(ORIGINAL.stem) == []
        a, b = view.sentence_range("copy_tulungagung")
        assert b > a and any(view.chunk(k).article_id == "copy_tulungagung"
                             for k, _ in view.lexical_search("Labuan Bajo NTT", 5))

    def test_readers_see_the_old_contents_while_a_write_runs(self, make_store: Callable[[], Store]) -> None:
        store, records = make_store(), [record(d) for d in DOCS.values()]
        store.write(iter(records), [], FINGERPRINT)
        started, release = threading.Event(), threading.Event()

        def stalled() -> Iterator[ArticleRecord]:
            yield edited("kopi", "Kalimat baru.")
            started.set()
            assert release.wait(30)
            yield edited("pelabuhan", "Kalimat baru lagi.")

        writer = threading.Thread(target=store.write, args=(stalled(), ["banjir"], FINGERPRINT))
        writer.start()
        try:
            assert started.wait(30)
            time.sleep(0.2)  # let the store write what it has
            self.matches(make_store(), Reference(records))  # a reader opened now: the whole old contents
        finally:
            release.set()
            writer.join(30)
        new = {r.doc.article_id: r for r in records if r.doc.article_id != "banjir"}
        new["kopi"], new["pelabuhan"] = edited("kopi", "Kalimat baru."), edited("pelabuhan", "Kalimat baru lagi.")
        self.matches(make_store(), Reference(list(new.values())))

    def test_kill_9_during_a_write_leaves_the_previous_contents(self, make_store: Callable[[], Store],
                                                                  store_source: str) -> None:
        store, records = make_store(), [record(d) for d in DOCS.values()]
        store.write(iter(records), [], FINGERPRINT)
        old, ids = Reference(records), sorted(DOCS)
        new = Reference([edited(aid, f"Revisi {aid}.") for aid in ids])
        code = (f"from pathlib import Path\nfrom rag.backends.stores.faiss_files import FaissStore\n"
                f"from rag.backends.stores.postgres import PostgresStore\n{store_source}\n"
                f"from tests.test_store_contract import FINGERPRINT, slow_records\n"
                f"print('ready', flush=True)\n"
                f"store.write(slow_records({ids!r}, float(__import__('sys').argv[1])), [], FINGERPRINT)\n")
        outcomes = []
        for delay, wait in [(0.3, 0.5), (0.05, 0.1), (0.0, 0.05), (0.0, 0.2), (0.0, 0.4)]:
            proc = subprocess.Popen([sys.executable, "-c", code, str(delay)], cwd=PROJECT_ROOT, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout and proc.stdout.readline().strip() == "ready", proc.stderr and proc.stderr.read()
            time.sleep(wait)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            reader = make_store()
            try:
                self.matches(reader, old)
                outcomes.append("old")
            except AssertionError:
                self.matches(reader, new)  # never anything in between
                outcomes.append("new")
                store.write(iter(records), [], FINGERPRINT, replace_all=True)
        assert "old" in outcomes, f"no kill landed before the write finished ({outcomes}): the test proves nothing"
        store.write(iter([edited("kopi", "Setelah semua itu.")]), [], FINGERPRINT)  # and the store still takes writes
        assert "Setelah semua itu." in make_store().snapshot().document("kopi").text

    def test_one_ingest_at_a_time(self, make_store: Callable[[], Store]) -> None:
        a, b, order = make_store(), make_store(), []

        def second() -> None:
            with b.write_lock():
                order.append("second")

        with a.write_lock():
            t = threading.Thread(target=second)
            t.start()
            time.sleep(0.3)
            order.append("first released")
        t.join(10)
        assert order == ["first released", "second"]


class TestFaissStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: FaissStore(tmp_path / "index")

    @pytest.fixture
    def store_source(self, tmp_path: Path) -> str:
        return f"store = FaissStore(Path({str(tmp_path / 'index')!r}))"


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A real PostgreSQL server with pgvector for this module (fails, never skips, when it cannot start)."""
    with local_postgres() as base:
        yield base


@pytest.mark.postgres
@pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR is not set")
class TestPostgresStore(StoreContract):
    @pytest.fixture
    def pg_url(self, pg_server: str) -> str:
        name = f"rag_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"{pg_server}/{name}"

    @pytest.fixture
    def make_store(self, pg_url: str) -> Callable[[], Store]:
        return lambda: PostgresStore(pg_url)

    @pytest.fixture
    def store_source(self, pg_url: str) -> str:
        return f"store = PostgresStore({pg_url!r})"
