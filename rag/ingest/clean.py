"""Turn a scraped news page into a clean article: drop boilerplate and captions, extract metadata."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from rag.ingest.articles import RawArticle
from rag.ingest.metadata import (
    date_in_text,
    date_in_url,
    find_headline,
    find_link,
    is_date_line,
    header_date as page_header_dates,
    looks_like_headline,
    site_from_text,
    site_from_url,
)
from rag.text import split_sentences
from rag.types import Document

# When these rules change, bump CLEANING_VERSION in rag/versions.py: indexes built with older rules are then reported.
_SOURCE = re.compile(r"^(?:sumber|source)\s*:\s*(\S+)", re.I)
_TAIL_SECTION = re.compile(
    r"^(artikel|berita|baca) (terkait|terkini|lainnya|populer|terpopuler)\b|^related (articles|news)\b|^tags?\s*:", re.I
)
_BOILERPLATE = [
    ("read-also link", re.compile(r"^(baca|lihat|simak) (juga|pula)\b|^read (also|more)\b", re.I)),
    ("comment counter", re.compile(r"^(komentar|comments?)\s*\(\d+\)$", re.I)),
    ("menu or footer", re.compile(r"^[^|]{1,40}(\|[^|]{1,40}){2,}$")),
    ("site name", re.compile(r"^[\w-]+(\.[\w-]+)*\.(id|vn|com|net|org|co\.id|go\.id)$", re.I)),
    ("share widget", re.compile(r"^(bagikan|share)( artikel)?\s*:?$", re.I)),
]
_CAPTION = re.compile(r"\b(foto|photo|ilustrasi)\s*:|\((foto|photo)\s*:", re.I)
_CREDIT_LINE = re.compile(r"^(foto|photo)\s*:", re.I)
_OPENER = re.compile(
    r"^(pada|dalam|di|selama|setelah|sebelum|saat|ketika|usai|menurut|pertama|kedua|ketiga|keempat|kelima|selain|"
    r"namun|sementara|sedangkan|oleh karena|dengan|untuk|bersamaan)\b", re.I
)
# What a photo shows: someone speaking, presenting, receiving, posing; an overview of the room.
_CAPTION_ACTION = re.compile(
    r"\b(berbicara|berpidato|memberikan (laporan|sambutan|pidato)|menyampaikan (pidato|sambutan)|memperkenalkan|"
    r"melaporkan|menerima|berjabat tangan|berfoto|mengambil foto|ikhtisar|suasana|pemandangan|speaks|delivers|poses)\b",
    re.I,
)
_LANG_LABEL = re.compile(r"^(bahasa indonesia|indonesian|english)\s*:\s*", re.I)
_BULLET = re.compile(r"^[•·▪●*]\s*")
_AUTHOR = re.compile(r"^(oleh|penulis|editor|reporter|by)\s*:?\s*$", re.I)
# Text inside an article that addresses the model rather than the reader (prompt injection).
_INSTRUCTION = re.compile(
    r"(abaikan|lupakan|ignore|disregard|forget)\b.{0,40}\b(instruksi|perintah|instructions?|prompts?|aturan|rules)"
    r"|\b(system prompt|prompt sistem)\b|\b(you are now|kamu sekarang adalah|anda sekarang adalah)\b",
    re.I,
)
def normalise(text: str) -> str:
    """Unicode NFC, no-break and odd spaces to plain spaces, one space between words, stripped lines."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\u00a0\u2000-\u200b\u202f\u205f\u3000\t]", " ", text)
    return "\n".join(re.sub(r" {2,}", " ", line).strip() for line in text.split("\n"))


_DATELINE_LEAD = re.compile(
    r"^(?:[A-Z][\w.]*(?: [A-Z][\w.]*){0,3}(?:\s*\([^)]{2,30}\))?(?:,\s*[\w.]+){0,2}|[\w-]+(?:\.[\w-]+)+)\s*(?:[-–—]+\s*)+"
)  # 'Jakarta (ANTARA) - ', 'JAKARTA, KOMPAS.com - ', 'Bisnis.com, JAKARTA - '
_LEADING_ADVERBIAL = re.compile(r"^(pada|dalam|di|selama|setelah|sebelum|saat|ketika|usai|on|in|at|during|after)\b", re.I)


def _derive_title(body: str, limit: int = 90) -> str:
    """A title from the first sentence's main clause (leading time/place clauses skipped), cut near `limit`."""
    body = _DATELINE_LEAD.sub("", body, count=1)
    spans = split_sentences(body)
    first = body[spans[0][0] : spans[0][1]] if spans else body.strip()
    parts = first.rstrip(".").split(", ")
    while len(parts) > 1 and (_LEADING_ADVERBIAL.match(parts[0]) or parts[0][:1].islower()):
        parts.pop(0)
    first = ", ".join(parts)
    first = first[:1].upper() + first[1:]
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _unmarked_caption(line: str, prev: str) -> bool:
    """A one-sentence line describing a photo, wedged between paragraphs with no blank line around it."""
    words = line.split()
    return (
        2 <= len(words) <= 22
        and len(prev.split()) >= 30  # directly after a long paragraph (no blank line between)
        and line.endswith(".")
        and len(split_sentences(line)) == 1
        and not re.search(r"[\"“”:;]|\bbahwa\b|\b(kata|ujar|tegas|tutur)nya\b", line)
        and not _OPENER.match(line)
        and bool(_CAPTION_ACTION.search(line))
    )


