"""Markdown articles as plain paragraphs (markdown-it-py), with front matter and the first `# heading` as metadata."""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from rag.ingest.formats.base import RawArticle, clean_meta, join_blocks, sha256
from rag.ingest.formats.text import check_text, decode

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_FIELD = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*?)[ \t]*$", re.M)
_MD = MarkdownIt("commonmark").enable("table")


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """The simple `key: value` fields of a leading YAML front-matter block, and the text after it."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    fields = {k.lower(): v.strip().strip("\"'") for k, v in _FIELD.findall(m[1])}
    return fields, text[m.end():]


def _inline(token: Token) -> str:
    """Plain text of an inline token: link text kept, images, HTML and emphasis markers dropped."""
    out = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type == "softbreak":
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
    return "\n".join(" ".join(line.split()) for line in "".join(out).split("\n")).strip()


def to_plain(source: str) -> tuple[str, str | None]:
    """Markdown -> (plain text with blank lines between paragraphs, the first level-1 heading)."""
    blocks: list[str] = []
    row: list[str] | None = None
    title: str | None = None
    in_h1 = False
    for tok in _MD.parse(source):
        if tok.type == "heading_open":
            in_h1 = tok.tag == "h1" and title is None
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close" and row is not None:
            blocks.append(" | ".join(c for c in row if c))
            row = None
        elif tok.type == "inline":
            text = _inline(tok)
            if in_h1:
                title, in_h1 = text or None, False
            elif row is not None:
                row.append(text)
            else:
                blocks.append(text)
        elif tok.type in ("fence", "code_block"):
            blocks.append(tok.content)
        elif tok.type == "html_block" and not tok.content.lstrip().startswith("<!--"):
            blocks.append(re.sub(r"<[^>]*>", " ", tok.content))
    return join_blocks(blocks), title


def read_markdown(data: bytes, path: Path) -> RawArticle:
    """A .md article: decoded, front matter (title, date, url, site, author) and first `# heading` as metadata."""
    source, encoding = decode(data, path)
    fields, body = front_matter(source)
    text, heading = to_plain(body)
    meta = clean_meta(title=fields.get("title") or heading, date=fields.get("date"),
                      url=fields.get("url") or fields.get("link"), site=fields.get("site"),
                      author=fields.get("author"))
    return RawArticle(path=path, text=check_text(text, path), content_hash=sha256(data), format="md",
                      encoding=encoding, meta=meta)
