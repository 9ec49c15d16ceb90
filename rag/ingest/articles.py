"""Find article files and read them (txt, md, html, pdf, docx, jsonl), reporting each file that cannot be used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.errors import BadInputError
from rag.ingest.formats import SUPPORTED, FileRead, RawArticle, read_file, unsupported_reason

__all__ = ["MAX_ARTICLE_BYTES", "SUPPORTED", "FileRead", "RawArticle", "Skipped", "find_article_files",
           "read_article", "read_articles"]

MAX_ARTICLE_BYTES = 5_000_000


@dataclass
class Skipped:
    """A file that was not ingested, and why."""

    path: Path
    reason: str


def _real_path(f: Path, folders: dict[Path, Path]) -> Path:
    """f.resolve(), each folder resolved once: a file that is not a link is its folder's real path plus its name
    (resolving every file of a 10,000-article folder took 0.5 s)."""
    if f.is_symlink():
        return f.resolve()
    if f.parent not in folders:
        folders[f.parent] = f.parent.resolve()
    return folders[f.parent] / f.name


def find_article_files(paths: list[Path], links_outside: bool = False) -> tuple[list[Path], list[Skipped]]:
    """Expand folders to their files (sorted); unsupported types and links out of a folder are reported as skipped."""
    files: list[Path] = []
    seen: set[Path] = set()
    skipped: list[Skipped] = []
    folders: dict[Path, Path] = {}
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
            real = _real_path(f, folders)
            if p.is_dir() and not links_outside and not real.is_relative_to(root):
                skipped.append(Skipped(f, f"a link to {real}, outside the folder {p} "
                                          "(set follow_links_outside = true to allow)"))
                continue
            if p.is_dir() and not f.suffix:  # README, LICENSE, Makefile...: only read when named explicitly
                skipped.append(Skipped(f, "no file extension (name it .txt, .html, ... or give the file itself)"))
            elif reason := unsupported_reason(f):
                skipped.append(Skipped(f, reason))
            elif real not in seen:  # a file reached twice (through a link) is read once
                seen.add(real)
                files.append(real)
    return files, skipped


def read_article(path: Path) -> RawArticle:
    """Read a one-article file; raises BadInputError with the precise reason when it cannot be used."""
    got = read_file(path, MAX_ARTICLE_BYTES)
    if len(got.articles) != 1 or got.problems:
        raise BadInputError(f"{path}: holds {len(got.articles)} articles, not one", "read it with read_articles")
    return got.articles[0]


def read_articles(path: Path, max_bytes: int = MAX_ARTICLE_BYTES) -> FileRead:
    """One file's articles (a .jsonl dump holds many) and per-line problems; BadInputError when none can be used."""
    return read_file(path, max_bytes)