def _is_title_like(line: str) -> bool:
    return 3 <= len(line.split()) <= 20 and not line.endswith((".", ":", ",", ";", '"', "”"))


def clean_article(raw: RawArticle, article_id: str) -> Document:
    """Clean one raw article into a Document; every dropped line is logged with the reason."""
    lines = normalise(raw.text).split("\n")
    dropped: list[tuple[str, str]] = []
    warnings: list[str] = []
    url = headline = header_date = site_line = None
    page_lines = lines

    # 1. Source link, and the lists of other articles that follow the body.
    kept: list[str] = []
    for i, line in enumerate(lines):
        if m := _SOURCE.match(line):
            url = url or find_link([line])
            dropped.append(("source line", line))
        elif _TAIL_SECTION.match(line) and i >= len(lines) // 2:
            tail = [x for x in lines[i:] if x]
            url = url or find_link(tail)  # a link after the list
            dropped.extend(("related-articles list or footer", x) for x in tail)
            break
        else:
            kept.append(line)

    # 2. Page header: bullet lines before the body (date, headline, author).
    body_start = next((i for i, x in enumerate(kept) if len(x.split()) > 20), 0)
    lines, kept = kept, []
    skip_next = False
    for i, line in enumerate(lines):
        if skip_next:
            dropped.append(("author", line))
            skip_next = False
            continue
        if i < body_start and _BULLET.match(line):
            item = _BULLET.sub("", line)
            if _AUTHOR.match(item):
                skip_next = bool(i + 1 < len(lines) and _BULLET.match(lines[i + 1]))
                dropped.append(("author", line))
            elif is_date_line(item):
                header_date = header_date or date_in_text(item)
                dropped.append(("dateline", line))
            elif _is_title_like(item) and headline is None:
                headline = item
                dropped.append(("headline (kept as title)", line))
            else:
                dropped.append(("page header", line))
            continue
        kept.append(line)

    # 3. Boilerplate lines: read-also links, counters, menus, site names.
    lines, kept = kept, []
    for line in lines:
        reason = next((name for name, rx in _BOILERPLATE if line and rx.search(line)), None)
        if reason == "site name":
            site_line = site_line or line.lower()
        if reason:
            dropped.append((reason, line))
        else:
            kept.append(line)

    # 4. Captions, photo credits, the repeated headline, a closing byline, injected instructions.
    lines, kept = kept, []
    for i, line in enumerate(lines):
        if not line:
            kept.append(line)
            continue
        nxt = next((x for x in lines[i + 1 :] if x), "")
        reason = None
        if _CAPTION.search(line) and len(line.split()) <= 60:
            reason = "photo caption"
        elif _CREDIT_LINE.match(line):
            reason = "photo credit"
        elif _CREDIT_LINE.match(nxt) and len(line.split()) <= 40:
            reason = "photo caption"
        elif headline and line == headline:
            reason = "repeated headline"
        elif not nxt and len(line.split()) <= 6 and not line.endswith((".", "!", "?", '"', "”")):
            reason = "byline or credit"
        elif _unmarked_caption(line, lines[i - 1] if i else ""):
            reason = "photo caption (unmarked)"
        if reason:
            dropped.append((reason, line))
            continue
        line = _LANG_LABEL.sub("", _BULLET.sub("", line))
        if _INSTRUCTION.search(line):
            sentences = [line[a:b] for a, b in split_sentences(line)]
            bad = [s for s in sentences if _INSTRUCTION.search(s)]
            dropped.extend(("instruction to the model (possible prompt injection)", s) for s in bad)
            warnings.append(f"dropped {len(bad)} sentence(s) that address the model, not the reader")
            line = " ".join(s for s in sentences if s not in bad)
        kept.append(line)

    # Paragraphs separated by one blank line; no leading/trailing blank lines.
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    if not text:
        warnings.append("no article text left after cleaning")

    given = raw.meta  # what the file itself states (HTML meta tags, a JSONL record, DOCX properties) wins
    url = given.get("url") or url or find_link(page_lines)
    published, updated = page_header_dates(page_lines)
    date_iso, date_source = given.get("date"), "file metadata"
    for found, source in ((header_date or published, "page header"), (url and date_in_url(url), "link"),
                          (updated, "page header (updated)"), (text and date_in_text(text), "first date in the text")):
        if date_iso:
            break
        date_iso, date_source = found or None, source
    if not date_iso:
        date_source = None
    site = given.get("site") or (site_from_url(url) if url else site_line or site_from_text(page_lines))
    title = (
        given.get("title")
        or find_headline(page_lines, url)
        or (headline if headline and looks_like_headline(headline) else None)
        or (_derive_title(text) if text else Path(raw.path).stem)
    )
    return Document(
        article_id=article_id,
        source_file=str(raw.path),
        title=title,
        url=url,
        date=date_iso,
        date_source=date_source,
        site=site,
        text=text,
        content_hash=raw.content_hash,
        dropped=dropped,
        warnings=warnings,
        author=given.get("author"),
        source_format=raw.format,
        encoding=raw.encoding,
        part=raw.part,
    )
