"""Faithful figures and names: fixed cases of Indonesian number writing, word-numbers and misspelt names."""

from __future__ import annotations

import pytest

from rag.answer.faithful import check_names, figures, missing_subjects, question_subjects, unsupported_figures

EVIDENCE = [
    "Ekonomi Vietnam tumbuh 8,02 persen pada 2022. Sebanyak 15 juta pengguna dan 1.000.000 pelanggan baru "
    "tercatat, dengan investasi US$100 juta. Menteri Laos Boviengkham Vongdara dan Wakil Menteri Sitthiphone "
    "menandatangani Perjanjian Ekstradisi dan Perjanjian Pemindahan Narapidana. Dua negara hadir.",
    "Siapa yang menandatangani perjanjian itu?",
]


@pytest.mark.parametrize("answer, unsupported", [
    ("Ekonomi Vietnam tumbuh 8,02 persen.", []),
    ("Vietnam's economy grew 8.02 percent in 2022.", []),  # an English answer writes the decimal with a dot
    ("Ekonomi Vietnam tumbuh 802 persen.", ["802"]),  # a decimal comma lost (the slug-title error)
    ("Ada 15.000.000 pengguna.", []),  # thousands dots against "15 juta"
    ("There were 15 million users.", []),
    ("Ada 1 juta pelanggan baru.", []),  # "1 juta" against "1.000.000"
    ("Investasinya US$100 juta.", []),
    ("Investasinya US$200 juta.", ["200"]),
    ("Tiga negara hadir.", ["tiga"]),  # a word-number the evidence does not hold
    ("Dua negara hadir.", []),
    ("Two countries attended.", []),
    ("Ada 2 negara.", []),  # "Dua" in the evidence supports the digit
    ("Pertemuan berlangsung pada 2023.", ["2023"]),
])
def test_figures_are_compared_by_value(answer: str, unsupported: list[str]) -> None:
    assert unsupported_figures(answer, EVIDENCE) == unsupported


def test_readings_of_ambiguous_separators() -> None:
    got = figures("1,500 staf; 1.500 staf; 8,02 persen; 1.234,5 ton; dua puluh lima orang; Rp1,5 triliun")
    assert got["1,500"] == {1500.0, 1.5} and got["1.500"] == {1500.0, 1.5}
    assert got["8,02"] == {8.02} and got["1.234,5"] == {1234.5}
    assert got["dua puluh lima"] == {25.0} and got["1,5"] == {1.5, 1.5e12}


def test_near_miss_names_are_respelled_from_the_evidence() -> None:
    got = check_names("Perjanjian ditandatangani oleh Sitsithiphone dan Boviengkham Vongdhara.", EVIDENCE, True)
    assert got.text == "Perjanjian ditandatangani oleh Sitthiphone dan Boviengkham Vongdara."
    assert got.snapped == [("Sitsithiphone", "Sitthiphone"), ("Vongdhara", "Vongdara")] and not got.unsupported


def test_a_name_found_nowhere_is_unsupported_in_the_evidence_language() -> None:
    got = check_names("Perjanjian ditandatangani oleh Nguyen Van Thanh.", EVIDENCE, True)
    assert got.unsupported == ["Nguyen", "Van", "Thanh"]
    assert check_names("Menteri Laos Boviengkham Vongdara menandatanganinya.", EVIDENCE, True).unsupported == []


def test_translated_words_pass_in_another_language_but_acronyms_do_not() -> None:
    got = check_names("The Minister of Laos, Boviengkham Vongdara, signed the Extradition Treaty.", EVIDENCE, False)
    assert got.unsupported == [] and got.text.startswith("The Minister of Laos")
    assert check_names("It was signed with the BSSN.", EVIDENCE, False).unsupported == ["BSSN"]


def test_sentence_initial_common_words_are_not_names() -> None:
    assert check_names("Pada 2022, ekonomi Vietnam tumbuh. Menurut laporan itu, ada kenaikan.", EVIDENCE, True
                       ).unsupported == []


def test_the_subjects_of_a_question_and_those_missing_from_the_evidence() -> None:
    from rag.answer.faithful import missing_subjects, question_subjects

    q = "Siapa Bupati Blora periode 2005-2010?"
    assert question_subjects(q) == ["Bupati", "Blora", "2005", "2010"]
    assert missing_subjects(q, ["Bupati Kolaka H Buhari Matta menjabat periode 2005-2010."]) == ["Blora"]
    assert missing_subjects("Apa warna khas Bendera Brasil?", ["Bendera Jepang berwarna merah putih."]) == ["Brasil"]
    assert missing_subjects("According to Mothership, when did it happen?", ["(Ransom demand, mothership.sg)"]) == []



def test_a_subject_the_evidence_writes_in_another_form_is_found() -> None:
    from rag.answer.faithful import missing_subjects

    evidence = ["Pesawat TANS Peru Airlines jatuh (23/8/2005). Ketua BPD Kahingai, Ali, dan anggota Komisi "
                "Pemilihan Umum Djapiten ikut hadir."]
    assert missing_subjects("Siapa Ketua Badan Perwakilan Desa Kahingai?", evidence) == []  # spelled out: BPD
    assert missing_subjects("Djapiten menerima uang dari KPU?", evidence) == []  # abbreviated: Komisi Pemilihan Umum
    assert missing_subjects("Berapa korban TANS Peru Airline pada 23 Agustus 2005?", evidence) == []  # 23/8, -s
    assert missing_subjects("Siapa Ketua Badan Pemeriksa Keuangan?", evidence) == ["Badan", "Pemeriksa", "Keuangan"]
    assert missing_subjects("Apa kata KPK tentang Djapiten?", evidence) == ["KPK"]
    assert missing_subjects("Kapan pesawat jatuh pada 23 September 2005?", evidence) == ["September"]
    assert missing_subjects("Siapa Bupati Blora?", ["Bupati Blorasari menjabat."]) == ["Blora"]  # not a suffix: name

def test_dates_acronyms_and_figures_inside_names_are_not_invented_names() -> None:
    seen = ["(Kurs, kompas.com, 2024-06-24) Tebusan US$8 juta setara Rp131 miliar, kata Dinkes P2P.",
            "Bintang HD 11977 dikelilingi planet ekstrasolar."]
    assert check_names("On June 24, the ministry refused; Rp131 miliar was asked.", seen, True).unsupported == []
    assert check_names("Pada 24 Juni, Dinkes P2P menolak.", seen, True).unsupported == []
    assert check_names("Planet itu mengelilingi bintang HD11977.", seen, True).unsupported == []
    assert check_names("Pada 24 Juli, Dinkes menolak.", seen, True).unsupported == ["Juli"]  # a month not in it
    assert check_names("Dinkes P3K menolak.", seen, True).unsupported == ["P3K"]


def test_a_question_in_another_language_than_the_evidence_is_checked_by_acronyms_and_figures_only() -> None:
    q = "Who is the Lao Minister of Information and Communications who visited Vietnam in August 2025?"
    evidence = ["Menteri Informasi dan Komunikasi Laos Boviengkham Vongdara berkunjung ke Vietnam, 20 Agustus 2025."]
    assert len(missing_subjects(q, evidence)) > len(question_subjects(q)) / 2  # read word for word: most missing
    assert question_subjects(q, same_language=False) == ["2025"]
    assert missing_subjects(q, evidence, same_language=False) == []
    assert missing_subjects("Which SPRN gene did the BRIN team study in 1999?", evidence, same_language=False) == [
        "SPRN", "BRIN", "1999"]
