"""Find article files and read them as UTF-8 text, reporting each file that cannot be used."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import BadInputError

MAX_ARTICLE_BYTES = 5_000_000


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


@dataclass
class Skipped:
    """A file that was not ingested, and why."""

    path: Path
    reason: str


def find_article_files(paths: list[Path], links_outside: bool = False) -> tuple[list[Path], list[Skipped]]:
    """Expand folders to their files (sorted); non-.txt files, and links out of a folder, are reported as skipped."""
    files: list[Path] = []
    seen: set[Path] = set()
    skipped: list[Skipped] = []
    for p in paths:
        if not p.exists():
            raise BadInputError(f"no such file or folder: {p}", "check the path, or run `rag ingest` for seeds/")
        candidates = sorted(x for x in p.rglob("*") if x.is_file() or x.is_symlink()) if p.is_dir() else [p]
        root = p.resolve()
        for f in candidates:
            if f.name.startswith("."):
                continue
            if f.is_symlink() and not f.exists():
                skipped.append(Skipped(f, "broken link: the file it points to does not exist"))
                continue
            real = f.resolve()
            if p.is_dir() and not links_outside and not real.is_relative_to(root):
                skipped.append(Skipped(f, f"a link to {real}, outside the folder {p} "
                                          "(set follow_links_outside = true to allow)"))
                continue
            if f.suffix.lower() != ".txt":
                skipped.append(Skipped(f, f"not a .txt article (suffix {f.suffix or 'none'!r})"))
            elif real not in seen:  # a file reached twice (through a link) is read once
                seen.add(real)
                files.append(real)
    return files, skipped


def read_article(path: Path) -> RawArticle:
    """Read one article; raises BadInputError with the precise reason when it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInputError(f"{path}: cannot read file ({e.strerror or e})") from e
    if len(data) > MAX_ARTICLE_BYTES:
        raise BadInputError(f"{path}: {len(data):,} bytes is larger than the {MAX_ARTICLE_BYTES:,}-byte limit")
    if b"\x00" in data:
        raise BadInputError(f"{path}: binary content (NUL bytes), not a text article")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadInputError(
            f"{path}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})",
            "re-save the file as UTF-8",
        ) from e
    if not text.strip():
        raise BadInputError(f"{path}: empty file")
    return RawArticle(path=path, text=text, content_hash=hashlib.sha256(data).hexdigest())


def read_articles(path: Path, max_bytes: int = MAX_ARTICLE_BYTES) -> list[RawArticle]:
    """Read one file as its articles (a .jsonl dump holds many); BadInputError with the reason when none can be used."""
    return [read_article(path)]
