"""Word .docx articles (python-docx): paragraphs and table rows in document order, core properties as metadata."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from rag.ingest.formats.base import RawArticle, clean_meta, join_blocks, refuse, sha256

_TEMPLATE_CREATED = datetime(2013, 12, 23, 23, 15, tzinfo=timezone.utc)  # python-docx's blank template
_TEMPLATE_AUTHOR = "python-docx"


def _rows(table: Table) -> list[str]:
    """One line per table row: the distinct cell texts (merged cells repeat) joined by ' | '."""
    out = []
    for row in table.rows:
        seen, cells = set(), []
        for cell in row.cells:
            if id(cell._tc) not in seen and (t := " ".join(cell.text.split())):
                seen.add(id(cell._tc))
                cells.append(t)
        if cells:
            out.append(" | ".join(cells))
    return out


def _body(document: DocxDocument) -> tuple[list[str], str | None]:
    """The text blocks in order, and the text of a leading Title/Heading 1 paragraph (a title when none is set)."""
    blocks: list[str] = []
    heading = None
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            style = item.style.name if item.style is not None else ""
            if text and not blocks and heading is None and style in ("Title", "Heading 1"):
                heading = text
            blocks.append(text)
        else:
            blocks.extend(_rows(item))
    return blocks, heading


def read_docx(data: bytes, path: Path) -> RawArticle:
    """A .docx article; title/author/created from the core properties when set (template defaults ignored)."""
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise refuse(path, f"damaged Word .docx, cannot be read ({e or type(e).__name__})") from e
    props = document.core_properties
    blocks, heading = _body(document)
    created = props.created
    if created and created.replace(tzinfo=created.tzinfo or timezone.utc) == _TEMPLATE_CREATED:
        created = None
    meta = clean_meta(title=props.title or heading, date=created,
                      author=props.author if props.author != _TEMPLATE_AUTHOR else None)
    text = join_blocks(blocks, meta.get("title"))
    if not text:
        raise refuse(path, "the Word document has no text")
    return RawArticle(path=path, text=text, content_hash=sha256(data), format="docx", meta=meta)
