"""The answer-shape checks (rag.answer.shape) on fixed answers: echoes of the question, quantities without a figure,
and the replies that may rightly use only the question's words."""

from __future__ import annotations

from rag.answer.shape import asks_quantity, lacks_figure, repeats_question

SHARAPOVA = "Negara apakah yang ditinggalkan Maria Sharapova pada umur 9 tahun dan kemudian pergi ke Amerika?"


def test_an_answer_made_of_the_questions_words_repeats_it() -> None:
    assert repeats_question("Maria Sharapova ditinggalkan pada umur 9 tahun dan kemudian pergi ke Amerika [1].",
                            SHARAPOVA)
    assert repeats_question("Singapura [1].", "Siapa yang memimpin delegasi Indonesia di Singapura?")
    assert repeats_question("The meeting was held in Singapore.", "Where was the meeting in Singapore held?")


def test_one_new_content_word_is_an_answer() -> None:
    assert not repeats_question("Sharapova meninggalkan Rusia pada umur 9 tahun [1].", SHARAPOVA)
    assert not repeats_question("Rusia", SHARAPOVA)
    assert not repeats_question("Pada 19 Oktober [1].", "Kapan Dewa Beratha menyatakannya?")  # a figure is content
    # a figure written as a word is content, though Sastrawi lists satu ... lima as stopwords
    assert not repeats_question("Ada lima partai yang lolos dari hasil pemilu Jerman 2002.",
                                "Dari hasil pemilu Jerman 2002, ada berapakah partai yang lolos?")
    assert repeats_question("Hasil pemilu Jerman 2002 [1].", "Dari hasil pemilu Jerman 2002, ada berapakah partai?")
    # an acronym that is also a function word (who, as, itu) is content when written as one
    assert not repeats_question("Organisasi Kesehatan Dunia (WHO) [1].", "Apa nama organisasi kesehatan dunia?")
    assert not repeats_question("AS [2].", "Negara mana yang diberi waktu enam bulan?")


def test_yes_no_and_choice_replies_may_use_only_the_questions_words() -> None:
    assert not repeats_question("Ya, Vietnam menandatangani MoU itu [1].", "Apakah Vietnam menandatangani MoU itu?")
    assert not repeats_question("Tidak, Vietnam belum menandatangani MoU itu.", "Apakah Vietnam menandatangani MoU?")
    assert not repeats_question("No, Vietnam did not sign it.", "Did Vietnam sign the MoU?")
    assert not repeats_question("Jakarta [2].", "Apakah pertemuan itu di Jakarta atau di Hanoi?")
    assert not repeats_question("", SHARAPOVA)  # an empty answer is its own reason


def test_quantity_questions_in_both_languages() -> None:
    for q in ("Berapa dana yang disiapkan Singapura?", "Berapakah usia Roy Glauber?", "Pukul berapa Musk mendarat?",
              "How many satellites cover Indonesia?", "How much did Viettel invest?", "What percentage grew?"):
        assert asks_quantity(q), q
    for q in ("Beberapa negara apa yang hadir?", "Siapa yang hadir?", "How did Viettel invest?",
              "Seberapa penting MoU itu?"):
        assert not asks_quantity(q), q


def test_a_quantity_is_answered_with_a_figure_in_digits_or_words() -> None:
    q = "Berapa dana yang disiapkan Singapura untuk mengoperasikan ASEAN Regional CERT?"
    assert lacks_figure("Singapura telah mempersiapkan dana untuk mengoperasikan ASEAN Regional CERT [2].", q)
    assert not lacks_figure("Singapura menyiapkan US$10 juta [2].", q)
    assert not lacks_figure("Selama enam bulan [1].", "Berapa bulan waktu yang diberikan kepada AS?")
    assert not lacks_figure("Three satellites.", "How many satellites cover Indonesia?")
    assert not lacks_figure("Starlink covers Indonesia.", "Which satellites cover Indonesia?")  # not a quantity
