"""Syndicated copies indexed once, date/site filters and period questions (fake embedder: pure logic, real stores)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.answer.period import article_filter, period_question
from rag.backends.embedders.fake import FakeEmbedder
from rag.backends.stores.faiss_files import FaissStore
from rag.errors import BadInputError
from rag.ingest.duplicates import find_duplicates, signature, similarity
from rag.ingest.run import ingest
from rag.types import ArticleFilter
from tests.conftest import SEEDS, make_settings

ORIGINAL = SEEDS / "003_103e626a5a1d57e5.txt"  # InfoPublik's release as run by indonews.id, 10 May 2023


def syndicated_copy(text: str) -> str:
    """The same story re-posted by another site: its own header, one sentence edited, its own source line."""
    body = [line for line in text.splitlines() if not line.startswith("Sumber:") and not line.lstrip().startswith("•")]
    body = ["KABAR TULUNGAGUNG", "", "  • Kamis, 11/05/2023 09:12 WIB", *body]
    for i, line in enumerate(body):
        if "Labuan Bajo" in line and len(line.split()) > 25:
            body[i] = line.replace("Labuan Bajo", "Labuan Bajo, NTT", 1)
            break
    return "\n".join(body) + "\nSumber: https://www.liputantulungagung.com/2023/05/indonesia-dan-vietnam.html\n"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    arts = tmp_path / "articles"
    shutil.copytree(SEEDS, arts)
    (arts / "copy_tulungagung.txt").write_text(syndicated_copy(ORIGINAL.read_text(encoding="utf-8")), encoding="utf-8")
    return arts


def _ingest(folder: Path, tmp: Path, **overrides: object):
    s = make_settings(tmp, **overrides)
    store = FaissStore(s.index_dir)
    return s, store, ingest([folder], s, store, FakeEmbedder(), progress=False)


def test_signatures_tell_copies_from_other_articles() -> None:
    text = ORIGINAL.read_text(encoding="utf-8")
    other = (SEEDS / "001_5588f0be4399d35c.txt").read_text(encoding="utf-8")
    assert similarity(signature(text), signature(syndicated_copy(text))) > 0.8
    assert similarity(signature(text), signature(other)) < 0.1


def test_a_copy_is_indexed_once_and_shown_as_also_reported_by(folder: Path, tmp_path: Path) -> None:
    s, store, report = _ingest(folder, tmp_path)
    original = ORIGINAL.stem
    assert report.duplicates == {"copy_tulungagung": (original, pytest.approx(report.duplicates["copy_tulungagung"][1]))}
    assert report.duplicates["copy_tulungagung"][1] >= s.duplicate_threshold
    assert "near-duplicates: 1 found now, 1 copies in the index" in report.summary()
    view = store.snapshot()
    assert view.document("copy_tulungagung").duplicate_of == original
    assert not [c for c in view.chunks if c.article_id == "copy_tulungagung"], "a copy is never searched"
    assert view.sentence_range("copy_tulungagung") == (0, 0)
    also = view.also_reported_by(original)
    assert [s.site for s in also] == ["liputantulungagung.com"] and also[0].date == "2023-05-11"
    assert view.also_reported_by("copy_tulungagung") == []

    # Unchanged re-ingest: nothing rewritten; the copy stays a copy.
    again = ingest([folder], s, store, FakeEmbedder(), progress=False)
    assert not again.wrote_index and not again.duplicates

    # The original goes: the copy becomes the canonical article and is embedded now.
    ORIGINAL_COPY = folder / ORIGINAL.name
    ORIGINAL_COPY.unlink()
    after = ingest([folder], s, store, FakeEmbedder(), progress=False)
    assert after.removed == [original] and "copy_tulungagung" in after.updated
    view = store.snapshot()
    assert view.document("copy_tulungagung").duplicate_of is None
    assert [c for c in view.chunks if c.article_id == "copy_tulungagung"]
    assert after.copies_in_index == 0


def test_detection_can_be_switched_off(folder: Path, tmp_path: Path) -> None:
    _, store, report = _ingest(folder, tmp_path, detect_duplicates=False)
    assert not report.duplicates
    assert store.snapshot().document("copy_tulungagung").duplicate_of is None


def test_canonical_is_the_earliest_then_longest() -> None:
    from rag.types import Document

    text = ORIGINAL.read_text(encoding="utf-8")

    def doc(aid: str, date: str | None, body: str) -> Document:
        return Document(aid, f"{aid}.txt", aid, None, date, None, None, body, aid, signature=signature(body))

    docs = [doc("late", "2023-05-12", text), doc("early", "2023-05-10", syndicated_copy(text)),
            doc("undated", None, text)]
    groups = find_duplicates(docs, 0.5)
    assert groups.duplicate_of == {"late": "early", "undated": "early"}
    # An article already canonical in the index stays canonical (no re-embedding for a newly found older copy).
    assert find_duplicates(docs, 0.5, was_canonical={"late"}).duplicate_of == {"early": "late", "undated": "late"}


def test_filters_restrict_every_search(folder: Path, tmp_path: Path) -> None:
    _, store, _ = _ingest(folder, tmp_path)
    view = store.snapshot()
    dates = {aid: d.date for aid, d in view.docs.items()}
    may_2023 = ArticleFilter("2023-05-01", "2023-05-31")
    admitted = {aid for aid, d in view.docs.items() if may_2023.admits(d.date, d.site)}
    assert admitted and admitted != set(dates)
    q = FakeEmbedder().embed_query("kerja sama digital Vietnam Indonesia")
    for hits in (view.dense_search(q, 50, may_2023), view.lexical_search("Vietnam digital", 50, may_2023)):
        assert hits and {view.chunk(k).article_id for k, _ in hits} <= admitted
    hits = view.dense_sentence_search(q, 50, may_2023)
    assert hits and {view.sentence(k).article_id for k, _ in hits} <= admitted
    assert len(view.dense_search(q, 500)) > len(view.dense_search(q, 500, may_2023))
    nowhere = ArticleFilter(sites=("no-such-site",))
    assert view.dense_search(q, 10, nowhere) == [] and view.lexical_search("Vietnam", 10, nowhere) == []
    assert view.dense_sentence_search(q, 10, nowhere) == []
    site = next(d.site for d in view.docs.values() if d.site)
    by_site = ArticleFilter(sites=(site.split(".")[0].upper(),))  # part of the name, any case
    assert {view.chunk(k).article_id for k, _ in view.dense_search(q, 500, by_site)} == {
        aid for aid, d in view.docs.items() if d.site == site and not d.duplicate_of}


def test_filter_rules() -> None:
    f = ArticleFilter("2023-05-01", "2023-05-31", ("antara",))
    assert f.admits("2023-05-10", "en.antaranews.com")
    assert not f.admits("2023-06-01", "antaranews.com") and not f.admits(None, "antaranews.com")
    assert not f.admits("2023-05-10", "liputan6.com") and not f.admits("2023-05-10", None)
    assert ArticleFilter(sites=("x",)).admits(None, "x.id"), "a site filter alone keeps undated articles"
    assert not ArticleFilter() and f.describe() == "dated 2023-05-01 to 2023-05-31, from antara"


def test_article_filter_parses_dates_and_refuses_bad_ones() -> None:
    assert article_filter("2023-05", "2023-05") == ArticleFilter("2023-05-01", "2023-05-31")
    assert article_filter("2024", None) == ArticleFilter("2024-01-01", None)
    assert article_filter(None, "2024-02") == ArticleFilter(None, "2024-02-29")
    assert article_filter(sites=[" Antaranews ", ""]) == ArticleFilter(sites=("antaranews",))
    assert article_filter("", " ", []) is None
    for since, until, words in [("May 2023", None, "not a date"), ("2023-13", None, "not a valid date"),
                                ("2023-02-30", None, "not a valid date"), ("2024", "2023", "after")]:
        with pytest.raises(BadInputError, match=words):
            article_filter(since, until)


@pytest.mark.parametrize("question, since, until", [
    ("What happened in May 2023?", "2023-05-01", "2023-05-31"),
    ("Apa yang terjadi pada bulan Mei 2023?", "2023-05-01", "2023-05-31"),
    ("Berita apa saja dari Juni 2024?", "2024-06-01", "2024-06-30"),
    ("What was reported about Vietnam in February 2024?", "2024-02-01", "2024-02-29"),
    ("Ringkas berita tahun 2025", "2025-01-01", "2025-12-31"),
])
def test_period_questions(question: str, since: str, until: str) -> None:
    p = period_question(question)
    assert p is not None and (p.since, p.until) == (since, until)


@pytest.mark.parametrize("question", [
    "Apa nama ransomware yang melumpuhkan PDNS pada Juni 2024?",  # an event on a date: its report may be dated later
    "Siapa yang menandatangani LoI di Jakarta pada Maret 2025?",
    "What happened in May?",  # no year: not a period the filter can use
    "Apa yang terjadi di Labuan Bajo?",
])
def test_questions_that_only_mention_a_date_are_not_period_questions(question: str) -> None:
    assert period_question(question) is None


def test_every_seed_and_dev_question_keeps_its_unfiltered_search() -> None:
    import json

    root = Path(__file__).resolve().parent.parent
    for path in (root / "eval/questions.jsonl", root / "eval/dev/questions.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            q = json.loads(line)["question"]
            assert period_question(q) is None, q


def test_sentence_vectors_of_a_copy_are_not_stored(folder: Path, tmp_path: Path) -> None:
    _, store, _ = _ingest(folder, tmp_path)
    view = store.snapshot()
    assert len(view.sentence_vectors) == len(view.sentences)
    assert np.allclose(np.linalg.norm(view.sentence_vectors, axis=1), 1.0, atol=1e-4)


def test_page_filters_reach_the_search_and_bad_dates_are_shown(folder: Path, tmp_path: Path) -> None:
    """The chat page's Since/Until/Site boxes: the answer comes from admitted articles only; a bad date is an error."""
    from rag.answer.assistant import Assistant
    from rag.backends.generators.fake import FakeGenerator
    from ui.handlers import Handlers, Session

    s, store, _ = _ingest(folder, tmp_path)
    handlers = Handlers(Assistant(s, FakeEmbedder(), FakeGenerator("Kerja sama digital disepakati."), store))

    def ask(question: str, since: str = "", until: str = "", site: str = "") -> tuple[str, str]:
        session = Session()
        session.messages = [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        *_, last = handlers.respond(question, session, 3, 64, since, until, site)
        return last[0][-1]["content"], last[1]

    message, sources = ask("Apa kerja sama digital Indonesia dan Vietnam?", "2023-05", "2023-05", "indonews")
    assert "dated 2023-05-01 to 2023-05-31, from indonews" in message
    assert "indonews.id" in sources and "mst.gov.vn" not in sources
    message, _ = ask("Apa kerja sama digital Indonesia dan Vietnam?", "2023-13")
    assert "is not a valid date" in message


def test_a_period_question_reads_the_openings_of_that_periods_articles(folder: Path, tmp_path: Path) -> None:
    from rag.answer.assistant import Assistant
    from rag.backends.generators.fake import FakeGenerator

    s, store, _ = _ingest(folder, tmp_path)
    r = Assistant(s, FakeEmbedder(), FakeGenerator("Indonesia dan Vietnam sepakat."), store).ask(
        "Apa yang terjadi pada Mei 2023?")
    assert r.filters == ArticleFilter("2023-05-01", "2023-05-31")
    assert r.passages and {p.source.article_id for p in r.passages} == {ORIGINAL.stem}, "the copy is not read twice"
    view = store.snapshot()
    first, _ = view.sentence_range(ORIGINAL.stem)
    assert r.passages[0].sentence_ids[0] == first, "an article's opening"
    assert [s.site for s in r.passages[0].also_reported_by] == ["liputantulungagung.com"]
    empty = Assistant(s, FakeEmbedder(), FakeGenerator("x"), store).ask("What happened in May 2019?")
    assert empty.refused and not empty.passages


def test_candidate_pairs_are_the_ones_datasketch_lsh_proposes() -> None:
    from datasketch import LeanMinHash, MinHashLSH

    from rag.ingest.duplicates import NUM_PERM, SCHEME, candidate_pairs

    texts = [f.read_text(encoding="utf-8") for f in sorted(SEEDS.glob("*.txt"))]
    texts += [syndicated_copy(ORIGINAL.read_text(encoding="utf-8"))]
    texts += [" ".join(t.split()[i : i + 60]) for t in texts for i in range(0, 240, 20)]  # overlapping pieces
    matrix = np.array([signature(t) for t in texts], dtype=np.uint64)
    for threshold in (0.1, 0.3, 0.5):
        lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        hashes = [LeanMinHash(seed=1, hashvalues=row, scheme=SCHEME) for row in matrix]
        for i, h in enumerate(hashes):
            lsh.insert(i, h)
        theirs = {(min(i, j), max(i, j)) for i, h in enumerate(hashes) for j in lsh.query(h) if i != j}
        assert {tuple(p) for p in candidate_pairs(matrix, threshold).tolist()} == theirs and theirs


def test_pair_similarity_in_blocks_is_the_similarity_of_each_pair() -> None:
    from rag.ingest.duplicates import pair_similarity, similarity

    rng = np.random.default_rng(3)
    matrix = rng.integers(0, 4, size=(40, 128)).astype(np.uint64)  # few values: many positions agree
    pairs = np.array([(i, j) for i in range(40) for j in range(i + 1, 40)])
    got = pair_similarity(matrix, pairs, block=7)  # blocks that do not divide the pairs evenly
    assert got.tolist() == [similarity(matrix[i].tolist(), matrix[j].tolist()) for i, j in pairs]


def test_signatures_are_datasketch_minhash_signatures() -> None:
    """The numpy MinHash gives datasketch 2.0's values (affine32, seed 1): signatures stored before are unchanged."""
    from datasketch import MinHash

    from rag.ingest.duplicates import NUM_PERM, SCHEME, shingles

    texts = [f.read_text(encoding="utf-8") for f in sorted(SEEDS.glob("*.txt"))]
    texts += ["", "satu", "dua kata", "Tiga kata saja.", "ünïcödé ½ 東京 kata"]
    for size in (2, 3, 5):
        for text in texts:
            m = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
            if grams := shingles(text, size):
                m.update_batch(list(grams))
            assert signature(text, size) == [int(x) for x in m.hashvalues], (size, text[:40])


def test_lsh_bands_are_the_ones_datasketch_picks() -> None:
    from datasketch import MinHashLSH

    from rag.ingest.duplicates import lsh_bands

    for num_perm in (16, 128, 256):
        for threshold in (0.1, 0.2, 0.3, 0.35, 0.5, 0.7, 0.85):
            lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
            assert lsh_bands(threshold, num_perm) == (lsh.b, lsh.r), (num_perm, threshold)
