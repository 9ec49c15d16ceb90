"""Ingest on the real seeds with the real embedder: incremental updates, atomic writes, bad files, mismatches."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.ingest.articles import find_article_files
from rag.errors import IndexError_, IndexMissingError
from rag.backends.factory import make_embedder, make_store
from rag.ingest.run import check_compatible, ingest
from rag.backends.stores.faiss_files import CURRENT, Index
from tests.conftest import SEEDS, make_settings


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(SEEDS, tmp_path / "articles")
    return tmp_path


def test_incremental_add_update_unchanged_remove(workdir: Path) -> None:
    s = make_settings(workdir)
    arts = workdir / "articles"
    first = ingest([arts], s, make_store(s), make_embedder(s), progress=False)
    assert len(first.added) == 5 and first.wrote_index and first.embedded_chunks == first.chunks
    gen1 = (s.index_dir / CURRENT).read_text()

    again = ingest([arts], s, make_store(s), make_embedder(s), progress=False)
    assert len(again.unchanged) == 5 and not again.wrote_index and again.embedded_chunks == 0
    assert (s.index_dir / CURRENT).read_text() == gen1, "nothing changed: no new generation"

    f = arts / "002_6f724baf5e7adcba.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("18 negara", "19 negara"), encoding="utf-8")
    (arts / "004_c4081a22872c9916.txt").unlink()
    third = ingest([arts], s, make_store(s), make_embedder(s), progress=False)
    assert third.updated == ["002_6f724baf5e7adcba"] and third.removed == ["004_c4081a22872c9916"]
    index = Index.load(s.index_dir)
    assert third.embedded_chunks == sum(c.article_id == "002_6f724baf5e7adcba" for c in index.chunks)
    assert "19 negara" in index.docs["002_6f724baf5e7adcba"].text
    assert "004_c4081a22872c9916" not in index.docs and len(index.docs) == 4
    # Vectors of unchanged articles were reused, not recomputed: identical to a fresh build (keys may differ).
    fresh = make_settings(workdir / "fresh")
    ingest([arts], fresh, make_store(fresh), make_embedder(fresh), progress=False)
    rebuilt = Index.load(fresh.index_dir)
    by_span = lambda ix: {(c.article_id, c.start): v for c, v in zip(ix.chunks, ix.all_vectors())}  # noqa: E731
    a, b = by_span(index), by_span(rebuilt)
    assert a.keys() == b.keys()
    np.testing.assert_allclose(np.vstack([a[k] for k in sorted(a)]), np.vstack([b[k] for k in sorted(a)]), atol=1e-5)


def test_bad_files_are_reported_and_the_rest_ingested(workdir: Path) -> None:
    arts = workdir / "articles"
    (arts / "latin1.txt").write_bytes("Menteri berkunjung ke Hanoi pada bulan Mei. Caf\xe9 sore.".encode("latin-1"))
    (arts / "binary.txt").write_bytes(b"\x00\x01\x02GGUF")
    (arts / "empty.txt").write_text("   \n")
    (arts / "report.pdf").write_bytes(b"%PDF-1.4")
    (arts / "dangling.txt").symlink_to(workdir / "nowhere.txt")
    s0 = make_settings(workdir)
    report = ingest([arts], s0, make_store(s0), make_embedder(s0), progress=False)
    reasons = {p.name: r for p, r in ((s.path, s.reason) for s in report.skipped)}
    assert "latin1" in report.added and report.encodings == {str(arts / "latin1.txt"): "cp1252"}  # legacy text is read
    assert "binary" in reasons["binary.txt"] and "empty" in reasons["empty.txt"]
    assert "damaged PDF" in reasons["report.pdf"] and "broken link" in reasons["dangling.txt"]
    assert len(report.added) == 6
    summary = report.summary()
    assert "skipped 4" in summary and "encoding cp1252 for" in summary and "latin1.txt" in summary


def test_links_out_of_the_folder_are_not_followed_unless_allowed(tmp_path: Path) -> None:
    """A link in the articles folder must not pull a file from elsewhere (e.g. a system file) into the index."""
    arts, elsewhere = tmp_path / "articles", tmp_path / "private"
    (arts / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("Kata sandi server adalah rahasia.", encoding="utf-8")
    (arts / "real.txt").write_text("Menteri berkunjung ke Hanoi.", encoding="utf-8")
    (arts / "sub" / "inside.txt").symlink_to(arts / "real.txt")
    (arts / "secret.txt").symlink_to(elsewhere / "secret.txt")
    files, skipped = find_article_files([arts])
    assert [f.name for f in files] == ["real.txt"]  # the link within the folder leads to a file already listed
    assert [(s.path.name, "outside the folder" in s.reason) for s in skipped] == [("secret.txt", True)]
    files, skipped = find_article_files([arts], links_outside=True)
    assert sorted(f.name for f in files) == ["real.txt", "secret.txt"] and not skipped
    assert find_article_files([arts / "secret.txt"])[0][0].name == "secret.txt"  # named explicitly: the user chose it


def test_a_file_that_turns_bad_keeps_its_last_good_version(workdir: Path) -> None:
    s = make_settings(workdir)
    arts = workdir / "articles"
    ingest([arts], s, make_store(s), make_embedder(s), progress=False)
    (arts / "003_103e626a5a1d57e5.txt").write_bytes(b"\xff\xfe broken")
    report = ingest([arts], s, make_store(s), make_embedder(s), progress=False)
    assert any(x.path.name == "003_103e626a5a1d57e5.txt" for x in report.skipped)
    assert "003_103e626a5a1d57e5" in Index.load(s.index_dir).docs and not report.removed


def test_missing_path_is_an_error_and_touches_nothing(workdir: Path) -> None:
    from rag.errors import BadInputError

    s = make_settings(workdir)
    with pytest.raises(BadInputError, match="no such file or folder"):
        ingest([workdir / "typo"], s, make_store(s), make_embedder(s), progress=False)
    assert not (s.index_dir / CURRENT).exists()


def test_other_settings_are_detected_with_what_to_do(workdir: Path) -> None:
    s = make_settings(workdir)
    ingest([workdir / "articles"], s, make_store(s), make_embedder(s), progress=False)
    other = s.model_copy(update={"chunk_chars": 400})
    with pytest.raises(IndexError_, match="chunk_chars: index has 700, settings say 400") as e:
        check_compatible(make_store(s), other)
    assert "rag ingest --rebuild" in str(e.value)
    with pytest.raises(IndexError_):
        ingest([workdir / "articles"], other, make_store(other), make_embedder(other), progress=False)
    rebuilt = ingest([workdir / "articles"], other, make_store(other), make_embedder(other), rebuild=True, progress=False)
    assert rebuilt.wrote_index and Index.load(s.index_dir).meta["fingerprint"]["chunk_chars"] == 400


def test_damaged_or_missing_index_gives_a_clear_error(tmp_path: Path, seed_settings) -> None:
    with pytest.raises(IndexMissingError, match="no index at"):
        Index.load(tmp_path / "none")
    broken = tmp_path / "broken"
    shutil.copytree(seed_settings.index_dir, broken)
    segment = next(broken.glob("seg-*"))
    (segment / "chunk_vectors.npy").write_bytes(b"garbage")
    with pytest.raises(IndexError_, match="damaged or incomplete"):
        Index.load(broken)
    (segment / "chunk_vectors.npy").unlink()
    with pytest.raises(IndexError_, match="damaged or incomplete"):
        Index.load(broken)


def test_leftovers_of_a_crashed_write_are_ignored_and_cleaned(workdir: Path) -> None:
    s = make_settings(workdir)
    ingest([workdir / "articles"], s, make_store(s), make_embedder(s), progress=False)
    (s.index_dir / ".tmp-seg-crashed").mkdir()
    (s.index_dir / ".tmp-seg-crashed" / "chunks.json").write_text("[")
    (s.index_dir / "seg-000009-crashed").mkdir()  # renamed into place, but the manifest naming it never made it
    (s.index_dir / ".tmp-gen-000009.json").write_text("{")
    (s.index_dir / ".CURRENT.tmp").write_text("gen-does-not-exist")
    assert len(Index.load(s.index_dir).docs) == 5
    f = workdir / "articles" / "000_fe7235151a4f32f4.txt"
    f.write_text(f.read_text(encoding="utf-8") + "\nTambahan kalimat penutup.\n", encoding="utf-8")
    ingest([workdir / "articles"], s, make_store(s), make_embedder(s), progress=False)
    left = sorted(p.name for p in s.index_dir.iterdir() if not p.name.startswith(".") or "tmp" in p.name)
    assert left == ["CURRENT", "audit.jsonl", "gen-000002.json", *sorted(p.name for p in s.index_dir.glob("seg-*"))]
    assert not (s.index_dir / "seg-000009-crashed").exists() and len(left) == 5  # the first ingest's segment + the change


def test_killing_ingest_at_any_moment_leaves_a_working_index(workdir: Path) -> None:
    """SIGKILL an ingest that rewrites two articles at several moments; the index always loads and answers."""
    from rag.backends.factory import make_embedder
    from rag.answer.retrieve import retrieve

    s = make_settings(workdir)
    arts = workdir / "articles"
    ingest([arts], s, make_store(s), make_embedder(s), progress=False)
    env = {**os.environ, "RAG_INDEX_DIR": str(s.index_dir)}
    outcomes = []
    for i, delay in enumerate([0.3, 1.5, 3.0, 4.5, 6.0, 8.0, 12.0]):
        for name in ("001_5588f0be4399d35c.txt", "004_c4081a22872c9916.txt"):
            f = arts / name
            f.write_text(f.read_text(encoding="utf-8") + f"\nRevisi {i}.\n", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "rag", "ingest", "--quiet", str(arts)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        index = Index.load(s.index_dir)
        assert len(index.docs) == 5 and index.vectors.ntotal == len(index.chunks)
        hit = retrieve(index, make_embedder(s), "Siapa Menteri Informasi dan Komunikasi Laos?", s)
        assert hit.passages[0].article_id == "001_5588f0be4399d35c"
        outcomes.append(f"Revisi {i}." in index.docs["001_5588f0be4399d35c"].text)
    assert not all(outcomes), "some kills must have landed before the switch (else the test proves nothing)"
    report = ingest([arts], s, make_store(s), make_embedder(s), progress=False)  # and a later ingest completes the interrupted work
    assert f"Revisi {i}." in Index.load(s.index_dir).docs["001_5588f0be4399d35c"].text or not report.wrote_index


def test_batched_ingest_writes_the_same_index_as_one_batch(workdir: Path) -> None:
    """Embedding a few articles at a time (bounded memory) changes nothing in what is stored."""
    from rag.backends.embedders.fake import FakeEmbedder
    from rag.backends.stores.faiss_files import FaissStore

    views = []
    for batch in (2, 64):
        s = make_settings(workdir / f"b{batch}", ingest_batch_articles=batch)
        report = ingest([workdir / "articles"], s, FaissStore(s.index_dir), FakeEmbedder(), progress=False)
        assert report.embedded_chunks == report.chunks > 0
        views.append(FaissStore(s.index_dir).snapshot())
    a, b = views
    assert a.docs == b.docs and a.chunks == b.chunks and a.sentences == b.sentences
    assert np.array_equal(a.all_vectors(), b.all_vectors()) and np.array_equal(a.sentence_vectors, b.sentence_vectors)


def test_embed_once_embeds_each_distinct_text_once_in_one_call() -> None:
    from rag.backends.embedders.fake import FakeEmbedder
    from rag.ingest.run import embed_once

    calls: list[list[str]] = []

    class Counting(FakeEmbedder):
        def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
            calls.append(list(texts))
            return super().embed_passages(texts)

    e = Counting()
    chunks, sentences = ["Satu kalimat.", "Dua kalimat. Tiga."], ["Satu kalimat.", "Dua kalimat.", "Tiga."]
    a, b = embed_once(e, chunks, sentences)
    assert calls == [["Satu kalimat.", "Dua kalimat. Tiga.", "Dua kalimat.", "Tiga."]]
    assert np.array_equal(a, e.embed_passages(chunks)) and np.array_equal(b, e.embed_passages(sentences))
    assert [x.shape for x in embed_once(e, [], [])] == [(0, 64), (0, 64)]


def test_an_unchanged_file_is_not_read_again(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.backends.embedders.fake import FakeEmbedder
    from rag.backends.stores.faiss_files import FaissStore
    import rag.ingest.run as run

    s = make_settings(workdir)
    ingest([workdir / "articles"], s, FaissStore(s.index_dir), FakeEmbedder(), progress=False)
    read: list[Path] = []
    real = run.read_articles
    monkeypatch.setattr(run, "read_articles", lambda f, limit: read.append(f) or real(f, limit))
    f = workdir / "articles" / "002_6f724baf5e7adcba.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("18 negara", "19 negara"), encoding="utf-8")
    report = ingest([workdir / "articles"], s, FaissStore(s.index_dir), FakeEmbedder(), progress=False)
    assert read == [f] and report.updated == ["002_6f724baf5e7adcba"] and len(report.unchanged) == 4
