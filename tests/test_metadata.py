"""Title, date, link and site rules on small made-up pages; the seeds' metadata and the dev collection's text held."""

from __future__ import annotations

import pytest

from rag.ingest.articles import read_article
from rag.ingest.clean import clean_article, normalise
from rag.ingest.metadata import (
    date_in_text,
    date_in_url,
    find_headline,
    find_link,
    header_date,
    is_noise,
    looks_like_headline,
    site_from_text,
    slug_title,
    strip_site_suffix,
)
from tests.conftest import SEEDS

BODY = ("Pemerintah kota menyiapkan tiga puluh pompa air baru untuk mengatasi genangan di kawasan padat penduduk "
        "selama musim hujan tahun ini, kata kepala dinas kepada wartawan di balai kota pada pagi hari.")


def lines(text: str) -> list[str]:
    return normalise(text).split("\n")


@pytest.mark.parametrize("line", [
    "Menuju konten utama", "Skip to content", "Lompat ke konten", "![](https://x.id/a.jpg)", "![Foto banjir](x.jpg) |",
    "![]() |", "| | |", "Home > Berita > Nasional", "- Home", "Jakarta (ANTARA) -", "Jakarta -", "Jakarta, CONTOH.ID",
    "Editor: Budi Santoso", "(Foto: dok. pribadi)", "contoh.co.id",
])
def test_furniture_is_never_a_headline(line: str) -> None:
    assert is_noise(line) or not looks_like_headline(line)
    assert find_headline(lines(f"{line}\n\n{BODY}\n")) is None


def test_headline_rules() -> None:
    assert looks_like_headline("Pemkot Siapkan 30 Pompa Air Baru Hadapi Musim Hujan")
    assert looks_like_headline("Waspada! Hujan Lebat Diprediksi Guyur Tiga Provinsi")
    assert not looks_like_headline("Baca berita tanpa iklan. Gabung Sekarang")  # two sentences
    assert not looks_like_headline("Pompa air dipasang di tiga titik.")  # a sentence with a final period
    assert not looks_like_headline("EMAS 1.520.000 -13.000 -0,85% naik")  # mostly numbers
    assert not looks_like_headline("Bisnis.com, JAKARTA - Pemerintah kota menyiapkan pompa")  # a dateline lead


def test_repeated_line_or_one_next_to_a_date_wins_over_a_first_notice() -> None:
    page = ("Perbarui peramban Anda sekarang juga\nPeramban Anda sudah usang dan mungkin tidak cocok dengan situs ini, "
            "silakan pasang versi terbaru dari daftar peramban populer di bawah ini agar tampilan tetap baik.\n"
            "Pemkot Siapkan 30 Pompa Air Baru\nOleh Budi\nSenin, 12 Mei 2025 10:30 WIB\nPemkot Siapkan 30 Pompa Air Baru\n"
            f"{BODY}\n")
    assert find_headline(lines(page)) == "Pemkot Siapkan 30 Pompa Air Baru"


def test_markdown_heading_and_judul_line_and_site_suffix() -> None:
    assert find_headline(lines(f"Menu\n# Pompa Air Baru Disiapkan | Contoh.com\n{BODY}")) == "Pompa Air Baru Disiapkan"
    assert find_headline(lines(f"Judul: Pompa Air Baru untuk Warga\n{BODY}")) == "Pompa Air Baru untuk Warga"
    assert strip_site_suffix("Pompa Air Baru Disiapkan - Kabar Kota") == "Pompa Air Baru Disiapkan"
    assert strip_site_suffix("Klasemen - Menang di Misano, Bagnaia Pangkas Selisih Poin") == (
        "Klasemen - Menang di Misano, Bagnaia Pangkas Selisih Poin")  # a long tail is part of the headline


def test_slug_title_when_the_text_has_no_headline_or_disagrees() -> None:
    url = "https://contoh.id/berita/2025/05/12/pemkot-siapkan-pompa-air-baru-hadapi-hujan-98765"
    assert slug_title(url, BODY + " Pompa baru hadapi hujan.") == "Pemkot Siapkan Pompa Air Baru Hadapi Hujan"
    unrelated = "https://contoh.id/2025/05/12/harga-cabai-rawit-naik-tajam-pekan-ini"
    assert find_headline(lines(f"{BODY}\nSumber: {unrelated}"), unrelated) is None  # slug words absent from the text
    other = "https://contoh.vn/thu-tuong-cong-thuc-hop-tac-moi.html"
    assert slug_title(other, BODY) is None  # another language: the slug is not used
    sidebar = f"Harga Cabai Naik Lagi di Pasar Induk\n10 Mei 2025, 12:00 WIB\n{BODY} Pompa air baru hadapi hujan."
    assert find_headline(lines(sidebar), url) == "Pemkot Siapkan Pompa Air Baru Hadapi Hujan"


def test_date_formats() -> None:
    assert date_in_text("Senin, 12 Mei 2025 10:30 WIB") == "2025-05-12"
    assert date_in_text("12/05/2025") == "2025-05-12" and date_in_text("diubah 30/12/16 - 13:57") == "2016-12-30"
    assert date_in_text("2025-05-12") == "2025-05-12" and date_in_text("12 May 2025") == "2025-05-12"
    assert date_in_text("Tue, May 12, 2025 / 09:40 am") == "2025-05-12"
    assert date_in_text("Kamis 23 Dec 2021 16:41 WIB") == "2021-12-23"
    assert date_in_url("https://x.id/read/2025/05/12/abc") == "2025-05-12"
    assert date_in_url("https://x.id/read/20250512/7/123/abc") == "2025-05-12"
    assert date_in_url("https://x.id/read-1-2025-05-12-abc.html") == "2025-05-12"
    assert date_in_url("https://x.id/2025/05/abc") is None  # no day


