"""Saved web pages: the article's main text and metadata by trafilatura, the page's own meta tags as fallback."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from urllib.parse import urlparse

import lxml.html
import trafilatura
from lxml import etree

from rag.ingest.formats.base import RawArticle, clean_meta, join_blocks, refuse, sha256
from rag.ingest.formats.text import decode

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_WHATWG = {"ascii": "cp1252", "latin_1": "cp1252", "iso8859_1": "cp1252"}  # browsers read these labels as cp1252


def decode_html(data: bytes, path: Path) -> tuple[str, str]:
    """Text and encoding name: the page's declared charset when it decodes cleanly, else text.decode's guess."""
    m = _CHARSET.search(data[:4096])
    if m and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            name = codecs.lookup(m[1].decode("ascii")).name.replace("-", "_")
            name = _WHATWG.get(name, name)
            return data.decode(name), name
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration: guess instead
    return decode(data, path)


def _text(el: etree._Element) -> str:
    """Text of one element of trafilatura's tree: line breaks kept, other whitespace collapsed."""
    for lb in el.iter("lb"):
        lb.tail = "\n" + (lb.tail or "")
    return "\n".join(" ".join(line.split()) for line in "".join(el.itertext()).split("\n")).strip()


def _blocks(body: etree._Element) -> list[str]:
    """One block per paragraph, heading, quote, list (one item a line) or table (one row a line)."""
    blocks = []
    for el in body:
        if el.tag == "list":
            blocks.append("\n".join(t for item in el.iter("item") if (t := _text(item))))
        elif el.tag == "table":
            rows = [" | ".join(t for c in row if (t := _text(c))) for row in el.iter("row")]
            blocks.append("\n".join(r for r in rows if r))
        else:
            blocks.append(_text(el))
    return blocks


def page_meta(html: str) -> dict[str, str]:
    """Title, url, date, site and author from the page's own tags (Open Graph, canonical link, <title>, ...)."""
    try:
        root = lxml.html.document_fromstring(re.sub(r"^\s*<\?xml[^>]*>", "", html))
    except (etree.ParserError, ValueError):
        return {}

    def first(*xpaths: str) -> str | None:
        for xp in xpaths:
            for v in root.xpath(xp):
                if isinstance(v, str) and v.strip():
                    return v.strip()
        return None

    meta = "//meta[@property='{0}' or @name='{0}' or @itemprop='{0}']/@content"
    return clean_meta(
        title=first(meta.format("og:title"), meta.format("twitter:title"), "//title/text()", "//h1//text()"),
        url=first("//link[@rel='canonical']/@href", meta.format("og:url")),
        date=first(*(meta.format(n) for n in ("article:published_time", "datePublished", "pubdate", "publishdate",
                                              "date", "DC.date.issued", "dcterms.date")), "//time/@datetime"),
        site=first(meta.format("og:site_name"), meta.format("application-name")),
        author=first(meta.format("author"), meta.format("article:author")),
    )


def read_html(data: bytes, path: Path) -> RawArticle:
    """An HTML page: main text (paragraphs kept) and metadata; BadInputError when no article text is found."""
    html, encoding = decode_html(data, path)
    doc = trafilatura.bare_extraction(html, with_metadata=True, include_tables=True)
    if doc is None or not (doc.text or "").strip():
        doc = trafilatura.bare_extraction(html, with_metadata=True, include_tables=True, favor_recall=True)
    if doc is None or not (doc.text or "").strip():
        raise refuse(path, "no article text found in the HTML page (only navigation, scripts or markup)")
    own = page_meta(html)
    ours = clean_meta(title=doc.title, url=doc.url, date=doc.date, site=doc.sitename, author=doc.author)
    meta = {**own, **ours}  # trafilatura's reading first; the page's tags fill the gaps
    if "site" not in meta and (host := doc.hostname or urlparse(meta.get("url", "")).hostname):
        meta["site"] = host.removeprefix("www.")
    text = join_blocks(_blocks(doc.body), meta.get("title")) if doc.body is not None else ""
    text = text or "\n\n".join(line for line in doc.text.split("\n") if line.strip())
    return RawArticle(path=path, text=text, content_hash=sha256(data), format="html", encoding=encoding, meta=meta)
