"""The data that flows between steps: documents, chunks, sources, passages and citations."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T", bound="Sourced")


@dataclass(frozen=True)
class Source:
    """An article as a reader sees it cited: its id and the metadata shown beside a passage, citation or copy."""

    article_id: str
    title: str
    url: str | None
    date: str | None
    site: str | None
    source_file: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Source:
        """The source named by a JSON object's fields (other keys, e.g. a whole article's metadata, are ignored)."""
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


@dataclass
class Document:
    """A cleaned article with its metadata; `text` is what chunk spans point into."""

    article_id: str
    source_file: str
    title: str
    url: str | None
    date: str | None
    date_source: str | None
    site: str | None
    text: str
    content_hash: str
    dropped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    author: str | None = None
    source_format: str = "txt"  # txt, md, html, pdf, docx, jsonl: how the file was read
    encoding: str | None = None  # the text encoding found for a .txt/.md/.html file
    part: int | None = None  # the line of a .jsonl dump this article came from (one file, many articles)
    duplicate_of: str | None = None  # a near-duplicate (syndicated copy) of this article: stored, not searched
    signature: list[int] = field(default_factory=list)  # MinHash of the text, for near-duplicate detection

    @property
    def source(self) -> Source:
        """The article as passages and citations name it."""
        return Source(self.article_id, self.title, self.url, self.date, self.site, self.source_file)

    def meta(self) -> dict[str, Any]:
        """Metadata without the text, the cleaning log and the signature (the rest are plain values: no deep copy,
        which cost 2 ms an article)."""
        return {k: v for k, v in vars(self).items() if k not in ("text", "dropped", "warnings", "signature")}


@dataclass
class Chunk:
    """A passage of a document: text plus its character span in the cleaned document."""

    chunk_id: str
    article_id: str
    start: int
    end: int
    text: str


@dataclass
class Sentence:
    """A sentence of a document: its character span in the cleaned document (text is doc.text[start:end])."""

    article_id: str
    start: int
    end: int


class Sourced:
    """A dataclass that carries a `source` and its `also_reported_by` copies; its JSON form has the source's
    fields flat in its place (the keys the API has always sent)."""

    source: Source
    also_reported_by: list[Source]

    @property
    def article_id(self) -> str:
        """The source article's id (the one field nearly every reader wants)."""
        return self.source.article_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "source":
                out.update(value)
            else:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any]) -> T:
        """The object back from its JSON form."""
        own = {f.name for f in fields(cls)} - {"source", "also_reported_by"}
        return cls(source=Source.from_dict(d), **{k: v for k, v in d.items() if k in own},
                   also_reported_by=[Source.from_dict(o) for o in d.get("also_reported_by") or []])


@dataclass
class Passage(Sourced):
    """A retrieved passage (possibly merged from overlapping chunks) with its scores."""

    source: Source
    start: int
    end: int
    text: str
    chunk_ids: list[str]
    scores: dict[str, float] = field(default_factory=dict)
    n: int = 0  # the [n] marker the model sees
    sentence_ids: list[int] = field(default_factory=list)  # index positions of the sentences in this passage
    also_reported_by: list[Source] = field(default_factory=list)  # syndicated copies on other sites


@dataclass
class Citation(Sourced):
    """A verified [n] marker resolved to its source."""

    n: int
    source: Source
    passage: str
    support: str  # the sentence of the passage that best matches the cited claim
    start: int
    end: int
    also_reported_by: list[Source] = field(default_factory=list)  # syndicated copies on other sites


@dataclass(frozen=True)
class ArticleFilter:
    """Which articles a search may return: dated within [since, until] (ISO dates, inclusive) and from these sites.

    An article without a date is excluded by a date bound; a site matches when it contains the given name
    (case-insensitive: "antaranews" matches "en.antaranews.com")."""

    since: str | None = None
    until: str | None = None
    sites: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.sites)

    def admits(self, date: str | None, site: str | None) -> bool:
        """Whether an article with this date and site passes the filter."""
        if (self.since or self.until) and not date:
            return False
        if self.since and date < self.since:
            return False
        if self.until and date > self.until:
            return False
        return not self.sites or any(s.lower() in (site or "").lower() for s in self.sites)

    def describe(self) -> str:
        """The filter in words, e.g. 'dated 2023-05-01 to 2023-05-31, from antaranews'."""
        parts = []
        if self.since or self.until:
            parts.append(f"dated {self.since or 'any time'} to {self.until or 'today'}")
        if self.sites:
            parts.append("from " + " or ".join(self.sites))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"since": self.since, "until": self.until, "sites": list(self.sites)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArticleFilter:
        """The filter back from its JSON form."""
        return cls(d.get("since"), d.get("until"), tuple(d.get("sites") or ()))
