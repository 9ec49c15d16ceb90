"""What every format reader returns, and the small helpers they share (hashing, dates, metadata, refusals)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from rag.errors import BadInputError


@dataclass
class RawArticle:
    """An article file's text and the hash of its bytes."""

    path: Path
    text: str
    content_hash: str
    format: str = "txt"  # how the text was read: txt, md, html, pdf, docx, jsonl
    encoding: str | None = None  # the text encoding found (txt, md, html)
    meta: dict[str, str] = field(default_factory=dict)  # metadata the file itself gives: title, url, date, site, author
    part: int | None = None  # line number within a .jsonl dump


def sha256(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def refuse(path: Path, reason: str, hint: str | None = None) -> BadInputError:
    """The error for a file that cannot be used: message `<path>: <reason>`."""
    return BadInputError(f"{path}: {reason}", hint)


def clean_meta(**values: object) -> dict[str, str]:
    """Only the non-empty string values, stripped (dates are normalised to YYYY-MM-DD or left out)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if key == "date":
            value = iso_date(value)
        if isinstance(value, str) and value.strip():
            out[key] = " ".join(value.split())
    return out


def iso_date(value: object) -> str | None:
    """A date as YYYY-MM-DD from a date/datetime, an ISO string, an RFC 2822 string or D:YYYYMMDD (PDF); else None."""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    if not isinstance(value, str) or not (s := value.strip()):
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(s).strftime("%Y-%m-%d")
    except (TypeError, ValueError, IndexError):
        pass
    if m := re.match(r"(?:D:)?((?:19|20)\d\d)-?([01]\d)-?([0-3]\d)", s):
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return None
    return None


def join_blocks(blocks: list[str], title: str | None = None) -> str:
    """Paragraphs separated by one blank line; a leading block that only repeats the title is left out."""
    blocks = [b.strip() for b in blocks if b and b.strip()]
    if title and blocks and " ".join(blocks[0].split()).casefold() == " ".join(title.split()).casefold():
        blocks = blocks[1:]
    return "\n\n".join(blocks)
