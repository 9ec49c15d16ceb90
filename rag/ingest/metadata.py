"""Title, date, link and site of a scraped news page, found by rules that do not depend on the site.

Every function is pure: it takes the page's lines (normalised, as `clean.normalise` gives them) or strings,
and returns what it found or None. `clean.clean_article` calls them; metadata the file format gives wins there.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import unquote, urlparse

from rag.text import MONTHS

NUMERIC_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b")
TEXT_DATE = re.compile(r"\b(\d{1,2})\s+([A-Za-z]+)\.?\s+(\d{4})\b")
_MONTH_FIRST = re.compile(r"\b([A-Za-z]+)\.?\s+(\d{1,2}),\s*(\d{4})\b")  # May 12, 2025
_ISO_DATE = re.compile(r"\b(20\d{2}|19\d{2})-(\d{2})-(\d{2})\b")
_URL_DATE = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d{3}\b)")
_URL_PATH_DATE = re.compile(r"/(20\d{2})/(\d{1,2})/(\d{1,2})(?=/|$)|(?<!\d)(20\d{2})-(\d{2})-(\d{2})(?!\d)")
_TIME = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b(WIB|WITA|WIT|GMT|UTC|am|pm)\b", re.I)
_WEEKDAY = re.compile(r"\b(senin|selasa|rabu|kamis|jumat|jum'at|sabtu|minggu|mon|tue|wed|thu|fri|sat|sun)[a-z]*\b", re.I)
_UPDATED = re.compile(r"\b(diperbarui|diperbaharui|diubah|update[d]?|last modified|terakhir)\b", re.I)
_PUBLISHED = re.compile(r"\b(diterbitkan|dipublikasikan|terbit|published|posted|tayang)\b", re.I)

_LINK_LINE = re.compile(r"^(?:sumber|source|link|tautan|baca selengkapnya(?: di)?|selengkapnya(?: di)?|read more(?: at)?)"
                        r"\s*[:\-–]?\s*(\S+)\s*$", re.I)
_URLISH = re.compile(r"^(https?://\S+|(?:www\.)?[\w-]+(?:\.[\w-]+)+/\S*)$", re.I)
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:co\.id|go\.id|or\.id|ac\.id|web\.id|my\.id|com|id|net|org|tv|co|vn|sg|my|news|online|info|live|me)"
_SITE_LINE = re.compile(rf"^({_DOMAIN})$", re.I)
_SELF_NAME = re.compile(rf"^(?:[A-Z][\w .]{{0,30}},\s*)?({_DOMAIN})\s*(?:[-–—:,]|$)", re.I)

# Lines that are never a headline: navigation, images, separators, crumbs, datelines, bylines, widgets.
_SKIP_LINK = re.compile(r"^(menuju|lompat|langsung|loncat) ke (konten|isi)|^skip to (main )?content|^jump to", re.I)
_IMAGE_MD = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_BREADCRUMB = re.compile(r"^-?\s*(home|beranda|index)\b|\S\s*(>|»|›|/)\s*\S.*\s(>|»|›|/)\s", re.I)
_DATELINE = re.compile(rf"^[A-Z][\w .'’]{{0,40}}(\([A-Za-z .]{{2,30}}\))?\s*[-–—]+\s*$|^[A-Z][\w .]{{0,30}},\s*{_DOMAIN}\s*[-–—]*\s*$")
_LEAD = re.compile(rf"^({_DOMAIN}|[A-Z][\w .]{{0,30}}(\s*\([A-Za-z .]{{2,30}}\)|,\s*[\w.]+))\s*[-–—]")  # 'Jakarta (ANTARA) - …'
_BYLINE = re.compile(r"^(-\s*)?(by|oleh|penulis|reporter|editor|rep|red|tim redaksi|author|laporan)\b|\s[-–]\s*\w*(news|com)\b\s*$",
                     re.I)
_CREDIT = re.compile(r"^\(?(foto|photo|ilustrasi|sumber gambar|image)\s*:|\((foto|photo)\s*:|^[-–]\s*[A-Z]{2,}/", re.I)
_HEADING = re.compile(r"^#{1,3}\s+(.+)$|^(?:judul|title|headline)\s*:\s*(.+)$", re.I)
_SUFFIX = re.compile(r"^(.{15,}?)\s+[|–—-]\s+([^|–—]{2,40})$")
_BULLET = re.compile(r"^[•·▪●*]\s*")
_MINOR = {"dan", "di", "ke", "dari", "yang", "untuk", "atau", "pada", "dengan", "the", "of", "in", "and", "to", "for", "on", "at", "a"}
_STOP_SLUG = {"amp", "read", "berita", "news", "html", "htm", "php", "index", "detail", "artikel"}


def _iso(y: int, m: int, d: int) -> str | None:
    if y < 100:
        y += 2000
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def date_in_text(text: str) -> str | None:
    """A date written in `text`: the first 31/12/2025 (or 31/12/25), else 31 Desember 2025, December 31, 2025, 2025-12-31."""
    found: list[tuple[int, int, str]] = []  # (pattern rank, position, date): numeric dates first, as before
    for m in NUMERIC_DATE.finditer(text):
        if iso := _iso(int(m.group(3)), int(m.group(2)), int(m.group(1))):
            found.append((0, m.start(), iso))
    for m in TEXT_DATE.finditer(text):
        if (month := MONTHS.get(m.group(2).lower())) and (iso := _iso(int(m.group(3)), month, int(m.group(1)))):
            found.append((1, m.start(), iso))
    for m in _MONTH_FIRST.finditer(text):
        if (month := MONTHS.get(m.group(1).lower())) and (iso := _iso(int(m.group(3)), month, int(m.group(2)))):
            found.append((2, m.start(), iso))
    for m in _ISO_DATE.finditer(text):
        if iso := _iso(int(m.group(1)), int(m.group(2)), int(m.group(3))):
            found.append((3, m.start(), iso))
    return min(found)[2] if found else None


def date_in_url(url: str) -> str | None:
    """A date the link's path spells: /2025/05/12/, 2025-05-12, or 20250512 inside a slug or id."""
    path = urlparse(url).path
    for m in _URL_PATH_DATE.finditer(path):
        y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
        if iso := _iso(int(y), int(mo), int(d)):
            return iso
    for m in _URL_DATE.finditer(path):
        if iso := _iso(int(m.group(1)), int(m.group(2)), int(m.group(3))):
            return iso
    return None


