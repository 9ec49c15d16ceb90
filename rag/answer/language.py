"""Which language a question is in (Indonesian, English, or another), and the fixed phrases per language."""

from __future__ import annotations

import re
from functools import lru_cache

_ID = {
    "apa", "apakah", "siapa", "kapan", "berapa", "bagaimana", "mengapa", "kenapa", "dimana", "di", "yang", "dan",
    "dengan", "untuk", "dari", "ke", "pada", "dalam", "tentang", "itu", "ini", "tersebut", "adalah", "oleh",
    "tidak", "sebutkan", "jelaskan", "menurut", "antara", "kedua", "negara", "kerja", "sama", "menteri", "saja",
}
_EN = {
    "what", "who", "when", "where", "which", "why", "how", "the", "is", "are", "was", "were", "did", "does", "do",
    "of", "and", "to", "in", "on", "with", "for", "about", "between", "according", "this", "that", "it", "they",
    "minister", "agreement", "countries", "signed", "many", "much",
}
SUPPORTED = {"id": "Indonesian", "en": "English"}

REFUSAL = {
    "id": "Maaf, informasi tersebut tidak ditemukan dalam artikel yang tersedia.",
    "en": "Sorry, that information is not found in the available articles.",
}
# The reply to a question in any other language: short, in both supported languages.
UNSUPPORTED_REPLY = (
    "I can answer questions in English or Indonesian only; please ask again in one of them. / "
    "Saya hanya dapat menjawab pertanyaan dalam bahasa Inggris atau bahasa Indonesia; silakan bertanya lagi."
)
UNCITED_NOTE = {
    "id": "Catatan: jawaban ini tidak menyertakan kutipan yang valid; periksa sumbernya sendiri.",
    "en": "Note: this answer has no valid citation; check the sources yourself.",
}


@lru_cache(maxsize=1)
def _langid():  # noqa: ANN202 - the third-party identifier object
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str:
    """'id' or 'en' for the supported languages, else an ISO code (default 'id' when unsure)."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    score_id = sum(w in _ID for w in words)
    score_en = sum(w in _EN for w in words)
    if score_id or score_en:
        if score_id != score_en:
            return "id" if score_id > score_en else "en"
    code, prob = _langid().classify(text)
    if code in ("id", "ms"):
        return "id"
    if code == "en":
        return "en"
    non_latin = sum(ord(ch) > 0x24F for ch in text if ch.isalpha()) > len(text) // 3
    if prob >= 0.75 and (len(words) >= 3 or non_latin) and not (score_id or score_en):
        return code
    return "en" if score_en > score_id else "id"
