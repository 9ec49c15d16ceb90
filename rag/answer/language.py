"""Which language a question is in (Indonesian, English, or another), and the fixed phrases per language."""

from __future__ import annotations

import re
from functools import lru_cache

# Question words decide first: a question that asks with words of one supported language is in that language,
# whatever names or titles in another language it quotes ("Siapa pengarang buku The Clash of Civilizations?").
_ASK_ID = {
    "apa", "apakah", "siapa", "siapakah", "kapan", "kapankah", "berapa", "berapakah", "bagaimana", "bagaimanakah",
    "mengapa", "mengapakah", "kenapa", "dimana", "dimanakah", "kemana", "kemanakah", "darimana", "manakah", "mana",
    "sebutkan", "jelaskan",
}
_ASK_EN = {"what", "who", "whom", "whose", "when", "where", "which", "why", "how"}
_ID = _ASK_ID | {
    "di", "yang", "dan", "dengan", "untuk", "dari", "ke", "pada", "dalam", "tentang", "itu", "ini", "tersebut",
    "adalah", "oleh", "tidak", "menurut", "antara", "kedua", "negara", "kerja", "sama", "menteri", "saja", "nama",
}
_EN = _ASK_EN | {
    "the", "is", "are", "was", "were", "did", "does", "do", "of", "and", "to", "in", "on", "with", "for", "about",
    "between", "according", "this", "that", "it", "they", "minister", "agreement", "countries", "signed", "many",
    "much",
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


def text_language(text: str) -> str:
    """'id' or 'en': the supported language a text (not a question) is mostly in, by py3langid ('id' when empty)."""
    if not text.strip():
        return "id"
    code, _ = _langid().classify(text[:2000])
    return "en" if code == "en" else "id"


_LATIN_MAX = 0x24F  # Basic Latin to Latin Extended-B: the letters Indonesian and English are written in
# Letters of Vietnamese (and no other language written with this alphabet uses them): ă â đ ê ô ơ ư and the
# tone marks stacked on vowels (ạ ả ấ ầ ẩ ẫ ậ ...), Latin Extended Additional U+1EA0-U+1EF9.
_VIETNAMESE = re.compile(r"[ăđơưĂĐƠƯẠ-ỹ]")


def script_language(text: str) -> str | None:
    """'other' when the question's letters are mostly outside the Latin alphabet, or are Vietnamese; else None.

    Indonesian and English are written only in Latin letters, so no statistics are needed to reject a question in
    Cyrillic, Arabic, Chinese, Thai or any other script: a name in Latin letters inside it does not change that."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return None
    if sum(ord(ch) > _LATIN_MAX for ch in letters) * 2 > len(letters) or _VIETNAMESE.search(text):
        return "other"
    return None


def detect_language(text: str) -> str:
    """'id' or 'en' for the supported languages, else an ISO code ('other' for another script; 'id' when unsure).

    Order: the script (any other alphabet is another language, whatever a statistical model says), then the
    question words of the two supported languages, then py3langid for longer Latin-script questions. Short
    questions without question words (a name, a number, two words) are taken as Indonesian, never rejected."""
    if script_language(text) == "other":
        code, _ = _langid().classify(text)
        return code if code not in SUPPORTED and code != "ms" else "other"
    words = re.findall(r"[^\W\d_]+", text.lower())
    asking = next((w for w in words if w in _ASK_ID or w in _ASK_EN), None)
    if asking:  # the first question word ("siapakah Director of Cancer Division WHO" asks in Indonesian)
        return "id" if asking in _ASK_ID else "en"
    score_id = sum(w in _ID for w in words)
    score_en = sum(w in _EN for w in words)
    if score_id != score_en:
        return "id" if score_id > score_en else "en"
    code, prob = _langid().classify(text)
    if code in ("id", "ms"):
        return "id"
    if code == "en":
        return "en"
    if prob >= 0.75 and len(words) >= 3 and not (score_id or score_en):
        return code
    return "en" if score_en > score_id else "id"