def is_date_line(line: str) -> bool:
    """A short line that mostly states a date (with a weekday, a time, or little else): a page's date header."""
    words = line.split()
    if not words or len(words) > 16 or not date_in_text(line):
        return False
    rest = NUMERIC_DATE.sub(" ", TEXT_DATE.sub(" ", _MONTH_FIRST.sub(" ", _ISO_DATE.sub(" ", line))))
    rest = _WEEKDAY.sub(" ", _TIME.sub(" ", rest))
    return len(re.findall(r"[A-Za-z]{3,}", rest)) <= 6 or bool(_UPDATED.search(line) or _PUBLISHED.search(line))


def header_date(lines: list[str]) -> tuple[str | None, str | None]:
    """(published date, updated date) from date lines in the page header or in a 'diperbarui/updated' line."""
    published = updated = None
    head = head_lines(lines)
    for i, raw in enumerate(lines):
        line = _BULLET.sub("", raw)
        if not is_date_line(line):
            continue
        d = date_in_text(line)
        if _UPDATED.search(line) and not _PUBLISHED.search(line):
            updated = updated or d
        elif i in head:
            published = published or d
    return published, updated


def head_lines(lines: list[str], limit: int = 20) -> set[int]:
    """Indices of the page header: the first `limit` non-empty lines before the first long (body) paragraph."""
    out: set[int] = set()
    for i, line in enumerate(lines):
        if len(line.split()) > 20 and not _CREDIT.search(line):
            break
        if line:
            out.add(i)
        if len(out) >= limit:
            break
    return out


def is_noise(line: str) -> bool:
    """Navigation and furniture that can never be a headline: skip-links, images, separators, crumbs, bylines."""
    bare = _IMAGE_MD.sub(" ", line).strip(" |-–—•·")
    return (
        not re.search(r"[^\W\d_]", bare)  # images, pipes, separators, numbers only
        or bool(_SKIP_LINK.search(line) or _BREADCRUMB.search(line) or _DATELINE.match(line))
        or bool(_BYLINE.search(line) or _CREDIT.search(line) or _SITE_LINE.match(line))
        or line.count("|") >= 2
    )


