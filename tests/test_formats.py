"""Article formats: each file read by its content and extension (txt in any encoding, md, html, pdf, docx, jsonl),
with a precise reason for every file that is refused; then a mixed folder through the real ingest."""

from __future__ import annotations

import html
import io
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from rag.backends.embedders.fake import FakeEmbedder
from rag.backends.factory import make_store
from rag.backends.stores.faiss_files import Index
from rag.errors import BadInputError
from rag.ingest.articles import find_article_files, read_article, read_articles
from rag.ingest.clean import clean_article
from rag.ingest.formats import read_file
from rag.ingest.run import ingest
from rag.types import Document
from tests.conftest import SEEDS, make_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LAOS = "001_5588f0be4399d35c"
CANONICAL = "https://kabarnusantara.example/internasional/2025/08/04/laos-vietnam-diskusi"
BOILERPLATE = ["Menuju konten utama", "Beranda", "Indeks Berita", "Asia Tenggara", "IKLAN", "tiket pesawat",
               "Berita Terkait", "Harga cabai", "Pedoman Media Siber", "Hak cipta", "trackPageView", "dataLayer",
               "font-family", "Bagikan ke WhatsApp", "Ikuti kami"]


def seed(stem: str) -> Document:
    """A seed article, cleaned (its body is what a page, PDF or DOCX of it should give back)."""
    return clean_article(read_article(SEEDS / f"{stem}.txt"), stem)


def paragraphs(doc: Document) -> list[str]:
    """The article's paragraphs."""
    return [p for p in doc.text.split("\n") if p.strip()]


def flat(text: str) -> str:
    """Whitespace collapsed, for comparing text that went through layout."""
    return " ".join(text.split())


def first_sentences(doc: Document, n: int = 4) -> list[str]:
    """The first sentence of the first n long paragraphs (what must survive any format)."""
    out = []
    for p in paragraphs(doc):
        if len(p.split()) > 12:
            out.append(p.split(". ")[0])
        if len(out) == n:
            break
    return out


