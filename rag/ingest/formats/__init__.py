"""Article files in real-world formats: the kind is sniffed from the content and checked against the extension.

A format's reader (and its library: trafilatura, pypdf, python-docx, markdown-it) is imported when a file of that
kind is first read, so a run that reads only text files, or none, does not pay for the others (0.2 s at start).
"""

from __future__ import annotations

import importlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from rag.ingest.formats.base import RawArticle, refuse
from rag.ingest.formats.jsonl import looks_like_jsonl, read_jsonl
from rag.ingest.formats.text import read_text

__all__ = ["SUPPORTED", "FileRead", "RawArticle", "read_bytes", "read_file", "sniff", "unsupported_reason"]

SUPPORTED = {".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
             ".pdf": "pdf", ".docx": "docx", ".jsonl": "jsonl"}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OTHER = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
          b"\x1f\x8b": "gzip-compressed data", b"7z\xbc\xaf": "a 7-Zip archive", b"Rar!": "a RAR archive",
          b"\x7fELF": "a program (ELF executable)", b"GGUF": "a GGUF model file",
          _OLE: "an old binary Office file (.doc/.xls/.ppt)"}
_HTML_MARKS = (b"<!doctype html", b"<html", b"<head")
_READERS = {"pdf": "pdf", "docx": "docx", "html": "html", "md": "markdown"}  # kind -> module with its read_<module>


@dataclass
class FileRead:
    """The articles read from one file, and (line number, reason) for each part that could not be used."""

    articles: list[RawArticle]
    problems: list[tuple[int, str]] = field(default_factory=list)


def unsupported_reason(path: Path) -> str | None:
    """Why a file's extension is not read (None when it is supported, or when there is none: then it is sniffed)."""
    ext = path.suffix.lower()
    if not ext or ext in SUPPORTED:
        return None
    if ext == ".doc":
        return "old binary Word .doc is not supported; save as .docx"
    return f"unsupported file type {ext!r}; supported: {', '.join(SUPPORTED)} (or a file with no extension)"


def sniff(data: bytes) -> str:
    """The real kind from the content: pdf, docx, zip, html, jsonl, text, or a description of another binary."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return "zip"
        return "docx" if "word/document.xml" in names else "zip"
    if desc := next((d for magic, d in _OTHER.items() if data.startswith(magic)), None):
        return desc
    head = data[:1024].replace(b"\x00", b"").lower()
    if any(mark in head for mark in _HTML_MARKS):
        return "html"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        try:
            if looks_like_jsonl(data.decode("utf-8-sig")):
                return "jsonl"
        except UnicodeDecodeError:
            pass
    return "text"


def _start(data: bytes) -> str:
    """The first bytes, for a reason: as text when they are text, else in hex."""
    head = data[:24]
    try:
        text = head.decode("utf-8")
        if text.isprintable():
            return repr(text + ("…" if len(data) > 24 else ""))
    except UnicodeDecodeError:
        pass
    return f"bytes {head[:12].hex(' ')}"


def read_bytes(data: bytes, path: Path) -> FileRead:
    """Read a file's bytes by their real kind; BadInputError when the content cannot be used or contradicts the name."""
    ext, declared, kind = path.suffix.lower(), SUPPORTED.get(path.suffix.lower()), sniff(data)
    if not data.strip():
        raise refuse(path, "empty file")
    if declared == "pdf" and kind != "pdf":
        raise refuse(path, f"named {ext} but the content is not a PDF (starts with {_start(data)})")
    if declared == "docx" and kind != "docx":
        what = "a zip archive without word/document.xml" if kind == "zip" else f"starts with {_start(data)}"
        raise refuse(path, f"named {ext} but the content is not a Word .docx ({what})")
    if kind == _OTHER[_OLE]:
        raise refuse(path, "old binary Word .doc (or other old Office file) is not supported; save as .docx")
    if kind == "zip" or kind in _OTHER.values():
        raise refuse(path, f"the content is {'a zip archive' if kind == 'zip' else kind}, not an article")
    if kind == "text":
        kind = declared or "txt"
    if kind == "jsonl":
        articles, problems = read_jsonl(data, path)
        return FileRead(articles, problems)
    if kind not in _READERS:
        return FileRead([read_text(data, path)])
    name = _READERS[kind]
    reader = getattr(importlib.import_module(f"rag.ingest.formats.{name}"), f"read_{name}")
    return FileRead([reader(data, path)])


def read_file(path: Path, max_bytes: int, limit_name: str = "max_article_bytes") -> FileRead:
    """Read one article file (a .jsonl holds many); BadInputError with the precise reason when it cannot be used."""
    if reason := unsupported_reason(path):
        raise refuse(path, reason)
    try:
        size = path.stat().st_size
        data = path.read_bytes() if size <= max_bytes else b""
    except OSError as e:
        raise refuse(path, f"cannot read file ({e.strerror or e})") from e
    if max(size, len(data)) > max_bytes:
        raise refuse(path, f"{max(size, len(data)):,} bytes is larger than the {max_bytes:,}-byte limit "
                           f"({limit_name} setting)")
    return read_bytes(data, path)
