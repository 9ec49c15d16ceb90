"""The shared text conventions: citation markers in the forms models write, sentence spans, month names."""

from __future__ import annotations

from rag.text import (
    MONTH_NAMES,
    MONTHS,
    format_marker,
    is_marker,
    leading_plain_markers,
    parse_markers,
    parse_plain_markers,
    split_sentences,
    strip_markers,
    strip_plain_markers,
    strip_unlabelled_markers,
)


def test_markers_are_read_in_every_form_a_model_writes() -> None:
    text = "Harga naik [2]. Ekspor turun [1, 3] dan impor [4; 5]. Menurut [passage 6] dan [ Sumber 7 ], juga [ 8 ]."
    assert parse_markers(text) == [2, 1, 3, 4, 5, 6, 7, 8]
    assert parse_markers("Tanpa penanda, tahun [2024a] atau [x].") == []


def test_strip_markers_removes_every_form_or_replaces_it() -> None:
    assert strip_markers("A [1]. B [passage 2, 3].") == "A . B ."
    assert strip_markers("A[1]B", " ") == "A B"


def test_unlabelled_strip_keeps_markers_that_name_a_passage_word() -> None:
    assert strip_unlabelled_markers("A [1, 2] B [source 3] C [ 4 ].") == "A   B [source 3] C  ."
    assert strip_unlabelled_markers("[passage [1]]", "") == "[passage ]"


def test_plain_markers_are_only_the_checked_form() -> None:
    text = "A [1]. B [2][1]. C [1, 3] D [passage 4] E [ 5 ]."
    assert parse_plain_markers(text) == [1, 2, 1]
    assert strip_plain_markers(text) == "A . B . C [1, 3] D [passage 4] E [ 5 ]."


def test_leading_plain_markers_belong_to_the_sentence_before() -> None:
    assert leading_plain_markers(" [1] [2] Qatar ingin pusat data [3].") == ([1, 2], 9)
    assert leading_plain_markers("Qatar [1].") == ([], 0)
    assert leading_plain_markers("[1, 2] Qatar.") == ([], 0)


def test_format_marker_is_what_the_parsers_read() -> None:
    assert format_marker(12) == "[12]"
    assert parse_plain_markers(format_marker(12)) == parse_markers(format_marker(12)) == [12]
    assert is_marker("[3]") and is_marker("[Bagian 3, 4]") and not is_marker("[3] x") and not is_marker("P2P")


def test_sentences_end_at_punctuation_before_a_capital_not_after_abbreviations() -> None:
    text = "Menteri Johnny G. Plate hadir. Dr. Budi bicara.\n\n“Kami siap,” katanya! Harga Rp. 5 juta? Ya."
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Menteri Johnny G. Plate hadir.", "Dr. Budi bicara.", "“Kami siap,” katanya!", "Harga Rp. 5 juta?", "Ya."]
    assert split_sentences("Satu. Dua.", offset=10) == [(10, 15), (16, 20)]
    assert split_sentences("  \n ") == []


def test_months_are_read_in_both_languages_and_shown_by_label_language() -> None:
    assert MONTHS["januari"] == MONTHS["jan"] == MONTHS["january"] == 1
    assert MONTHS["mei"] == MONTHS["may"] == 5 and MONTHS["agt"] == MONTHS["aug"] == 8
    assert MONTHS["pebruari"] == 2 and MONTHS["nop"] == 11 and MONTHS["des"] == MONTHS["dec"] == 12
    assert MONTH_NAMES["id"][4] == "Mei" and MONTH_NAMES["en"][4] == "May"
    assert MONTH_NAMES["id"][7] == "Agustus" and MONTH_NAMES["en"][3] == "April"
    assert all(len(names) == 12 for names in MONTH_NAMES.values())


def test_english_possessives_come_off_names_only() -> None:
    from rag.text import strip_possessives

    assert strip_possessives("Azerbaijan's security agency and Vietnam’s ministry") == \
        "Azerbaijan security agency and Vietnam ministry"
    assert strip_possessives("it's 'special' words") == "it 'special' words"
    assert strip_possessives("Kementerian Keamanan Publik") == "Kementerian Keamanan Publik"