def test_published_is_preferred_over_updated() -> None:
    page = lines(f"Judul Berita Pompa Air Baru\nDiperbarui: 14 Mei 2025 08:00 WIB\nSenin, 12 Mei 2025 10:30 WIB\n{BODY}")
    assert header_date(page) == ("2025-05-12", "2025-05-14")
    only_updated = lines(f"Judul Berita Pompa Air Baru\n{BODY}\nTerakhir diubah: 30/12/16 - 13:57")
    assert header_date(only_updated) == (None, "2016-12-30")


def test_links_and_sites() -> None:
    assert find_link(["Sumber: https://contoh.id/a/b"]) == "https://contoh.id/a/b"
    assert find_link(["Source: https://contoh.id/a"]) == "https://contoh.id/a"
    assert find_link(["Baca selengkapnya di https://contoh.id/a"]) == "https://contoh.id/a"
    assert find_link(["Sumber : ANTARA Foto/Hafidz"]) is None and find_link(["Sumber: RMOL"]) is None
    assert find_link(["https://contoh.id/berita/a", BODY]) == "https://contoh.id/berita/a"  # bare link at the start
    assert find_link([BODY, "https://contoh.id/berita/a"]) == "https://contoh.id/berita/a"  # or the end
    assert site_from_text([f"JAKARTA, CONTOH.com - {BODY}"]) == "contoh.com"
    assert site_from_text([f"contoh.tv – {BODY}"]) == "contoh.tv"
    assert site_from_text([BODY]) is None


def test_clean_article_uses_the_rules(tmp_path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("Menuju konten utama\n![](https://x.id/a.jpg)\nHome > Berita\nPompa Air Baru Disiapkan Pemkot\n"
                 f"Senin, 12 Mei 2025 10:30 WIB\nJakarta (ANTARA) -\n{BODY}\n", encoding="utf-8")
    d = clean_article(read_article(f), "p")
    assert (d.title, d.date, d.date_source, d.url) == ("Pompa Air Baru Disiapkan Pemkot", "2025-05-12", "page header", None)
    f.write_text(f"Bisnis.com, JAKARTA - {BODY}\nSumber: https://contoh.id/read/20250512/7/1/pemkot-siapkan-pompa-air\n",
                 encoding="utf-8")
    d = clean_article(read_article(f), "p")
    assert d.title == "Pemkot Siapkan Pompa Air" and d.date == "2025-05-12" and d.date_source == "link"
    assert d.site == "contoh.id"


# What the seeds' metadata was before these rules (checked with the committed cleaner): it must not move.
SEED_META = {
    "000_fe7235151a4f32f4": ("Perdana Menteri Pham Minh Chinh menerima Menteri Teknologi Informasi d", None, "vietnamnet.vn"),
    "001_5588f0be4399d35c": ("Menteri Informasi dan Komunikasi Laos Boviengkham Vongdara melakukan d", "2025-08-04", "mst.gov.vn"),
    "002_6f724baf5e7adcba": ("Perdana Menteri Pham Minh Chinh menekankan bahwa transformasi digital ", None, "thanhnien.vn"),
    "003_103e626a5a1d57e5": ("Indonesia dan Vietnam Sepakati Kerja Sama Pemanfaatan Ruang Digital un", "2023-05-10", "indonews.id"),
    "004_c4081a22872c9916": ("Menteri Luong Tam Quang menyambut Menteri dan delegasi tingkat tinggi ", "2025-10-26", "baotintuc.vn"),
}


@pytest.mark.parametrize("stem", sorted(SEED_META))
def test_seed_metadata_unchanged(stem: str) -> None:
    d = clean_article(read_article(SEEDS / f"{stem}.txt"), stem)
    title, when, site = SEED_META[stem]
    assert d.title.startswith(title) and d.date == when and d.site == site
    assert (d.url is None) == (stem == "003_103e626a5a1d57e5")


def test_a_slug_title_takes_the_texts_spelling_and_never_a_figure_the_text_lacks() -> None:
    from rag.ingest.metadata import respell_slug

    text = ("Ekonomi Vietnam melesat 8,02 persen pada 2022, kata pejabat RI. Vietnam's 2024 GDP growth quickens to "
            "7.09%. Alert level raised: 'Beware' of the volcano.")
    assert respell_slug("ekonomi-vietnam-melesat-802-persen".split("-"), text) == "Ekonomi Vietnam Melesat 8,02 Persen"
    assert respell_slug("vietnam-s-2024-gdp-growth-quickens-to-709".split("-"), text) == \
        "Vietnam's 2024 GDP Growth Quickens to 7.09"
    assert respell_slug("ekonomi-ri-tumbuh".split("-"), text) == "Ekonomi RI Tumbuh"
    assert respell_slug("alert-level-to-039beware".split("-"), text) == "Alert Level to Beware"
    assert respell_slug("ekonomi-vietnam-tembus-999-persen".split("-"), text) == "Ekonomi Vietnam Tembus Persen"
