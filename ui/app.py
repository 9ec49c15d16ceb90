"""The chat page: streamed, cited answers with the evidence beside them. A thin shell over rag.pipeline.

Everything the page shows comes from `Assistant.ask_stream` events (Retrieved -> Token... -> Done); this
module only renders them. Article text is untrusted: every piece of it goes through html.escape, and only
http(s) URLs become links.
"""

from __future__ import annotations

import html
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline and private: no telemetry

import gradio as gr  # noqa: E402

from rag.errors import IndexError_, RagError  # noqa: E402
from rag.language import UNCITED_NOTE, detect_language  # noqa: E402
from rag.policy import Reason  # noqa: E402
from rag.pipeline import AskResult, Assistant, Done, Retrieved, Token  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.types import Citation, Passage  # noqa: E402

log = logging.getLogger("rag.ui")

APP_NAME = "Tanya Berita"
TAGLINE_ID = "Tanya jawab lokal & privat atas artikel berita — setiap jawaban dengan sumber"
TAGLINE_EN = "Local & private Q&A over news articles — every answer with its sources"
STYLE = Path(__file__).with_name("style.css")
HISTORY_TURNS = 3  # turns passed to the pipeline for follow-up questions
EARLIER_PANELS = 6  # earlier turns whose sources stay on the page (their [n] links keep working)
STREAM_INTERVAL = 0.06  # seconds between streamed UI updates

EXAMPLES = [
    "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?",
    "Apa rumus kerja sama yang diusulkan Perdana Menteri Pham Minh Chinh kepada Qatar?",
    "Apa yang disepakati Indonesia dan Vietnam di Labuan Bajo?",
    "What did Indonesia and Vietnam agree on in Labuan Bajo?",
    "What is the Hanoi Convention about?",
]

# Labels that follow the question's language ('id' or 'en').
TEXT: dict[str, dict[str, str]] = {
    "id": {
        "searching": "Mencari bukti di artikel…",
        "writing": "Menulis jawaban…",
        "checking": "Memeriksa bukti…",
        "searched_as": "Dicari sebagai",
        "evidence": "Bukti yang ditemukan",
        "evidence_note": "Bagian artikel yang dibaca model untuk pertanyaan ini.",
        "cited": "Sumber yang dikutip",
        "cited_note": "Kalimat pendukung ditandai kuning.",
        "others": "Bagian lain yang dibaca",
        "weak": "Tidak ada bagian artikel yang cukup cocok dengan pertanyaan ini.",
        "closest": "Bagian terdekat (tidak dipakai)",
        "no_answer_read": "Bagian yang dibaca model",
        "refusal_title": "Tidak ditemukan di artikel",
        "reason_weak": "Tidak ada bagian artikel yang cukup cocok dengan pertanyaan.",
        "reason_model": "Model tidak menemukan jawabannya di bagian artikel yang dibaca.",
        "uncited_title": "Jawaban tanpa kutipan",
        "sources": "Sumber",
        "open": "Buka artikel asli",
        "file": "Berkas",
        "no_date": "tanpa tanggal",
        "error_title": "Terjadi kesalahan",
        "no_index_title": "Belum ada indeks artikel",
        "no_index_help": "Jalankan `rag ingest` untuk mengindeks artikel (atau unggah artikel .txt di tab "
                         "“Artikel terindeks”), lalu tanya lagi.",
        "internal": "Kesalahan internal",
        "hint": "Saran",
        "try_again": "Halaman tetap bisa dipakai; silakan coba lagi.",
        "question": "Pertanyaan",
        "earlier": "Sumber pertanyaan sebelumnya",
        "no_sources": "Tidak ada sumber untuk pertanyaan ini.",
    },
    "en": {
        "searching": "Searching the articles…",
        "writing": "Writing the answer…",
        "checking": "Checking the evidence…",
        "searched_as": "Searched as",
        "evidence": "Evidence found",
        "evidence_note": "Article passages the model reads for this question.",
        "cited": "Cited sources",
        "cited_note": "Supporting sentences are highlighted.",
        "others": "Other passages read",
        "weak": "No article passage matches this question well enough.",
        "closest": "Closest passages (not used)",
        "no_answer_read": "Passages the model read",
        "refusal_title": "Not found in the articles",
        "reason_weak": "No article passage matches the question well enough.",
        "reason_model": "The model found no answer in the passages it read.",
        "uncited_title": "Answer without citations",
        "sources": "Sources",
        "open": "Open original article",
        "file": "File",
        "no_date": "no date",
        "error_title": "Something went wrong",
        "no_index_title": "No article index yet",
        "no_index_help": "No index: run `rag ingest` to index the articles (or upload a .txt article in the "
                         "“Indexed articles” tab), then ask again.",
        "internal": "Internal error",
        "hint": "Hint",
        "try_again": "The page is still usable; please try again.",
        "question": "Question",
        "earlier": "Sources of earlier questions",
        "no_sources": "No sources for this question.",
    },
}
MONTHS = {
    "id": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}

