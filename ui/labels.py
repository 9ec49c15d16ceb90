"""The page's words: labels in Indonesian and English, month names, and an answer's label language.

Labels follow the question's language as the assistant detected it ('id' or 'en'; 'id' for any other). The
bilingual "Indonesian · English" labels of the page itself live in the templates and the layout.
"""

from __future__ import annotations

from rag.answer.language import UNCITED_NOTE

TEXT: dict[str, dict[str, str]] = {
    "id": {
        "searching": "Mencari bukti di artikel…",
        "writing": "Menulis jawaban…",
        "checking": "Memeriksa bukti…",
        "waiting": "Menunggu giliran model: {ahead} pertanyaan di depan Anda…",
        "searched_as": "Dicari sebagai",
        "evidence": "Bukti yang ditemukan",
        "evidence_note": "Bagian artikel yang dibaca model untuk pertanyaan ini.",
        "cited": "Sumber yang dikutip",
        "cited_note": "Kalimat pendukung ditandai kuning.",
        "others": "Bagian lain yang dibaca",
        "weak": "Tidak ada bagian artikel yang cukup cocok dengan pertanyaan ini.",
        "closest": "Bagian terdekat (tidak dipakai)",
        "no_answer_read": "Bagian yang dibaca model",
        "refusal_title": "Tidak ditemukan di artikel",
        "reason_weak": "Tidak ada bagian artikel yang cukup cocok dengan pertanyaan.",
        "reason_model": "Model tidak menemukan jawabannya di bagian artikel yang dibaca.",
        "reason_subject": "Nama atau angka yang ditanyakan tidak ada di bagian artikel yang ditemukan.",
        "reason_unverified": "Jawaban model memuat nama atau angka yang tidak ada di artikel, jadi tidak ditampilkan.",
        "reason_off_subject": "Jawaban model diambil dari artikel tentang hal lain, jadi tidak ditampilkan.",
        "reason_shape": "Jawaban model hanya mengulang pertanyaan atau tidak memuat angka yang ditanyakan, jadi tidak "
                        "ditampilkan.",
        "uncited_title": "Jawaban tanpa kutipan",
        "sources": "Sumber",
        "open": "Buka artikel asli",
        "file": "Berkas",
        "no_date": "tanpa tanggal",
        "also": "Juga diberitakan oleh",
        "filters": "Saring artikel",
        "error_title": "Terjadi kesalahan",
        "no_index_title": "Belum ada indeks artikel",
        "no_index_help": "Jalankan `rag ingest` untuk mengindeks artikel (atau unggah artikel .txt di tab "
                         "“Artikel terindeks”), lalu tanya lagi.",
        "internal": "Kesalahan internal",
        "hint": "Saran",
        "try_again": "Halaman tetap bisa dipakai; silakan coba lagi.",
        "question": "Pertanyaan",
        "earlier": "Sumber pertanyaan sebelumnya",
        "no_sources": "Tidak ada sumber untuk pertanyaan ini.",
    },
    "en": {
        "searching": "Searching the articles…",
        "writing": "Writing the answer…",
        "checking": "Checking the evidence…",
        "waiting": "Waiting for the model: {ahead} question(s) ahead of you…",
        "searched_as": "Searched as",
        "evidence": "Evidence found",
        "evidence_note": "Article passages the model reads for this question.",
        "cited": "Cited sources",
        "cited_note": "Supporting sentences are highlighted.",
        "others": "Other passages read",
        "weak": "No article passage matches this question well enough.",
        "closest": "Closest passages (not used)",
        "no_answer_read": "Passages the model read",
        "refusal_title": "Not found in the articles",
        "reason_weak": "No article passage matches the question well enough.",
        "reason_model": "The model found no answer in the passages it read.",
        "reason_subject": "The names or figures the question asks about are in none of the passages found.",
        "reason_unverified": "The model's answer named a figure or name the articles do not contain, so it is withheld.",
        "reason_off_subject": "The model's answer came from an article about something else, so it is withheld.",
        "reason_shape": "The model's answer only repeated the question or gave no figure for it, "
                        "so it is withheld.",
        "uncited_title": "Answer without citations",
        "sources": "Sources",
        "open": "Open original article",
        "file": "File",
        "no_date": "no date",
        "also": "Also reported by",
        "filters": "Article filter",
        "error_title": "Something went wrong",
        "no_index_title": "No article index yet",
        "no_index_help": "No index: run `rag ingest` to index the articles (or upload a .txt article in the "
                         "“Indexed articles” tab), then ask again.",
        "internal": "Internal error",
        "hint": "Hint",
        "try_again": "The page is still usable; please try again.",
        "question": "Question",
        "earlier": "Sources of earlier questions",
        "no_sources": "No sources for this question.",
    },
}


def label_lang(language: str | None) -> str:
    """The label language for an answer's language code ('id' unless it is 'en')."""
    return language if language in TEXT else "id"


def without_uncited_note(answer: str, lang: str) -> str:
    """The answer without the pipeline's trailing "no valid citation" note (the page shows it as a notice)."""
    note = UNCITED_NOTE.get(lang, "")
    return answer[: -len(note)].rstrip() if note and answer.endswith(note) else answer