def strip_site_suffix(title: str) -> str:
    """'Headline | Kompas.com' or 'Headline - Site Name' -> 'Headline' (a short, name-like tail only)."""
    m = _SUFFIX.match(title)
    if not m:
        return title
    tail = m.group(2).strip()
    if len(tail.split()) <= 4 and (re.search(_DOMAIN, tail, re.I) or all(w[:1].isupper() or w[:1].isdigit() for w in tail.split())):
        return m.group(1).strip()
    return title


def looks_like_headline(line: str) -> bool:
    """4-20 words, mostly words, one sentence without a final period, not furniture, not a date or a dateline lead."""
    words = line.split()
    if not 4 <= len(words) <= 20 or is_noise(line) or is_date_line(line):
        return False
    if line.endswith((".", ":", ",", ";", "…")) or re.search(r"\.\s+[A-Z]", line):
        return False  # ends like a sentence, or holds more than one sentence
    if not (line[:1].isupper() or line[:1].isdigit() or line[:1] in "\"“'‘"):
        return False
    if _LEAD.match(line) or "http" in line or _IMAGE_MD.search(line):
        return False
    return sum(bool(re.search(r"[^\W\d_]", w)) for w in words) / len(words) >= 0.7


def slug_words(url: str | None) -> list[str]:
    """The words of the link's descriptive slug (trailing ids dropped), or [] when it has none."""
    if not url:
        return []
    for seg in reversed([s for s in unquote(urlparse(url).path).split("/") if s]):
        seg = re.sub(r"\.(html?|php|aspx?|vnp|vov)$", "", seg, flags=re.I)
        words = [w for w in re.split(r"[-_]+", seg) if w]
        while words and (re.fullmatch(r"\d{5,}", words[-1]) or (re.search(r"\d", words[-1]) and re.search(r"[a-z]", words[-1], re.I) and len(words[-1]) >= 5)):
            words.pop()  # trailing article ids: 13094, fe4644, 24A4P0X4nQg
        while words and re.search(r"\d", words[0]) and re.search(r"[a-z]", words[0], re.I) and len(words[0]) >= 6:
            words.pop(0)  # a leading id: Rb1DOp3N-…
        if len(words) >= 4 and sum(w.isalpha() for w in words) >= 3 and words[0].lower() not in _STOP_SLUG:
            return [w.lower() for w in words]
    return []


def _tokens(text: str) -> set[str]:
    return set(re.sub(r"[\W_]+", " ", re.sub(r"(?<=\d)[.,](?=\d)", "", text.casefold())).split())


def _overlap(a: list[str] | set[str], b: set[str]) -> float:
    a = set(a)
    return len(a & b) / len(a) if a else 0.0


def slug_title(url: str | None, text: str) -> str | None:
    """A title spelled from the link's slug, when at least a third of its words occur in the page (same language)."""
    words = slug_words(url)
    long_words = [w for w in words if len(w) >= 4]
    body = re.sub(r"\S*(https?://|www\.)\S*|\S+\.\w{2,4}/\S*", " ", text)  # the link itself does not count
    if not long_words or _overlap(long_words, _tokens(body)) < 1 / 3:
        return None
    return respell_slug(words, body)


_SPELLING = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’]s\b)?")