ICON_LOGO = (
    '<svg viewBox="0 0 24 24" width="28" height="28" fill="none" stroke="currentColor" stroke-width="1.7" '
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M4 5h13v14H6a2 2 0 0 1-2-2z"/>'
    '<path d="M17 8h3v9a2 2 0 0 1-2 2h-1"/><path d="M7 9h7M7 12h7M7 15h4"/></svg>'
)
ICON_SOURCES = (
    '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="1.8" '
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" class="icon-svg"><path d="M6 3h9l4 4v14H6z"/>'
    '<path d="M14 3v5h5M9 12h7M9 16h7"/></svg>'
)

# Clicking an [n] marker: open the card's <details> if it is collapsed, scroll it into view, flash it.
HEAD = """
<meta name="color-scheme" content="light">
<script>
document.addEventListener("click", function (ev) {
  var a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#src-"]') : null;
  if (!a) return;
  var card = document.getElementById(a.getAttribute("href").slice(1));
  if (!card) return;
  ev.preventDefault();
  for (var d = card.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) {
    d.open = true;
  }
  card.scrollIntoView({behavior: "smooth", block: "nearest"});
  card.classList.remove("flash");
  void card.offsetWidth;
  card.classList.add("flash");
}, true);
</script>
"""


def _lang(language: str | None) -> str:
    return language if language in TEXT else "id"


def _question_lang(question: str) -> str:
    """The label language for a question ('id' when unsure; the pipeline decides the answer's language)."""
    try:
        return _lang(detect_language(question))
    except Exception:  # noqa: BLE001 - labels only
        return "id"


