"""PDF articles with a text layer (pypdf): page texts re-flowed into paragraphs; scanned and locked PDFs refused."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import DependencyError, PdfReadError

from rag.ingest.formats.base import RawArticle, clean_meta, join_blocks, refuse, sha256

MIN_PAGE_CHARS = 20  # a page with fewer extractable characters has no real text layer
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\ufb05": "st", "\ufb06": "st", "\u00ad": ""})
_END = ('.', '!', '?', '"', '”', '’', '…', ':')
_PRINTED_PAGE = re.compile(r"skia|chrom|wkhtmltopdf|qt |print to pdf", re.I)  # its date is the print date
_NO_TITLE = re.compile(r"^(untitled|document\d*|microsoft word - .*|.*\.(docx?|pdf|html?))$", re.I)


def reflow(page_text: str) -> list[str]:
    """Paragraphs of one page: wrapped lines joined; a short line ending a sentence ends its paragraph."""
    lines = [" ".join(x.split()) for x in page_text.translate(_LIGATURES).split("\n")]
    width = max((len(x) for x in lines), default=0)
    paras, cur = [], ""
    for line in lines:
        if line:
            cur = f"{cur}{line}" if cur.endswith("-") or not cur else f"{cur} {line}"
        if cur and (not line or (line.endswith(_END) and len(line) < 0.85 * width)):
            paras.append(cur)
            cur = ""
    return [*paras, cur] if cur else paras


def _has_images(page: object) -> bool:
    """Whether a page draws at least one image (a scan usually is one full-page image)."""
    try:
        return len(page.images) > 0  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an unreadable image still means "there is an image"
        return True


def _meta(reader: PdfReader) -> dict[str, str]:
    """Title, author and creation date from the document info, when they describe the article."""
    info = reader.metadata
    if info is None:
        return {}
    title = info.title if info.title and not _NO_TITLE.match(info.title.strip()) else None
    printed = bool(_PRINTED_PAGE.search(f"{info.producer or ''} {info.creator or ''}"))
    try:
        created = None if printed else info.creation_date
    except ValueError:
        created = None
    return clean_meta(title=title, author=info.author, date=created)


def read_pdf(data: bytes, path: Path) -> RawArticle:
    """A PDF with a text layer; BadInputError for scans (no text layer), password protection or damage."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise refuse(path, "encrypted PDF that needs a password; save an unprotected copy and add that")
        texts = [page.extract_text() or "" for page in reader.pages]
    except DependencyError as e:
        raise refuse(path, f"encrypted PDF that cannot be opened here ({e})") from e
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise refuse(path, f"damaged PDF, cannot be read ({e or type(e).__name__})") from e
    empty = [i for i, t in enumerate(texts) if len(t.strip()) < MIN_PAGE_CHARS]
    scanned = [i for i in empty if _has_images(reader.pages[i])]
    if scanned and len(scanned) * 2 >= len(texts):
        raise refuse(path, f"scanned PDF: {len(scanned)} of {len(texts)} pages have images but no text layer; "
                           "run OCR (e.g. ocrmypdf) first")
    if len(empty) == len(texts):
        raise refuse(path, f"PDF without extractable text ({len(texts)} pages)")
    meta = _meta(reader)
    paras: list[str] = []
    for i, page_text in enumerate(texts):
        page = reflow(page_text) if i not in empty else []
        if paras and page and not paras[-1].endswith(_END):  # a paragraph running on to the next page
            paras[-1] = f"{paras[-1]} {page.pop(0)}"
        paras += page
    text = join_blocks(paras, meta.get("title"))
    return RawArticle(path=path, text=text, content_hash=sha256(data), format="pdf", meta=meta)