def respell_slug(words: list[str], text: str) -> str:
    """Slug words spelled as the text spells them: the text outranks the slug.

    A slug loses case, decimal commas and apostrophes ("ekonomi-ri-melesat-802-persen" for "Ekonomi RI melesat
    8,02 persen", "vietnam-s" for "Vietnam's"). A figure is written as the text writes it or dropped (a slug's
    "802" never becomes a figure the text does not hold); a word the text capitalises (names, acronyms) takes the
    text's spelling; other words are title-cased as a headline; debris with digits the text lacks is dropped."""
    spelled: dict[str, str] = {}
    for m in _SPELLING.finditer(text):
        token = m.group()
        key = re.sub(r"[.,]", "", token) if token[:1].isdigit() else re.sub(r"['’]s$", "", token).casefold()
        if key not in spelled or (token[:1].isupper() and not spelled[key][:1].isupper()):
            spelled[key] = re.sub(r"['’]s$", "", token) if not token[:1].isdigit() else token
        if token[:1].isalpha() and re.search(r"['’]s$", token):
            spelled[key + "'s"] = token
    out: list[str] = []
    for w in words:
        if w == "s" and out and (out[-1].casefold() + "'s") in spelled:
            out[-1] = spelled[out[-1].casefold() + "'s"]
            continue
        if any(ch.isdigit() for ch in w):
            if w.isdigit() and w in spelled:
                out.append(spelled[w])
            elif (letters := re.sub(r"\d+", "", w)) and letters in spelled:
                out.append(spelled[letters] if spelled[letters][:1].isupper() else letters)
            continue  # a figure (or id debris) the text does not write
        form = spelled.get(w)
        if form and any(ch.isupper() for ch in form):
            out.append(form)
        else:
            out.append(w if out and w in _MINOR else w[:1].upper() + w[1:])
    return " ".join(out)


def find_headline(lines: list[str], url: str | None = None) -> str | None:
    """The page's headline: a '# heading'/'Judul:' line, else the best headline-looking line in the header.

    A candidate scores for being repeated, for a byline or date line next to it, for agreeing with the link's
    slug and for coming first; a candidate that shares almost nothing with a descriptive slug loses to the slug.
    """
    for line in lines[:40]:
        if m := _HEADING.match(line):
            return strip_site_suffix((m.group(1) or m.group(2)).strip())
    head = head_lines(lines)
    top = [i for i, x in enumerate(lines) if x][:30]
    stripped = [_BULLET.sub("", x) for x in lines]
    # a headline-looking line shown twice near the top counts even after a long notice (e.g. a browser warning)
    head = sorted(head | {i for i in top if stripped.count(stripped[i]) >= 2})
    text = "\n".join(lines)
    slug = slug_words(url)
    best, best_score = None, 0.0
    seen: list[str] = []
    for rank, i in enumerate(head):
        cand = strip_site_suffix(_BULLET.sub("", lines[i]))
        if not looks_like_headline(cand) or cand in seen:
            continue
        seen.append(cand)
        score = 1.0 if not best else 0.0  # the first candidate
        if stripped.count(cand) >= 2 or sum(x.startswith(cand) for x in stripped) >= 2:
            score += 3
        near = [_BULLET.sub("", lines[j]) for j in head if 0 < abs(j - i) <= 3]
        if any(is_date_line(x) or _BYLINE.search(x) for x in near):
            score += 2
        if slug and _overlap(slug, _tokens(cand)) >= 0.5:
            score += 2
        if score > best_score:
            best, best_score = cand, score
    title = slug_title(url, text) if slug else None
    if title and (not best or _overlap(_tokens(best), _tokens(title)) < 0.3):
        return title
    return best


def find_link(lines: list[str]) -> str | None:
    """The article's link: a 'Sumber:'/'Source:'/'Baca selengkapnya di' line, or a bare URL line at the start or end."""
    for line in lines:
        if (m := _LINK_LINE.match(line)) and _URLISH.match(m.group(1)):
            return m.group(1)
    nonempty = [x for x in lines if x]
    for line in nonempty[:2] + nonempty[-2:]:
        if _URLISH.match(line) and "/" in line.split("://")[-1]:
            return line
    return None


def is_link_line(line: str) -> bool:
    """A line that only carries the article's link (dropped from the text)."""
    return bool((m := _LINK_LINE.match(line)) and _URLISH.match(m.group(1))) or bool(_URLISH.match(line))


def site_from_url(url: str) -> str:
    """The link's host without www."""
    return urlparse(url if "://" in url else "http://" + url).netloc.lower().removeprefix("www.")


def site_from_text(lines: list[str]) -> str | None:
    """The site a page names itself by: a bare domain line near the top, or a lead such as 'JAKARTA, KOMPAS.com -'."""
    nonempty = [x for x in lines if x]
    for line in nonempty[:3] + nonempty[-3:]:
        if m := _SITE_LINE.match(line):
            return m.group(1).lower()
    for line in nonempty[:15]:
        if m := _SELF_NAME.match(line):
            return m.group(1).lower()
    return None