def news_page(doc: Document, with_meta: bool = True) -> str:
    """The article as a realistic news-site page: menus, skip link, breadcrumbs, ads, related links, scripts."""
    title = html.escape(doc.title)
    head = (f'<meta property="og:title" content="{title}">'
            f'<meta property="og:url" content="{CANONICAL}"><link rel="canonical" href="{CANONICAL}">'
            '<meta property="article:published_time" content="2025-08-04T16:30:00+07:00">'
            '<meta property="og:site_name" content="Kabar Nusantara"><meta name="author" content="Rina Wulandari">'
            ) if with_meta else ""
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs(doc))
    menu = "".join(f'<li><a href="/{x.lower()}">{x}</a></li>'
                   for x in ["Beranda", "Nasional", "Internasional", "Ekonomi", "Olahraga", "Indeks Berita"])
    related = "".join(f'<li><a href="/r{i}">{x}</a></li>' for i, x in enumerate(
        ["Harga cabai melonjak jelang Lebaran di pasar induk", "Timnas U-23 menang tipis atas Thailand",
         "Cuaca ekstrem diprakirakan melanda Jawa Barat pekan depan"]))
    return f"""<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8"><title>{title} | Kabar Nusantara</title>{head}
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>.menu {{ display: flex; }} body {{ font-family: Georgia, serif; }} .ad {{ background: #eee; }}</style>
<script>window.dataLayer = window.dataLayer || []; function trackPageView(x) {{ dataLayer.push(x); }}</script>
</head><body>
<a class="skip-link" href="#konten">Menuju konten utama</a>
<header><div class="logo"><a href="/">Kabar Nusantara</a></div><nav class="menu"><ul>{menu}</ul></nav>
<form action="/cari"><input name="q" placeholder="Cari berita"></form></header>
<nav class="breadcrumb" aria-label="breadcrumb"><a href="/">Beranda</a> › <a href="/internasional">Internasional</a>
 › <span>Asia Tenggara</span></nav>
<div class="ad ad-top">IKLAN · Promo tiket pesawat murah ke Bali, pesan sekarang juga!</div>
<main id="konten"><article class="article">
<h1 class="title">{title}</h1>
<div class="share"><a href="#">Bagikan ke WhatsApp</a> <a href="#">Bagikan ke X</a></div>
<div class="article-body">
{body}
</div></article>
<aside class="related"><h3>Berita Terkait</h3><ul>{related}</ul></aside></main>
<footer><p>Ikuti kami di media sosial.</p><p>© 2025 Kabar Nusantara. Hak cipta dilindungi undang-undang.</p>
<p><a href="/redaksi">Redaksi</a> · <a href="/pedoman">Pedoman Media Siber</a> · <a href="/kontak">Kontak</a></p>
</footer>
<script>trackPageView("artikel-laos-vietnam");</script>
</body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (as the browser tests use it)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def print_pdf(browser: Any, page_html: str) -> bytes:
    """The page printed to PDF by Chromium (a real text-layer PDF)."""
    page = browser.new_page()
    try:
        page.set_content(page_html)
        return page.pdf(format="A4")
    finally:
        page.close()


def make_docx(doc: Document, title: str | None = None) -> bytes:
    """The article as a Word file: a Title paragraph, the paragraphs, a table; core properties set."""
    import docx

    d = docx.Document()
    if title:
        d.core_properties.title = title
        d.core_properties.author = "Dewi Lestari"
        d.core_properties.created = datetime(2023, 5, 10, 9, 0, tzinfo=timezone.utc)
    d.add_heading(doc.title, level=0)
    for p in paragraphs(doc):
        d.add_paragraph(p)
    table = d.add_table(rows=2, cols=2)
    for (r, c), v in {(0, 0): "Komoditas", (0, 1): "Nilai ekspor", (1, 0): "Kopi Gayo", (1, 1): "USD 12 juta"}.items():
        table.cell(r, c).text = v
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def write(tmp: Path, name: str, data: bytes | str) -> Path:
    """A file with these bytes (str: UTF-8)."""
    p = tmp / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def refusal(path: Path, max_bytes: int = 5_000_000) -> str:
    """The reason a file is refused (fails the test when it is read)."""
    with pytest.raises(BadInputError) as e:
        read_file(path, max_bytes)
    return e.value.message


# HTML ------------------------------------------------------------------------------------------------------------


def test_news_page_gives_the_article_body_and_its_meta_tags(tmp_path: Path) -> None:
    doc = seed(LAOS)
    [raw] = read_file(write(tmp_path, "laos.html", news_page(doc)), 5_000_000).articles
    assert raw.format == "html" and raw.encoding == "utf_8"
    for sentence in first_sentences(doc, 6):
        assert sentence in raw.text
    assert paragraphs(doc)[-1] in raw.text
    for junk in BOILERPLATE:
        assert junk not in raw.text, junk
    assert raw.text.count("\n\n") >= len(paragraphs(doc)) - 3  # paragraph breaks kept as blank lines
    assert raw.meta == {"title": doc.title, "url": CANONICAL, "date": "2025-08-04", "site": "Kabar Nusantara",
                        "author": "Rina Wulandari"}
    cleaned = clean_article(raw, "laos")
    assert cleaned.title == doc.title and cleaned.date == "2025-08-04" and cleaned.date_source == "file metadata"
    assert cleaned.site == "Kabar Nusantara" and cleaned.source_format == "html"


def test_page_without_meta_tags_falls_back_to_its_title(tmp_path: Path) -> None:
    doc = seed(LAOS)
    [raw] = read_file(write(tmp_path, "plain.htm", news_page(doc, with_meta=False)), 5_000_000).articles
    assert doc.title in raw.meta["title"] and "url" not in raw.meta
    assert all(s in raw.text for s in first_sentences(doc))
    assert "Menuju konten utama" not in raw.text and "trackPageView" not in raw.text


def test_page_in_a_declared_legacy_charset(tmp_path: Path) -> None:
    page = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
            "<title>Kafe “Bintang” di Bandung</title></head><body><article><h1>Kafe “Bintang” di Bandung</h1>"
            "<p>Pemilik kafe, André Wijaya, mengatakan kunjungan naik dua kali lipat sejak renovasi selesai bulan "
            "lalu. “Kami tidak menyangka,” ujarnya kepada wartawan pada Senin sore.</p>"
            "<p>Menurut dia, menu kopi lokal menjadi daya tarik utama bagi pengunjung muda dari luar kota.</p>"
            "</article></body></html>")
    [raw] = read_file(write(tmp_path, "kafe.html", page.encode("cp1252")), 5_000_000).articles
    assert raw.encoding == "cp1252" and "André Wijaya" in raw.text and "“Kami tidak menyangka,”" in raw.text
    assert raw.meta["title"] == "Kafe “Bintang” di Bandung"


# PDF -------------------------------------------------------------------------------------------------------------


def test_pdf_printed_by_chromium_gives_the_body(tmp_path: Path, browser: Any) -> None:
    doc = seed(LAOS)
    pdf = write(tmp_path, "laos.pdf", print_pdf(browser, news_page(doc)))
    [raw] = read_file(pdf, 5_000_000).articles
    assert raw.format == "pdf" and raw.encoding is None
    text = flat(raw.text)
    for sentence in first_sentences(doc, 6):
        assert flat(sentence) in text
    assert flat(paragraphs(doc)[-1]) in text
    assert raw.meta["title"].startswith("Menteri Informasi dan Komunikasi Laos")  # the page's <title>
    assert "date" not in raw.meta  # a browser print's creation date is the print date, not the article's
    assert raw.text.count("\n\n") >= 5  # re-flowed into paragraphs, not one line per printed line


def test_scanned_pdf_is_refused_with_what_to_do(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    pages = []
    for i in range(2):
        img = Image.new("RGB", (850, 1100), "white")
        draw = ImageDraw.Draw(img)
        for y in range(100, 1000, 40):
            draw.text((80, y), f"Halaman {i + 1}: teks hasil pindaian yang hanya berupa gambar", fill="black")
        pages.append(img)
    path = tmp_path / "pindaian.pdf"
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:])
    reason = refusal(path)
    assert "scanned PDF: 2 of 2 pages have images but no text layer" in reason and "ocrmypdf" in reason


def test_encrypted_pdf_needing_a_password_is_refused(tmp_path: Path, browser: Any) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(print_pdf(browser, news_page(seed(LAOS))))))
    writer.encrypt(user_password="rahasia", owner_password="rahasia", algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    assert "encrypted PDF that needs a password" in refusal(write(tmp_path, "kunci.pdf", buf.getvalue()))
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buf.getvalue()), password="rahasia"))
    writer.encrypt(user_password="", owner_password="pemilik", algorithm="AES-128")  # opens without a password
    buf = io.BytesIO()
    writer.write(buf)
    [raw] = read_file(write(tmp_path, "izin.pdf", buf.getvalue()), 5_000_000).articles
    assert first_sentences(seed(LAOS))[0] in flat(raw.text)


# DOCX ------------------------------------------------------------------------------------------------------------


def test_docx_paragraphs_table_and_core_properties(tmp_path: Path) -> None:
    doc = seed("003_103e626a5a1d57e5")
    [raw] = read_file(write(tmp_path, "labuan.docx", make_docx(doc, title="Kerja Sama Digital RI-Vietnam")),
                      5_000_000).articles
    assert raw.format == "docx"
    assert raw.meta == {"title": "Kerja Sama Digital RI-Vietnam", "author": "Dewi Lestari", "date": "2023-05-10"}
    assert raw.text.split("\n\n")[:3] == [doc.title, *paragraphs(doc)[:2]]  # Title paragraph kept: it differs
    assert "Komoditas | Nilai ekspor\n\nKopi Gayo | USD 12 juta" in raw.text
    [plain] = read_file(write(tmp_path, "tanpa.docx", make_docx(doc)), 5_000_000).articles
    assert plain.meta == {"title": doc.title}  # the Title paragraph; python-docx's template author/date ignored
    assert plain.text.split("\n\n")[0] == paragraphs(doc)[0]  # and not repeated in the body


# Text encodings --------------------------------------------------------------------------------------------------

LEGACY = ("Pemilik kafe, André Wijaya, mengatakan kunjungan naik dua kali lipat sejak renovasi. "
          "“Kami tidak menyangka,” ujarnya. Harga secangkir kopi kini Rp 25.000 – naik sedikit.\n")


def test_cp1252_text_is_read_and_its_encoding_named(tmp_path: Path) -> None:
    [raw] = read_file(write(tmp_path, "kafe.txt", LEGACY.encode("cp1252")), 5_000_000).articles
    assert raw.encoding == "cp1252" and raw.text == LEGACY and raw.format == "txt"
    [short] = read_file(write(tmp_path, "latin.txt", "Caf\xe9 sore di Hanoi.".encode("latin-1")), 5_000_000).articles
    assert short.text == "Café sore di Hanoi." and short.encoding == "cp1252"


def test_utf16_and_utf8_bom_text(tmp_path: Path) -> None:
    [raw] = read_file(write(tmp_path, "u16.txt", LEGACY.encode("utf-16")), 5_000_000).articles
    assert raw.encoding == "utf_16" and raw.text == LEGACY
    [bom] = read_file(write(tmp_path, "bom.text", b"\xef\xbb\xbf" + LEGACY.encode()), 5_000_000).articles
    assert bom.encoding == "utf_8" and bom.text == LEGACY
    assert "not valid UTF_16" in refusal(write(tmp_path, "half.txt", b"\xff\xfe broken"))


def test_binary_garbage_empty_and_oversize_files_are_refused(tmp_path: Path) -> None:
    reason = refusal(write(tmp_path, "acak.txt", os.urandom(200_000)))
    assert reason.startswith(f"{tmp_path / 'acak.txt'}: mostly non-text (binary)") and "NUL bytes" in reason
    no_nul = bytes(b if b else 1 for b in os.urandom(50_000))
    assert "mostly non-text" in refusal(write(tmp_path, "acak2.txt", no_nul))
    symbols = refusal(write(tmp_path, "tabel.txt", "+---+---+\n|=|=|<>|\n" * 50 + "Sedikit teks.\n"))
    assert re.search(r"mostly non-text: only 4\d% of the characters are letters, digits, spaces or punctuation "
                     r"\(at least 80% expected\)", symbols), symbols
    assert "empty file" in refusal(write(tmp_path, "kosong.md", " \n\n"))
    big = write(tmp_path, "besar.txt", "Kalimat berita yang panjang sekali. " * 60)
    assert f"{big.stat().st_size:,} bytes is larger than the 1,000-byte limit (max_article_bytes setting)" in refusal(
        big, max_bytes=1_000)


# Content versus extension ----------------------------------------------------------------------------------------


def test_kind_is_taken_from_the_content(tmp_path: Path) -> None:
    doc = seed(LAOS)
    [raw] = read_file(write(tmp_path, "halaman.txt", news_page(doc)), 5_000_000).articles
    assert raw.format == "html" and raw.meta["url"] == CANONICAL and "trackPageView" not in raw.text
    [noext] = read_file(write(tmp_path, "tanpa_ekstensi", news_page(doc)), 5_000_000).articles
    assert noext.format == "html"
    [docx] = read_file(write(tmp_path, "salah_nama.txt", make_docx(doc)), 5_000_000).articles
    assert docx.format == "docx"
    reason = refusal(write(tmp_path, "laporan.pdf", "Ini bukan PDF, hanya teks biasa tentang berita."))
    assert "named .pdf but the content is not a PDF (starts with 'Ini bukan PDF, hanya tek…')" in reason
    assert "named .docx but the content is not a Word .docx" in refusal(write(tmp_path, "x.docx", "teks biasa"))
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)  # the start of an old binary Office file
    assert refusal(write(tmp_path, "lama.doc", ole)).endswith("old binary Word .doc is not supported; save as .docx")
    assert "old binary Word .doc" in refusal(write(tmp_path, "lama.txt", ole))
    assert "the content is a PNG image" in refusal(write(tmp_path, "foto.txt", b"\x89PNG\r\n\x1a\n" + bytes(100)))
    reason = refusal(write(tmp_path, "data.xlsx", b"PK"))
    assert "unsupported file type '.xlsx'; supported: .txt, .text, .md, .markdown, .html, .htm, .pdf, .docx, " \
           ".jsonl (or a file with no extension)" in reason


def test_folder_listing_reports_unsupported_types(tmp_path: Path) -> None:
    for name in ["a.txt", "b.md", "c.html", "d.pdf", "e.docx", "f.jsonl", "g.doc", "h.xlsx", "README"]:
        write(tmp_path, name, "x")
    files, skipped = find_article_files([tmp_path])
    assert [f.name for f in files] == ["a.txt", "b.md", "c.html", "d.pdf", "e.docx", "f.jsonl"]
    reasons = {s.path.name: s.reason for s in skipped}
    assert reasons["README"].startswith("no file extension")  # in a folder: only when named explicitly
    assert [f.name for f in find_article_files([tmp_path / "README"])[0]] == ["README"]
    assert reasons["g.doc"] == "old binary Word .doc is not supported; save as .docx"
    assert reasons["h.xlsx"].startswith("unsupported file type '.xlsx'; supported: .txt")


# JSONL and Markdown ----------------------------------------------------------------------------------------------

JSONL_ARTICLES = [
    {"title": "Festival Kopi Gayo 2025 Ramai Pengunjung", "url": "https://contoh.example/kopi-gayo",
     "published_at": "2025-03-02T08:00:00Z", "content": "Festival Kopi Gayo 2025 di Takengon, Aceh Tengah, dihadiri "
     "lebih dari dua puluh ribu pengunjung selama tiga hari. Panitia mencatat nilai transaksi mencapai Rp 4,2 miliar, "
     "naik dibanding tahun lalu. Petani kopi setempat menyambut baik lonjakan pembeli dari luar daerah."},
    {"title": "Jalur Kereta Bandung–Garut Kembali Beroperasi", "link": "https://contoh.example/kereta-garut",
     "date": "Mon, 10 Feb 2025 09:30:00 +0700", "text": "Jalur kereta api Bandung–Garut kembali melayani penumpang "
     "setelah direaktivasi. Kementerian Perhubungan menyebut jalur ini memangkas waktu tempuh hingga satu jam. "
     "Warga Garut berharap tarif tetap terjangkau bagi pekerja harian."},
    {"title": "Panen Raya Padi di Karawang", "published": "2025-04-15", "site": "Kabar Desa",
     "body": "Petani di Karawang memulai panen raya padi musim ini dengan hasil rata-rata tujuh ton per hektare. "
     "Dinas Pertanian menyatakan cuaca yang bersahabat membuat hasil panen lebih baik. Harga gabah kering panen "
     "di tingkat petani tercatat stabil sepanjang pekan pertama panen."},
]


def jsonl_bytes(records: list[dict], bad_line: str | None = '{"title": "Rusak", "text": "tanpa kurung tutup"') -> bytes:
    """A JSON Lines dump, with one broken line after the second record."""
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    if bad_line is not None:
        lines.insert(2, bad_line)
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_jsonl_reads_every_good_line_and_reports_the_bad_one(tmp_path: Path) -> None:
    path = write(tmp_path, "dump.jsonl", jsonl_bytes(JSONL_ARTICLES))
    got = read_articles(path)
    assert [a.part for a in got.articles] == [1, 2, 4] and all(a.format == "jsonl" for a in got.articles)
    assert [(n, why.split(" (")[0]) for n, why in got.problems] == [(3, "invalid JSON")]
    first, second, third = got.articles
    assert first.meta == {"title": JSONL_ARTICLES[0]["title"], "url": "https://contoh.example/kopi-gayo",
                          "date": "2025-03-02"}
    assert second.meta["url"] == "https://contoh.example/kereta-garut" and second.meta["date"] == "2025-02-10"
    assert third.meta["site"] == "Kabar Desa" and third.text == JSONL_ARTICLES[2]["body"]
    assert len({a.content_hash for a in got.articles}) == 3
    reason = refusal(write(tmp_path, "semua_rusak.jsonl", b'{"title": "x"}\n[1, 2]\n'))
    assert "no usable line" in reason and "line 1: no article text" in reason and "line 2: not a JSON object" in reason


def test_markdown_front_matter_images_links_and_emphasis(tmp_path: Path) -> None:
    md = """---
