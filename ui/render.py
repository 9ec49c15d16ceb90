"""HTML for the chat page: results, passages, citations, articles and status, rendered from ui/templates.

Article text, questions and answers are untrusted. They reach the page only as template variables, and
autoescape is on, so they are always escaped. Only http(s) URLs become links. `|safe` is used only on
fragments that this module rendered from templates. Chat messages are Markdown, so text in them goes
through the `md` filter: it escapes <, > and & but leaves quotes alone, because Markdown shows those as typed.

Templates put one element on each line so they are easy to read. The loader removes those line breaks and
the indentation after them, because whitespace matters in chat Markdown. A template writes
`{{ blank_line }}` when it needs a real line break.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from rag.answer.events import AskResult
from rag.answer.language import UNCITED_NOTE
from rag.answer.policy import Reason
from rag.errors import IndexMissingError, RagError
from rag.text import MONTH_NAMES, PLAIN_MARKER
from rag.types import Citation, Passage
from ui.labels import TEXT, label_lang, without_uncited_note

TEMPLATES = Path(__file__).with_name("templates")
_LINE_BREAK = re.compile(r"\s*\n\s*")
_CODE_SPAN = re.compile(r"`([^`]+)`")  # messages and hints name commands as `rag ingest`


class _JoinedLinesLoader(FileSystemLoader):
    """Loads a template with its line breaks and their indentation removed (they are only for reading)."""

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, path, uptodate = super().get_source(environment, template)
        return _LINE_BREAK.sub("", source), path, uptodate


def _markdown_text(text: object) -> Markup:
    """Text for chat Markdown: <, > and & escaped, quotes kept."""
    return Markup(html.escape(str(text), quote=False))


def _http_url(url: str | None) -> str | None:
    """The URL when it is a plain http(s) link (article metadata is untrusted: no javascript: etc.)."""
    if not url:
        return None
    parsed = urlparse(url.strip())
    return url.strip() if parsed.scheme in ("http", "https") and parsed.netloc else None


def _long_date(value: str | None, lang: str) -> str:
    """'2025-08-04' -> '4 Agustus 2025' / '4 August 2025' (other forms unchanged)."""
    if not value:
        return TEXT[lang]["no_date"]
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        return value
    return f"{int(m.group(3))} {MONTH_NAMES[lang][int(m.group(2)) - 1]} {m.group(1)}"


def _split_support(passage: str, support: str | None) -> tuple[str, str, str]:
    """(before, support, after) when the supporting sentence is in the passage, else (passage, '', '')."""
    if support and (i := passage.find(support)) >= 0:
        return passage[:i], support, passage[i + len(support):]
    return passage, "", ""


_ENV = Environment(loader=_JoinedLinesLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                   finalize=lambda value: "" if value is None else value)
_ENV.globals["blank_line"] = "\n\n"
_ENV.filters.update(
    md=_markdown_text,
    http_url=_http_url,
    bare_url=lambda url: re.sub(r"^https?://(www\.)?", "", url),
    file_name=lambda path: Path(path).name,
    long_date=_long_date,
    split_support=_split_support,
    code_split=_CODE_SPAN.split,  # text, code, text, ...
)


def _render(template: str, lang: str = "id", **context: Any) -> str:
    """One template, given the label language `lang` and its labels `t` besides `context`."""
    return _ENV.get_template(template).render(lang=lang, t=TEXT[lang], **context)


# ------------------------------------------------------------------------------------------ chat messages


def user_message(question: str) -> str:
    """The user's question as a chat message (escaped, Markdown kept)."""
    return _render("user_message.html", question=question)


def status(step: str, standalone: str | None, lang: str, ahead: int | None = None) -> str:
    """A spinner and what is happening now ('searching', 'writing', 'checking', or 'waiting' with the number of
    questions ahead in the model's queue), for the chat or the panel."""
    return _render("status.html", lang, step=step, standalone=standalone, ahead=ahead)


def streaming(pieces: list[str], standalone: str | None, lang: str) -> str:
    """The bot message while the model writes (raw text; markers become links once verified)."""
    return _render("streaming.html", lang, text="".join(pieces).strip(), standalone=standalone)


def _linked_segments(text: str, cited: set[int]) -> list[tuple[str, int | None]]:
    """The answer split into (text, None) runs and (marker, n) for each [n] that names a cited card."""
    segments: list[tuple[str, int | None]] = []
    for i, part in enumerate(PLAIN_MARKER.split(text)):
        if i % 2 == 0:
            segments.append((part, None))
        elif int(part) in cited:
            segments.append((part, int(part)))
        else:
            segments.append((f"[{part}]", None))
    return segments


def _by_article(citations: list[Citation]) -> list[tuple[Citation, list[int]]]:
    """One entry per cited article: its first citation and all its distinct markers, in answer order."""
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.source.article_id, []).append(c)
    return [(cs[0], list(dict.fromkeys(c.n for c in cs))) for cs in groups.values()]