def _esc(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _esc_code(text: object) -> str:
    """Escaped text with `command` spans shown as <code> (messages and hints name commands that way)."""
    return re.sub(r"`([^`<>]+)`", r"<code>\1</code>", _esc(text))


def _safe_url(url: str | None) -> str | None:
    """The URL when it is a plain http(s) link (article metadata is untrusted: no javascript: etc.)."""
    if not url:
        return None
    parsed = urlparse(url.strip())
    return url.strip() if parsed.scheme in ("http", "https") and parsed.netloc else None


def _date(value: str | None, lang: str) -> str:
    """'2025-08-04' -> '4 Agustus 2025' / '4 August 2025' (other forms unchanged)."""
    if not value:
        return TEXT[lang]["no_date"]
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        return value
    return f"{int(m.group(3))} {MONTHS[lang][int(m.group(2)) - 1]} {m.group(1)}"


def _anchor(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


# ----------------------------------------------------------------------------------------------- rendering


def _highlight(passage: str, support: str | None) -> str:
    """The passage, escaped, with the supporting sentence wrapped in <mark>."""
    if support:
        i = passage.find(support)
        if i >= 0:
            return (f"{_esc(passage[:i])}<mark>{_esc(support)}</mark>{_esc(passage[i + len(support):])}")
    return _esc(passage)


def _link_or_file(url: str | None, source_file: str, lang: str) -> str:
    safe = _safe_url(url)
    if safe:
        shown = re.sub(r"^https?://(www\.)?", "", safe)
        return (f'<a class="src-url" href="{_esc(safe)}" target="_blank" rel="noopener noreferrer" '
                f'title="{_esc(TEXT[lang]["open"])}: {_esc(safe)}">{_esc(shown)}</a><span class="ext">↗</span>')
    return f'<span class="src-file">{_esc(TEXT[lang]["file"])}: {_esc(Path(source_file).name)}</span>'


def render_card(turn: int, p: Passage, lang: str, support: str | None = None, cited: bool = False) -> str:
    """One source card: [n], title, site · date, link (or file name), the passage with the support marked."""
    meta = " · ".join(_esc(x) for x in (p.site, _date(p.date, lang)) if x)
    return (
        f'<article class="src-card{" cited" if cited else ""}" id="{_anchor(turn, p.n)}" data-n="{p.n}" '
        f'data-article-id="{_esc(p.article_id)}">'
        f'<div class="src-top"><span class="src-n">[{p.n}]</span>'
        f'<span class="src-title">{_esc(p.title)}</span></div>'
        f'<div class="src-meta">{meta}</div>'
        f'<div class="src-link">{_link_or_file(p.url, p.source_file, lang)}</div>'
        f'<blockquote class="src-passage">{_highlight(p.text, support)}</blockquote>'
        "</article>"
    )


def render_evidence(turn: int, passages: list[Passage], lang: str, weak: bool) -> str:
    """The retrieved passages, shown as soon as retrieval is done (before the answer is written)."""
    t = TEXT[lang]
    cards = "".join(render_card(turn, p, lang) for p in passages)
    if weak:
        return (f'<div class="src-sub weak">⚠ {t["weak"]}</div>'
                f'<details class="src-more"><summary>{t["closest"]} ({len(passages)})</summary>{cards}</details>')
    return (f'<div class="src-sub">{t["evidence"]} ({len(passages)}) — {t["evidence_note"]}</div>{cards}')


def render_result_sources(turn: int, result: AskResult) -> str:
    """After the answer: the cited passages (support highlighted) first, the rest collapsed."""
    lang = _lang(result.language)
    t = TEXT[lang]
    by_n = {p.n: p for p in result.passages}
    if result.refused:
        if not result.passages:
            return f'<div class="src-sub">{t["no_sources"]}</div>'
        weak = result.refusal_reason == Reason.WEAK_EVIDENCE
        title = t["closest"] if weak else t["no_answer_read"]
        cards = "".join(render_card(turn, p, lang) for p in result.passages)
        lead = f'<div class="src-sub weak">⚠ {t["weak"]}</div>' if weak else ""
        return f'{lead}<details class="src-more"><summary>{title} ({len(result.passages)})</summary>{cards}</details>'
    cited_ns = [c.n for c in result.citations if c.n in by_n]
    parts = []
    if cited_ns:
        parts.append(f'<div class="src-sub">{t["cited"]} ({len(cited_ns)}) — {t["cited_note"]}</div>')
        for c in result.citations:
            if c.n in by_n:
                parts.append(render_card(turn, by_n[c.n], lang, support=c.support, cited=True))
    rest = [p for p in result.passages if p.n not in cited_ns]
    if rest:
        cards = "".join(render_card(turn, p, lang) for p in rest)
        title = t["others"] if cited_ns else t["no_answer_read"]
        opened = "" if cited_ns else " open"
        parts.append(f'<details class="src-more"{opened}><summary>{title} ({len(rest)})</summary>{cards}</details>')
    return "".join(parts) or f'<div class="src-sub">{t["no_sources"]}</div>'


def _searched_as(standalone: str | None, lang: str) -> str:
    if not standalone:
        return ""
    return (f'<div class="searched-as">{TEXT[lang]["searched_as"]}: '
            f'<span class="standalone">{_esc(standalone)}</span></div>\n\n')


def render_status(text: str, standalone: str | None, lang: str) -> str:
    """The bot message while waiting: what is happening now."""
    return f'{_searched_as(standalone, lang)}<div class="rag-pending"><span class="spinner"></span>{_esc(text)}</div>'


def render_streaming(pieces: list[str], standalone: str | None, lang: str) -> str:
    """The bot message while the model writes (raw text; markers become links once verified)."""
    return f"{_searched_as(standalone, lang)}{_esc_answer(''.join(pieces).strip())} ▍"


def _esc_answer(text: str) -> str:
    # Escape HTML but keep the model's Markdown (lists, bold) working.
    return html.escape(text, quote=False)


def _notice(kind: str, icon: str, title: str, body: str, lang: str | None = None, extra: str = "") -> str:
    """A notice box (refusal, uncited, error, ok, info); title and body are HTML already escaped."""
    attr = f' lang="{lang}"' if lang else ""
    return (f'<div class="notice {kind}"{attr}><div class="notice-title"><span class="icon">{icon}</span> {title}</div>'
            f'<div class="notice-text">{body}</div>{extra}</div>')


def _cite_link(turn: int, n: int) -> str:
    return f'<a class="cite" href="#{_anchor(turn, n)}" title="[{n}]">[{n}]</a>'


def render_answer(turn: int, result: AskResult) -> str:
    """The final bot message: verified answer with [n] linked to source cards, or a refusal notice."""
    lang = _lang(result.language)
    t = TEXT[lang]
    head = _searched_as(result.standalone_question, lang)
    if result.refused:
        reason = ""
        if result.refusal_reason and result.refusal_reason != Reason.UNSUPPORTED_LANGUAGE:
            weak = result.refusal_reason == Reason.WEAK_EVIDENCE
            reason = f'<div class="reason">{t["reason_weak"] if weak else t["reason_model"]}</div>'
        return head + _notice("refusal", "⊘", t["refusal_title"], _esc(result.answer), lang, reason)
    text = result.answer.strip()
    note = UNCITED_NOTE.get(lang, "")
    if note and text.endswith(note):
        text = text[: -len(note)].rstrip()
    cited = {c.n for c in result.citations}
    body = re.sub(r"\[(\d+)\]", lambda m: _cite_link(turn, int(m.group(1))) if int(m.group(1)) in cited
                  else m.group(0), _esc_answer(text))
    out = f"{head}{body}"
    if result.uncited:
        out += "\n\n" + _notice("uncited", "⚠", t["uncited_title"], _esc(note), lang)
    by_article: dict[str, list[Citation]] = {}
    for c in result.citations:  # one line per cited article, with all its markers
        by_article.setdefault(c.article_id, []).append(c)
    items = []
    for cs in by_article.values():
        c = cs[0]
        links = "".join(_cite_link(turn, n) for n in dict.fromkeys(x.n for x in cs))
        meta = ", ".join(_esc(x) for x in (c.site, _date(c.date, lang) if c.date else None) if x)
        items.append(f'<li>{links} {_esc(c.title)}{f" <span class=meta>({meta})</span>" if meta else ""}</li>')
    if items:
        out += (f'\n\n<div class="cite-foot"><div class="cite-foot-title">{t["sources"]}</div>'
                f'<ul>{"".join(items)}</ul></div>')
    return out


def render_error(error: BaseException, lang: str, retry: bool = True, kind: str = "error") -> str:
    """A readable error notice (RagError: its message and hint; anything else: a short 'Internal error: …')."""
    t = TEXT[lang]
    again = f'<div class="hint">{t["try_again"]}</div>' if retry else ""
    no_index = isinstance(error, IndexError_) and "no index at" in error.message
    if isinstance(error, RagError):
        title = t["no_index_title"] if no_index else t["error_title"]
        hint = f'<div class="hint">{t["hint"]}: {_esc_code(error.hint)}</div>' if error.hint else ""
        msg = _esc_code(error.message)
        if no_index:
            msg = f'<div class="lead">{_esc_code(t["no_index_help"])}</div>{msg}'
    else:
        title = t["internal"]
        hint = ""
        msg = _esc(f"Internal error: {type(error).__name__}: {error}"[:400])
    if no_index and not retry:  # the page banner: add the English help line
        hint += f'<div class="hint" lang="en">{_esc_code(TEXT["en"]["no_index_help"])}</div>'
    return _notice(kind, "⚠", title, msg, lang, hint + again)


# ------------------------------------------------------------------------------------------------ session


@dataclass
class Session:
    """One browser session's conversation (kept in gr.State: never shared between users)."""

    messages: list[dict[str, str]] = field(default_factory=list)  # what the Chatbot shows
    history: list[tuple[str, str]] = field(default_factory=list)  # (question, answer) for follow-ups
    turn: int = 0
    earlier: list[tuple[int, str, str]] = field(default_factory=list)  # (turn, question, sources html)


def render_panel(session: Session, turn: int, question: str, lang: str, state: str, body: str) -> str:
    """The sources panel: the current turn's sources, then earlier turns' (collapsed, links still work)."""
    t = TEXT[lang]
    current = (
        f'<section class="src-turn" data-turn="{turn}">'
        f'<div class="src-q"><span>{t["question"]}:</span> {_esc(question)}</div>{body}</section>'
    )
    earlier = ""
    if session.earlier:
        blocks = "".join(
            f'<details class="src-earlier" data-turn="{tn}"><summary>{_esc(q)}</summary>{h}</details>'
            for tn, q, h in reversed(session.earlier[-EARLIER_PANELS:])
        )
        earlier = f'<div class="src-earlier-title">{t["earlier"]}</div>{blocks}'
    return f'<div class="src-panel" data-state="{state}" data-turn="{turn}">{current}{earlier}</div>'


EMPTY_PANEL = (
    '<div class="src-panel" data-state="empty"><div class="src-empty">'
    f'<div class="src-empty-icon">{ICON_SOURCES}</div>'
    "<p><b>Sumber jawaban akan tampil di sini.</b><br>Setiap jawaban menunjuk ke bagian artikel yang mendukungnya — "
    "klik tanda [n] pada jawaban untuk melihatnya.</p>"
    '<p class="en">Sources appear here. Click an [n] marker in an answer to jump to its passage.</p>'
    "</div></div>"
)


# ------------------------------------------------------------------------------------------------ the page


def _banner(error: BaseException) -> str:
    """The page-level notice when the assistant cannot answer (Indonesian, with the English help line)."""
    return render_error(error, "id", retry=False, kind="error banner")


def _status_html(assistant: Assistant, startup_error: BaseException | None) -> str:
    """The header's status line: index size and model, or why the page cannot answer yet."""
    try:
        n = len(assistant.articles())
    except Exception as e:  # noqa: BLE001 - shown, not raised
        if not isinstance(e, RagError):
            log.exception("status check failed")
        return _banner(e)
    if startup_error is not None and not isinstance(startup_error, IndexError_):
        return _banner(startup_error)
    model = assistant.model_names()["generator"]
    return (f'<div class="status-line"><span><b class="n-articles">{n}</b> artikel terindeks · indexed articles</span>'
            f'<span>model: {_esc(model)}</span><span>lokal &amp; privat, tanpa internet · local, offline</span></div>')


def _articles_html(assistant: Assistant) -> str:
    """The indexed-articles table (escaped; links only for http(s) URLs)."""
    try:
        docs = assistant.articles()
    except RagError as e:
        return render_error(e, "id", retry=False)
    rows = []
    for d in docs:
        rows.append(
            f'<tr data-article-id="{_esc(d["article_id"])}"><td class="a-title">{_esc(d["title"])}</td>'
            f'<td class="a-date">{_esc(d["date"] or "—")}</td><td class="a-site">{_esc(d["site"] or "—")}</td>'
            f'<td class="a-link"><div class="src-link">{_link_or_file(d["url"], d["source_file"], "id")}</div></td>'
            "</tr>"
        )
    body = "".join(rows) or '<tr><td colspan="4">Belum ada artikel · No articles yet</td></tr>'
    return (
        f'<div class="articles-wrap"><div class="articles-count">{len(docs)} artikel · articles</div>'
        '<table class="articles"><thead><tr><th>Judul · Title</th><th>Tanggal · Date</th><th>Situs · Site</th>'
        f"<th>Tautan · Link</th></tr></thead><tbody>{body}</tbody></table></div>"
    )


def _ready() -> tuple[Any, Any, Any]:
    """Interactivity updates for the question box, Ask and New-conversation buttons after an answer."""
    return (gr.update(interactive=True),) * 3


def _discard_upload(path: Path) -> None:
    """Delete Gradio's temporary copy of an upload (never anything outside Gradio's upload folder)."""
    try:
        folder = Path(gr.utils.get_upload_folder()).resolve()
        if path.resolve().is_relative_to(folder):
            path.unlink(missing_ok=True)
    except OSError:
        pass


def build_app(assistant: Assistant, startup_error: BaseException | None = None) -> gr.Blocks:
    """The chat page for one Assistant (shared by all sessions; conversations live in per-session state)."""
    settings = assistant.settings
    max_tok_min = min(64, settings.max_tokens)

    def accept(question: str, session: Session | None) -> tuple[Any, ...]:
        """Show the question at once (no queue), with a 'searching' placeholder; the answer step follows."""
        session = session or Session()
        question = (question or "").strip()
        if not question:
            return gr.skip(), gr.skip(), session, None, gr.skip(), gr.skip(), gr.skip()
        lang = _question_lang(question)
        session.turn += 1
        session.messages = [*session.messages, {"role": "user", "content": _esc_answer(question)},
                            {"role": "assistant", "content": render_status(TEXT[lang]["searching"], None, lang)}]
        panel = render_panel(session, session.turn, question, lang, "searching",
                             f'<div class="rag-pending"><span class="spinner"></span>{TEXT[lang]["searching"]}</div>')
        return (gr.update(value="", interactive=False), session.messages, session, question, panel,
                gr.update(interactive=False), gr.update(interactive=False))

    def respond(question: str | None, session: Session, top_k: float, max_tokens: float) -> Iterator[tuple[Any, ...]]:
        """Stream one answer: evidence first, then tokens, then the verified answer with linked citations."""
        if not question or session is None:
            yield gr.skip(), gr.skip(), session, *_ready()
            return
        turn = session.turn
        lang = _question_lang(question)
        keep = (gr.skip(),) * 3  # the box and buttons stay disabled (accept did that) until the answer is done

        def show(content: str) -> list[dict[str, str]]:
            session.messages = [*session.messages[:-1], {"role": "assistant", "content": content}]
            return session.messages

        history = list(session.history[-HISTORY_TURNS:])
        panel_body = f'<div class="rag-pending"><span class="spinner"></span>{TEXT[lang]["searching"]}</div>'
        standalone: str | None = None
        try:
            pieces: list[str] = []
            last = 0.0
            for event in assistant.ask_stream(question, top_k=int(top_k), max_tokens=int(max_tokens),
                                              history=history or None):
                if isinstance(event, Retrieved):
                    standalone = event.standalone_question
                    panel_body = render_evidence(turn, event.passages, lang, event.refused)
                    status = TEXT[lang]["checking" if event.refused else "writing"]
                    yield (show(render_status(status, standalone, lang)),
                           render_panel(session, turn, question, lang, "retrieved", panel_body), session, *keep)
                elif isinstance(event, Token):
                    pieces.append(event.text)
                    now = time.monotonic()
                    if now - last >= STREAM_INTERVAL:
                        last = now
                        yield show(render_streaming(pieces, standalone, lang)), gr.skip(), session, *keep
                elif isinstance(event, Done):
                    result = event.result
                    lang = _lang(result.language)
                    panel_body = render_result_sources(turn, result)
                    state = "refused" if result.refused else "done"
                    panel = render_panel(session, turn, question, lang, state, panel_body)
                    messages = show(render_answer(turn, result))
                    answer = result.answer
                    note = UNCITED_NOTE.get(lang, "")
                    if note and answer.endswith(note):
                        answer = answer[: -len(note)].rstrip()
                    session.history.append((result.standalone_question or result.question, answer))
                    session.earlier = [*session.earlier[-(EARLIER_PANELS - 1):], (turn, question, panel_body)]
                    yield messages, panel, session, *_ready()
                    return
            raise RuntimeError("the answer stream ended without a result")
        except Exception as e:  # noqa: BLE001 - every failure is shown in the chat; the page stays usable
            if not isinstance(e, RagError):
                log.exception("answering failed")
            if "src-card" not in panel_body:  # no evidence was shown before the failure
                panel_body = f'<div class="src-sub">{TEXT[lang]["no_sources"]}</div>'
            panel = render_panel(session, turn, question, lang, "error", panel_body)
            session.earlier = [*session.earlier[-(EARLIER_PANELS - 1):], (turn, question, panel_body)]
            yield show(render_error(e, lang)), panel, session, *_ready()

    def new_conversation() -> tuple[Any, ...]:
        return [], Session(), EMPTY_PANEL, ""

    def upload(path: str | None) -> tuple[Any, ...]:
        """Add an uploaded .txt article to the index (validated by the library), then refresh the table."""
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        tmp = Path(path)
        try:
            report = assistant.add_article(tmp, tmp.name)
            added = bool(report.added or report.updated)
            icon, cls = ("✓", "ok") if added else ("ℹ", "info")
            title = (f"Artikel ditambahkan · Article added: {tmp.name}" if added
                     else f"Tidak ada perubahan · Nothing changed: {tmp.name}")
            report_html = f'<pre class="report">{_esc(report.summary())}</pre>'
            msg = _notice(f"{cls} upload-result", icon, _esc(title), report_html)
        except Exception as e:  # noqa: BLE001 - shown to the user
            if isinstance(e, RagError):  # name the user's file, not Gradio's temporary copy
                e = RagError(e.message.replace(str(tmp), tmp.name), e.hint)
            else:
                log.exception("upload failed")
            msg = render_error(e, "id", kind="error upload-result")
        finally:
            _discard_upload(tmp)
        return msg, _articles_html(assistant), None, _status_html(assistant, startup_error)

    def on_load() -> tuple[str, str]:
        return _status_html(assistant, startup_error), _articles_html(assistant)

    with gr.Blocks(title=f"{APP_NAME} — tanya jawab berita", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        with gr.Row(elem_classes="app-header"):
            gr.HTML(
                f'<div class="brand"><div class="logo">{ICON_LOGO}</div><div><h1>{APP_NAME}</h1>'
                f'<p class="tagline">{TAGLINE_ID}</p><p class="tagline en">{TAGLINE_EN}</p></div></div>'
            )
        status = gr.HTML(_status_html(assistant, startup_error), elem_id="status")
        session = gr.State(None)
        pending = gr.State(None)
        with gr.Tabs():
            with gr.Tab("Tanya jawab · Ask", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=380):
                        chat = gr.Chatbot(
                            label="Percakapan · Conversation", show_label=False, elem_id="chat", height=560,
                            buttons=["copy"],
                            placeholder=(
                                "### Tanyakan apa saja tentang artikel berita yang terindeks\n"
                                "Jawaban ditulis oleh model lokal dan selalu menunjuk ke sumbernya. "
                                "Bisa dalam bahasa Indonesia atau Inggris.\n\n"
                                "*Ask anything about the indexed news articles, in Indonesian or English.*"
                            ),
                        )
                        with gr.Row(elem_id="ask-row"):
                            question = gr.Textbox(
                                placeholder="Tulis pertanyaan, tekan Enter · Type a question, press Enter",
                                show_label=False, lines=1, max_lines=4, scale=8, elem_id="question", autofocus=True,
                                container=False,
                            )
                            send = gr.Button("Tanya · Ask", variant="primary", scale=1, min_width=130, elem_id="send")
                        gr.Examples(EXAMPLES, inputs=[question], label="Contoh pertanyaan · Example questions")
                        with gr.Row():
                            with gr.Accordion("⚙ Pengaturan · Settings", open=False, elem_id="settings"):
                                top_k = gr.Slider(1, 8, value=min(max(settings.top_k, 1), 8), step=1,
                                                  label="Jumlah bagian artikel · Passages", elem_id="top-k",
                                                  info="Bagian artikel yang dibaca model · passages given to the model")
                                max_tokens = gr.Slider(max_tok_min, 1024, value=min(settings.max_tokens, 1024), step=16,
                                                       label="Panjang jawaban (token) · Answer length (tokens)",
                                                       elem_id="max-tokens")
                        clear = gr.Button("Percakapan baru · New conversation", size="sm", variant="secondary",
                                          elem_id="clear")
                    with gr.Column(scale=2, min_width=320, elem_id="sources-col"):
                        gr.HTML(f'<div class="panel-title">{ICON_SOURCES} Sumber · Sources</div>')
                        sources = gr.HTML(EMPTY_PANEL, elem_id="sources")
            with gr.Tab("Artikel terindeks · Indexed articles", id="articles"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        articles = gr.HTML(_articles_html(assistant), elem_id="articles")
                    with gr.Column(scale=1, min_width=280):
                        gr.HTML(
                            '<div class="upload-help"><b>Tambah artikel · Add an article</b><br>'
                            f"Berkas .txt UTF-8, maks. {settings.ui_max_upload_bytes / 1e6:.1f} MB. Langsung terindeks, "
                            "tanpa restart. · A UTF-8 .txt file; it is indexed right away.</div>"
                        )
                        upload_file = gr.File(label="Unggah .txt · Upload .txt", file_types=[".txt"],
                                              file_count="single", type="filepath", elem_id="upload")
                        upload_msg = gr.HTML("", elem_id="upload-msg")

        for trigger in (question.submit, send.click):
            trigger(accept, [question, session], [question, chat, session, pending, sources, send, clear],
                    queue=False, show_progress="hidden", api_visibility="private").then(
                respond, [pending, session, top_k, max_tokens], [chat, sources, session, question, send, clear],
                concurrency_id="ask", concurrency_limit=1, show_progress="minimal", show_progress_on=[chat],
                api_visibility="private",
            )
        clear.click(new_conversation, None, [chat, session, sources, question], queue=False,
                    api_visibility="private")
        upload_file.upload(upload, [upload_file], [upload_msg, articles, upload_file, status],
                           concurrency_id="ingest", concurrency_limit=1, api_visibility="private")
        demo.load(on_load, None, [status, articles], queue=False, api_visibility="private")
    demo.queue(default_concurrency_limit=1)
    return demo


def serve(demo: gr.Blocks, host: str, port: int, max_upload_bytes: int, block: bool = True) -> None:
    """Launch the page (style, theme and head script are launch options in Gradio 6)."""
    theme = gr.themes.Soft(
        primary_hue="teal", neutral_hue="slate",
        font=["Inter", "ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"],
        font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"],
    )
    demo.launch(
        server_name=host, server_port=port, prevent_thread_lock=not block, theme=theme,
        css_paths=[STYLE], head=HEAD, footer_links=[], show_error=False, quiet=not block,
        max_file_size=max_upload_bytes * 4, inbrowser=False, share=False,
    )


def launch(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Start the chat page: one Assistant per process, models loaded once; a missing index is shown, not fatal."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    assistant = Assistant(settings)
    startup_error: BaseException | None = None
    t0 = time.perf_counter()
    try:
        assistant.warm_up()
        log.info("models and index loaded in %.1f s", time.perf_counter() - t0)
    except RagError as e:
        startup_error = e
        log.warning("starting without a working index or model: %s", e)
    demo = build_app(assistant, startup_error=startup_error)
    serve(demo, host or settings.ui_host, port if port is not None else settings.ui_port,
          settings.ui_max_upload_bytes)
