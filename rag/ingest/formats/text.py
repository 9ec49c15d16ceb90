"""Plain-text articles in any common encoding: UTF-8 first, byte-order marks, then charset-normalizer's guess."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from charset_normalizer import from_bytes

from rag.ingest.formats.base import RawArticle, refuse, sha256

MIN_TEXT_SHARE = 0.8  # real prose is ~99% letters, digits, spaces and punctuation; random bytes read as Latin-1 ~65%
_BOMS = [  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf_32"), (codecs.BOM_UTF32_BE, "utf_32"), (codecs.BOM_UTF8, "utf_8_sig"),
    (codecs.BOM_UTF16_LE, "utf_16"), (codecs.BOM_UTF16_BE, "utf_16"),
]
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")  # when several legacy encodings give the same text, name these


def text_share(text: str) -> float:
    """Share of characters that are letters, marks, digits, whitespace or punctuation (not controls or symbols)."""
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch in "\t\n\r\f" or unicodedata.category(ch)[0] in "LMNPZ")
    return good / len(text)


def decode(data: bytes, path: Path) -> tuple[str, str]:
    """Text and the encoding's name (utf_8, utf_16, cp1252, ...); BadInputError when the bytes are not text."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(name)
            except UnicodeDecodeError as e:
                raise refuse(path, f"starts with a {name.replace('_sig', '').upper()} byte-order mark but is not valid "
                                   f"{name.replace('_sig', '').upper()} ({e.reason} at byte {e.start})") from e
            return text, "utf_8" if name == "utf_8_sig" else name
    if b"\x00" not in data:
        try:
            return data.decode("utf-8"), "utf_8"
        except UnicodeDecodeError:
            pass
    best = from_bytes(data).best()
    if best is not None and b"\x00" in data:  # NUL bytes: only BOM-less UTF-16/32 that reads as text will do
        best = best if best.encoding.startswith("utf_") and text_share(str(best)) >= MIN_TEXT_SHARE else None
    if best is None:
        as_latin1 = text_share(data.decode("latin-1"))
        nuls = f"{data.count(0):,} NUL byte{'s' if data.count(0) != 1 else ''}, and " if b"\x00" in data else ""
        raise refuse(path, f"mostly non-text (binary): {nuls}only {as_latin1:.0%} of the bytes read as letters, "
                           "digits, spaces or punctuation, and no text encoding fits")
    name = next((e for e in _PREFERRED if e in best.could_be_from_charset), best.encoding)
    return data.decode(name), name


def check_text(text: str, path: Path) -> str:
    """The text, unless it is empty or mostly non-text (then BadInputError with the measured share)."""
    if not text.strip():
        raise refuse(path, "empty file (no text)")
    share = text_share(text)
    if share < MIN_TEXT_SHARE:
        raise refuse(path, f"mostly non-text: only {share:.0%} of the characters are letters, digits, spaces or "
                           f"punctuation (at least {MIN_TEXT_SHARE:.0%} expected)")
    return text


def read_text(data: bytes, path: Path) -> RawArticle:
    """A .txt article: decoded, checked, hashed."""
    text, encoding = decode(data, path)
    return RawArticle(path=path, text=check_text(text, path), content_hash=sha256(data), format="txt",
                      encoding=encoding)