title: "Pelabuhan Patimban Tambah Dermaga"
date: 2025-06-01
url: https://contoh.example/patimban
---

# Judul di dalam berkas

![Foto dermaga](https://contoh.example/foto.jpg)

Pemerintah **meresmikan** dermaga baru di *Pelabuhan Patimban*, Subang,
untuk menambah kapasitas ekspor mobil. <!-- catatan redaksi: cek angka -->
Menurut [Kementerian Perhubungan](https://dephub.example), kapasitasnya naik 30 persen.

## Dampak bagi industri

- Waktu tunggu kapal berkurang.
- Biaya logistik turun.
"""
    [raw] = read_file(write(tmp_path, "patimban.md", md), 5_000_000).articles
    assert raw.format == "md" and raw.encoding == "utf_8"
    assert raw.meta == {"title": "Pelabuhan Patimban Tambah Dermaga", "date": "2025-06-01",
                        "url": "https://contoh.example/patimban"}
    assert raw.text.split("\n\n") == [
        "Pemerintah meresmikan dermaga baru di Pelabuhan Patimban, Subang, untuk menambah kapasitas ekspor mobil. "
        "Menurut Kementerian Perhubungan, kapasitasnya naik 30 persen.",
        "Dampak bagi industri", "Waktu tunggu kapal berkurang.", "Biaya logistik turun."]
    [heading] = read_file(write(tmp_path, "judul.markdown", md.split("---\n", 2)[2]), 5_000_000).articles
    assert heading.meta == {"title": "Judul di dalam berkas"} and "Judul di dalam" not in heading.text


# Through the real ingest -----------------------------------------------------------------------------------------


def test_mixed_folder_ingest_incremental(tmp_path: Path, browser: Any) -> None:
    arts = tmp_path / "articles"
    arts.mkdir()
    legacy = seed("000_fe7235151a4f32f4")
    legacy_text = legacy.text.replace("Perdana Menteri", "“Perdana Menteri”", 1) + "\nCafé.\n"
    write(arts, "kafe.txt", legacy_text.encode("cp1252"))
    write(arts, "laos.html", news_page(seed(LAOS)))
    write(arts, "transformasi.pdf", print_pdf(browser, news_page(seed("002_6f724baf5e7adcba"), with_meta=False)))
    write(arts, "labuan.docx", make_docx(seed("003_103e626a5a1d57e5"), title="Kerja Sama Digital RI-Vietnam"))
    quang = seed("004_c4081a22872c9916")
    write(arts, "quang.md", f"---\ntitle: Menteri Luong Tam Quang\ndate: 2025-10-26\n---\n\n{quang.text}\n")
    write(arts, "dump.jsonl", jsonl_bytes(JSONL_ARTICLES))
    write(arts, "lama.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))

    s = make_settings(tmp_path)
    first = ingest([arts], s, make_store(s), FakeEmbedder(), progress=False)
    assert sorted(first.added) == ["dump-1", "dump-2", "dump-4", "kafe", "labuan", "laos", "quang", "transformasi"]
    skipped = {str(x.path): x.reason for x in first.skipped}
    assert skipped[f"{arts / 'dump.jsonl'}:3"].startswith("invalid JSON")
    assert skipped[str(arts / "lama.doc")] == "old binary Word .doc is not supported; save as .docx"
    assert first.encodings == {str(arts / "kafe.txt"): "cp1252"}
    assert f"  encoding cp1252 for {arts / 'kafe.txt'}" in first.summary()

    docs = make_store(s).documents()
    formats = {aid: (d.source_format, d.encoding) for aid, d in docs.items()}
    assert formats == {"kafe": ("txt", "cp1252"), "laos": ("html", "utf_8"), "transformasi": ("pdf", None),
                       "labuan": ("docx", None), "quang": ("md", "utf_8"), "dump-1": ("jsonl", "utf_8"),
                       "dump-2": ("jsonl", "utf_8"), "dump-4": ("jsonl", "utf_8")}
    assert docs["laos"].title == seed(LAOS).title and docs["laos"].url == CANONICAL
    assert docs["laos"].site == "Kabar Nusantara" and docs["laos"].date == "2025-08-04"
    assert docs["labuan"].title == "Kerja Sama Digital RI-Vietnam" and docs["labuan"].author == "Dewi Lestari"
    assert docs["quang"].title == "Menteri Luong Tam Quang" and docs["quang"].date == "2025-10-26"
    assert docs["dump-2"].title == JSONL_ARTICLES[1]["title"] and docs["dump-2"].part == 2
    assert "“Perdana Menteri”" in docs["kafe"].text
    assert first_sentences(seed("002_6f724baf5e7adcba"), 1)[0] in flat(docs["transformasi"].text)

    again = ingest([arts], s, make_store(s), FakeEmbedder(), progress=False)
    assert len(again.unchanged) == 8 and again.embedded_chunks == 0 and not again.wrote_index
    assert not again.encodings

    changed = [*JSONL_ARTICLES]
    changed[1] = {**changed[1], "text": changed[1]["text"] + " Tiket dapat dipesan melalui aplikasi."}
    write(arts, "dump.jsonl", jsonl_bytes(changed))
    third = ingest([arts], s, make_store(s), FakeEmbedder(), progress=False)
    assert third.updated == ["dump-2"] and not third.added and not third.removed and len(third.unchanged) == 7
    index = Index.load(s.index_dir)
    assert third.embedded_chunks == sum(c.article_id == "dump-2" for c in index.chunks) > 0
    assert "melalui aplikasi" in index.docs["dump-2"].text

    broken = jsonl_bytes(changed).split(b"\n")
    broken[1] = broken[1][:40]  # line 2 cut short: reported, and its last good version stays indexed
    write(arts, "dump.jsonl", b"\n".join(broken))
    fourth = ingest([arts], s, make_store(s), FakeEmbedder(), progress=False)
    bad_lines = [str(x.path) for x in fourth.skipped if "dump" in str(x.path)]
    assert bad_lines == [f"{arts / 'dump.jsonl'}:{n}" for n in (2, 3)]
    assert not fourth.removed and "melalui aplikasi" in make_store(s).documents()["dump-2"].text


def test_upload_accepts_the_same_formats_with_both_limits(tmp_path: Path) -> None:
    from rag.answer.assistant import Assistant
    from rag.backends.generators.fake import FakeGenerator

    s = make_settings(tmp_path, uploads_dir=tmp_path / "uploads", ui_max_upload_bytes=400_000)
    assistant = Assistant(s, FakeEmbedder(), FakeGenerator(""), make_store(s))
    page = write(tmp_path, "laos.html", news_page(seed(LAOS)))
    report = assistant.add_article(page, page.name)
    assert report.added == ["laos"] and (s.uploads_dir / "laos.html").exists()
    assert make_store(s).documents()["laos"].url == CANONICAL
    docx_file = write(tmp_path, "labuan.docx", make_docx(seed("003_103e626a5a1d57e5"), title="Kerja Sama Digital"))
    assert assistant.add_article(docx_file, docx_file.name).added == ["labuan"]

    def refused(path: Path) -> str:
        with pytest.raises(BadInputError) as e:
            assistant.add_article(path, path.name)
        return e.value.message

    assert refused(write(tmp_path, "lama.doc", b"x")) == "lama.doc: old binary Word .doc is not supported; save as .docx"
    assert refused(write(tmp_path, "foto.png", b"x")).startswith("foto.png: unsupported file type '.png'; supported: .txt")
    big = write(tmp_path, "besar.txt", "Kalimat berita yang panjang sekali. " * 12_000)
    assert refused(big) == (f"besar.txt: {big.stat().st_size:,} bytes is larger than the 400,000-byte limit "
                            "(ui_max_upload_bytes setting)")
    tighter = Assistant(s.model_copy(update={"max_article_bytes": 100_000}), FakeEmbedder(), FakeGenerator(""),
                        make_store(s))
    with pytest.raises(BadInputError, match="larger than the 100,000-byte limit \\(max_article_bytes setting\\)"):
        tighter.add_article(big, big.name)
    assert "named .pdf but the content is not a PDF" in refused(write(tmp_path, "rusak.pdf", "Bukan PDF."))
    assert "mostly non-text" in refused(write(tmp_path, "acak.txt", os.urandom(20_000)))
    assert not (s.uploads_dir / "rusak.pdf").exists() and len(make_store(s).documents()) == 2
