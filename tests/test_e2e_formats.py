"""A folder mixing every format, ingested in one command and asked about with the default models: each answer cites
the file it came from (real embedder, real GGUF, real Chromium-printed PDF)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag.assemble import make_assistant
from rag.cli import main
from rag.ingest.articles import read_article
from rag.ingest.clean import clean_article
from tests.conftest import make_settings
from tests.test_formats import browser, make_docx, news_page, print_pdf, seed, write  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent
STARLINK = ROOT / "eval/dev/articles/b11_inipasti-starlink-bali.txt"

# (file, question, words one of which the answer must hold) — questions from eval/questions.jsonl and eval/dev
CASES = [
    ("kafe.txt", "Siapa Menteri Teknologi Informasi dan Komunikasi Qatar yang diterima Perdana Menteri Pham Minh Chinh "
                 "selama kunjungannya ke Qatar?", ["Al Mannai"]),
    ("laos.html", "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam dan berdiskusi dengan "
                  "Menteri Nguyen Manh Hung?", ["Boviengkham"]),
    ("transformasi.pdf", "Menurut Perdana Menteri Pham Minh Chinh, apa yang tidak akan ada tanpa keamanan siber yang "
                         "kuat?", ["masyarakat digital", "digital yang aman"]),
    ("labuan.docx", "Di hotel mana pertemuan bilateral Indonesia-Vietnam tentang ruang digital itu digelar?",
     ["Jayakarta"]),
    ("quang.md", "Siapa Menteri Dalam Negeri Mozambik yang diterima Menteri Keamanan Publik Luong Tam Quang?",
     ["Chachine"]),
    ("berita.jsonl", "Kapan layanan internet satelit Starlink diluncurkan secara resmi di Bali?", ["19 Mei"]),
]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> tuple[Any, Path]:  # noqa: F811
    """The seeds and one development page, each in another format, ingested by `rag ingest` in one command."""
    tmp = tmp_path_factory.mktemp("mixed")
    arts = tmp / "articles"
    arts.mkdir()
    write(arts, "kafe.txt", seed("000_fe7235151a4f32f4").text.replace("Perdana Menteri", "“Perdana Menteri”", 1)
          .encode("cp1252"))
    write(arts, "laos.html", news_page(seed("001_5588f0be4399d35c")))
    write(arts, "transformasi.pdf", print_pdf(browser, news_page(seed("002_6f724baf5e7adcba"), with_meta=False)))
    write(arts, "labuan.docx", make_docx(seed("003_103e626a5a1d57e5"), title="Kerja Sama Digital RI-Vietnam"))
    quang = seed("004_c4081a22872c9916")
    write(arts, "quang.md", f"---\ntitle: {quang.title}\ndate: {quang.date}\n---\n\n# {quang.title}\n\n{quang.text}\n")
    star = clean_article(read_article(STARLINK), STARLINK.stem)
    write(arts, "berita.jsonl", json.dumps({"title": star.title, "url": star.url, "date": star.date, "text": star.text},
                                           ensure_ascii=False) + "\n")
    settings = make_settings(tmp, max_tokens=96)
    import os

    os.environ["RAG_INDEX_DIR"] = str(settings.index_dir)
    try:
        assert main(["ingest", str(arts), "--quiet"]) == 0
    finally:
        del os.environ["RAG_INDEX_DIR"]
    return settings, arts


@pytest.mark.default_model
@pytest.mark.parametrize("name, question, words", CASES, ids=[c[0] for c in CASES])
def test_each_format_is_answered_with_a_citation_to_its_file(mixed: tuple[Any, Path], name: str, question: str,
                                                           words: list[str]) -> None:
    settings, arts = mixed
    r = make_assistant(settings).ask(question)
    assert not r.refused, (name, r.refusal_reason, r.answer)
    assert any(w.lower() in r.answer.lower() for w in words), (name, r.answer)
    assert r.citations, (name, r.answer)
    assert all(Path(c.source.source_file).name == name for c in r.citations), [c.source for c in r.citations]