# Every other refusal reads "reason_model": the model found no answer.
REASON_LABEL = {Reason.WEAK_EVIDENCE: "reason_weak", Reason.SUBJECT_NOT_FOUND: "reason_subject",
                Reason.INVENTED_FIGURE: "reason_unverified", Reason.UNSUPPORTED_NAME: "reason_unverified",
                Reason.NOT_SUPPORTED: "reason_unverified", Reason.CITED_OFF_SUBJECT: "reason_off_subject",
                Reason.REPEATS_QUESTION: "reason_shape", Reason.NO_FIGURE: "reason_shape"}


def answer(turn: int, result: AskResult) -> str:
    """The final bot message: verified answer with [n] linked to source cards, or a refusal notice."""
    lang = label_lang(result.language)
    t = TEXT[lang]
    reason = None
    if result.refused and result.refusal_reason and result.refusal_reason != Reason.UNSUPPORTED_LANGUAGE:
        reason = t[REASON_LABEL.get(Reason(result.refusal_reason), "reason_model")]
    text = without_uncited_note(result.answer.strip(), lang)
    filters = result.filters.describe() if result.filters else ""
    return _render("answer.html", lang, turn=turn, standalone=result.standalone_question, filters=filters,
                   refused=result.refused,
                   answer=result.answer, reason=reason, uncited=result.uncited, note=UNCITED_NOTE.get(lang, ""),
                   segments=_linked_segments(text, {c.n for c in result.citations}),
                   sources=_by_article(result.citations))


def error(err: BaseException, lang: str, retry: bool = True, kind: str = "error") -> str:
    """A readable error notice (RagError: its message and hint; anything else: a short 'Internal error: …')."""
    if isinstance(err, RagError):
        message, hint = err.message, err.hint
    else:
        message, hint = f"Internal error: {type(err).__name__}: {err}"[:400], None
    no_index = isinstance(err, IndexMissingError)
    return _render("error.html", lang, kind=kind, expected=isinstance(err, RagError), no_index=no_index,
                   message=message, hint=hint, retry=retry, en=TEXT["en"])


def banner(err: BaseException) -> str:
    """The page-level notice when the assistant cannot answer (Indonesian, with the English help line)."""
    return error(err, "id", retry=False, kind="error banner")


# ------------------------------------------------------------------------------------------ sources panel


def evidence(turn: int, passages: list[Passage], lang: str, weak: bool) -> str:
    """The retrieved passages, shown as soon as retrieval is done (before the answer is written)."""
    return _render("evidence.html", lang, turn=turn, passages=passages, weak=weak)


def result_sources(turn: int, result: AskResult) -> str:
    """After the answer: the cited passages (support highlighted) first, the rest collapsed."""
    by_n = {p.n: p for p in result.passages}
    cited = [(by_n[c.n], c.support) for c in result.citations if c.n in by_n]
    cited_ns = {p.n for p, _ in cited}
    return _render("result_sources.html", label_lang(result.language), turn=turn, refused=result.refused,
                   weak=result.refusal_reason == Reason.WEAK_EVIDENCE, passages=result.passages, cited=cited,
                   rest=[p for p in result.passages if p.n not in cited_ns])


def no_sources(lang: str) -> str:
    """The panel body when a question has no sources to show."""
    return _render("no_sources.html", lang)


def panel(turn: int, question: str, lang: str, state: str, body: str, earlier: list[tuple[int, str, str]]) -> str:
    """The sources panel: this turn's body, then earlier turns' (newest first, collapsed; links still work)."""
    return _render("panel.html", lang, turn=turn, question=question, state=state, body=body, earlier=earlier)


def empty_panel() -> str:
    """The sources panel before the first question."""
    return _render("empty_panel.html")


# ------------------------------------------------------------------------------------ page and articles tab


def header(app_name: str) -> str:
    """The page header: logo, name and taglines."""
    return _render("header.html", app_name=app_name)


def sources_title() -> str:
    """The title above the sources panel."""
    return _render("sources_title.html")


def status_line(n_articles: int, model: str, user: str | None = None, role: str | None = None,
                warning: str | None = None) -> str:
    """The header's status line: index size, generator model, local and offline, who is signed in; below it a
    warning when the server is open to its network without keys."""
    return _render("status_line.html", n_articles=n_articles, model=model, user=user, role=role, warning=warning)


def articles(docs: list[dict[str, Any]]) -> str:
    """The indexed-articles table (links only for http(s) URLs)."""
    return _render("articles.html", docs=docs)


def upload_help(max_upload_bytes: int) -> str:
    """What may be uploaded, beside the upload box."""
    return _render("upload_help.html", max_mb=max_upload_bytes / 1e6)


def upload_result(file_name: str, added: bool, summary: str) -> str:
    """The notice after an upload: added (or nothing changed), with the ingest report."""
    return _render("upload_result.html", file_name=file_name, added=added, summary=summary)
