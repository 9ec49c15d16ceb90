"""JSON Lines dumps: one article per line; a bad line is reported with its number, the others are still read."""

from __future__ import annotations

import json
from pathlib import Path

from rag.ingest.formats.base import RawArticle, clean_meta, refuse, sha256
from rag.ingest.formats.text import check_text, decode

TEXT_KEYS = ("text", "content", "body")
URL_KEYS = ("url", "link")
DATE_KEYS = ("date", "published", "published_at")


def _first(record: dict, keys: tuple[str, ...]) -> object:
    """The first present, non-empty value among keys."""
    return next((record[k] for k in keys if record.get(k) not in (None, "")), None)


def _article(text: str, number: int, path: Path) -> RawArticle:
    """One line as an article; ValueError with the reason when it cannot be used."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON ({e.msg} at column {e.colno})") from e
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object (a {type(record).__name__})")
    body = _first(record, TEXT_KEYS)
    if not isinstance(body, str) or not body.strip():
        raise ValueError(f"no article text (expected a non-empty string in one of: {', '.join(TEXT_KEYS)})")
    meta = clean_meta(title=record.get("title"), url=_first(record, URL_KEYS), date=_first(record, DATE_KEYS),
                      site=record.get("site") or record.get("source"), author=record.get("author"))
    return RawArticle(path=path, text=body, content_hash=sha256(text.encode("utf-8")), format="jsonl", meta=meta,
                      part=number)


def looks_like_jsonl(text: str) -> bool:
    """Every non-empty line is a JSON object (and there is at least one)."""
    lines = [x for x in text.split("\n") if x.strip()]
    if not lines or not all(x.lstrip().startswith("{") for x in lines):
        return False
    try:
        return all(isinstance(json.loads(x), dict) for x in lines)
    except json.JSONDecodeError:
        return False


def read_jsonl(data: bytes, path: Path) -> tuple[list[RawArticle], list[tuple[int, str]]]:
    """The usable lines as articles (part = line number) and (line number, reason) for each unusable one."""
    text, encoding = decode(data, path)
    check_text(text, path)
    articles, problems = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            articles.append(_article(line.strip(), number, path))
        except ValueError as e:
            problems.append((number, str(e)))
    if not articles:
        first = "; ".join(f"line {n}: {why}" for n, why in problems[:3])
        raise refuse(path, f"no usable line in the JSON Lines file ({len(problems)} bad: {first})")
    for a in articles:
        a.encoding = encoding
    return articles, problems
