"""The chat page's event handlers, and each browser session's conversation.

Everything the page shows comes from `Assistant.ask_stream` events (Retrieved -> Token... -> Done). The
handlers keep the conversation in a Session (held in gr.State, never shared between users) and turn each
event into HTML with ui.render.

Every question and upload goes through the same access checks as the API (rag.access.guard: the signed-in key's
role, its requests a minute and questions in flight) and every question through the same queue for the model: a
question runs in its own thread, and while it waits for the model the page shows its place in line. A refusal
that needs no model is answered at once, whatever the model is doing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from rag.access.audit import Actor
from rag.access.guard import Guard, Principal
from rag.access.keys import Action, may
from rag.access.queue import FINISHED, NOTHING_YET, Pump, queued
from rag.answer.period import article_filter
from rag.answer.assistant import Assistant
from rag.answer.events import Done, Retrieved, Token
from rag.errors import IndexError_, RagError
from ui import render
from ui.labels import label_lang, without_uncited_note

log = logging.getLogger("rag.ui")

HISTORY_TURNS = 3  # turns passed to the pipeline for follow-up questions
EARLIER_PANELS = 6  # earlier turns whose sources stay on the page (their [n] links keep working)
STREAM_INTERVAL = 0.06  # seconds between streamed UI updates


@dataclass
class Session:
    """One browser session's conversation (kept in gr.State: never shared between users)."""

    messages: list[dict[str, str]] = field(default_factory=list)  # what the Chatbot shows
    history: list[tuple[str, str]] = field(default_factory=list)  # (question, answer) for follow-ups
    turn: int = 0
    earlier: list[tuple[int, str, str]] = field(default_factory=list)  # (turn, question, sources html)
    lang: str = "id"  # the label language: the last question's, as the assistant detected it

    def show(self, content: str) -> list[dict[str, str]]:
        """Replace the last bot message with `content`; returns the new message list."""
        self.messages = [*self.messages[:-1], {"role": "assistant", "content": content}]
        return self.messages

    def keep_sources(self, turn: int, question: str, body: str) -> None:
        """Remember a finished turn's sources for the panel's "earlier questions" list."""
        self.earlier = [*self.earlier[-(EARLIER_PANELS - 1):], (turn, question, body)]


@dataclass
class Waiting:
    """Event (page only): the question waits for the model with `ahead` questions in front of it."""

    ahead: int


def _client(request: gr.Request | None) -> str:
    """The browser's address (limits on an open server are per address)."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "page"


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


class Handlers:
    """The page's event handlers for one Assistant (shared by all sessions; conversations live in Session)."""

    def __init__(self, assistant: Assistant, startup_error: BaseException | None = None, guard: Guard | None = None,
                 warning: str | None = None) -> None:
        self.assistant = assistant
        self.startup_error = startup_error
        self.guard = guard or Guard(assistant.settings, assistant.store)
        self.warning = warning
        assistant.generator = queued(assistant.generator, self.guard.queue, assistant.settings.generation_timeout)

    def who(self, request: gr.Request | None, action: Action) -> Principal:
        """The signed-in user (anyone on a server without keys), allowed this action and counted against their
        requests a minute: the API's checks, for the page (AccessError, LimitError otherwise)."""
        principal = self.guard.page_user(getattr(request, "username", None), _client(request))
        self.guard.count(principal)
        self.guard.require(principal, action)
        return principal

    def status(self, principal: Principal | None = None) -> str:
        """The header's status line: index size, model and who is signed in, or why the page cannot answer yet."""
        try:
            n = len(self.assistant.articles())
        except Exception as e:  # noqa: BLE001 - shown, not raised
            if not isinstance(e, RagError):
                log.exception("status check failed")
            return render.banner(e)
        if self.startup_error is not None and not isinstance(self.startup_error, IndexError_):
            return render.banner(self.startup_error)
        keyed = principal is not None and principal.keyed
        return render.status_line(n, self.assistant.model_names()["generator"],
                                  user=principal.name if keyed else None, role=principal.role.value if keyed else None,
                                  warning=self.warning)

    def articles(self) -> str:
        """The indexed-articles table, or why it cannot be read."""
        try:
            docs = self.assistant.articles()
        except RagError as e:
            return render.error(e, "id", retry=False)
        return render.articles(docs)

    def on_load(self, request: gr.Request) -> tuple[Any, ...]:
        """Fresh status line and articles table for a newly opened page; the upload box only for editors."""
        try:
            principal = self.guard.page_user(getattr(request, "username", None), _client(request))
        except RagError as e:
            return render.banner(e), "", gr.update(visible=False)
        return self.status(principal), self.articles(), gr.update(visible=may(principal.role, Action.EDIT))

    def through_queue(self, principal: Principal, make: Any) -> Iterator[Any]:
        """The events of a question run in its own thread in the model's shared queue, with Waiting(ahead) events
        while it waits; the question leaves the queue when this iteration ends early (the page was closed)."""
        with self.guard.asking(principal) as req:
            pump = Pump(req, make)
            shown = None
            try:
                while True:
                    item = pump.poll(0.5)
                    if item is NOTHING_YET:
                        if req.position and req.position != shown:
                            shown = req.position
                            yield Waiting(req.position)
                        continue
                    if item is FINISHED:
                        return
                    yield item
            finally:
                req.cancel()

    def accept(self, question: str, session: Session | None) -> tuple[Any, ...]:
        """Show the question at once (no queue), with a 'searching' placeholder; the answer step follows."""
        session = session or Session()
        question = (question or "").strip()
        if not question:
            return gr.skip(), gr.skip(), session, None, gr.skip(), gr.skip(), gr.skip()
        lang = session.lang  # until the assistant has read this question (its Retrieved event)
        session.turn += 1
        searching = render.status("searching", None, lang)
        session.messages = [*session.messages, {"role": "user", "content": render.user_message(question)},
                            {"role": "assistant", "content": searching}]
        panel = render.panel(session.turn, question, lang, "searching", searching, session.earlier)
        return (gr.update(value="", interactive=False), session.messages, session, question, panel,
                gr.update(interactive=False), gr.update(interactive=False))

    def respond(self, question: str | None, session: Session, top_k: float, max_tokens: float, since: str = "",
                until: str = "", site: str = "", request: gr.Request = None) -> Iterator[tuple[Any, ...]]:
        """Stream one answer (among the articles the filter admits): evidence first, then tokens, then the verified
        answer with linked citations."""
        if not question or session is None:
            yield gr.skip(), gr.skip(), session, *_ready()
            return
        turn = session.turn
        lang = session.lang
        keep = (gr.skip(),) * 3  # the box and buttons stay disabled (accept did that) until the answer is done
        history = list(session.history[-HISTORY_TURNS:])
        panel_body = render.status("searching", None, lang)
        evidence_shown = False
        standalone: str | None = None
        try:
            pieces: list[str] = []
            last = 0.0
            where = article_filter(since, until, (site or "").split(","))
            principal = self.who(request, Action.ASK)
            for event in self.through_queue(principal, lambda: self.assistant.ask_stream(
                    question, top_k=int(top_k), max_tokens=int(max_tokens), history=history or None, where=where)):
                if isinstance(event, Waiting):
                    yield session.show(render.status("waiting", standalone, lang, event.ahead)), gr.skip(), session, *keep
                elif isinstance(event, Retrieved):
                    lang = session.lang = label_lang(event.language)
                    standalone = event.standalone_question
                    panel_body = render.evidence(turn, event.passages, lang, event.refused)
                    evidence_shown = bool(event.passages)
                    step = "checking" if event.refused else "writing"
                    yield (session.show(render.status(step, standalone, lang)),
                           render.panel(turn, question, lang, "retrieved", panel_body, session.earlier),
                           session, *keep)
                elif isinstance(event, Token):
                    pieces.append(event.text)
                    now = time.monotonic()
                    if now - last >= STREAM_INTERVAL:
                        last = now
                        yield session.show(render.streaming(pieces, standalone, lang)), gr.skip(), session, *keep
                elif isinstance(event, Done):
                    result = event.result
                    lang = session.lang = label_lang(result.language)
                    panel_body = render.result_sources(turn, result)
                    state = "refused" if result.refused else "done"
                    panel = render.panel(turn, question, lang, state, panel_body, session.earlier)
                    messages = session.show(render.answer(turn, result))
                    session.history.append((result.standalone_question or result.question,
                                            without_uncited_note(result.answer, lang)))
                    session.keep_sources(turn, question, panel_body)
                    yield messages, panel, session, *_ready()
                    return
            raise RuntimeError("the answer stream ended without a result")
        except Exception as e:  # noqa: BLE001 - every failure is shown in the chat; the page stays usable
            if not isinstance(e, RagError):
                log.exception("answering failed")
            if not evidence_shown:
                panel_body = render.no_sources(lang)
            panel = render.panel(turn, question, lang, "error", panel_body, session.earlier)
            session.keep_sources(turn, question, panel_body)
            yield session.show(render.error(e, lang)), panel, session, *_ready()

    def new_conversation(self) -> tuple[Any, ...]:
        """Empty chat, fresh session, empty sources panel, empty question box."""
        return [], Session(), render.empty_panel(), ""

    def upload(self, path: str | None, request: gr.Request = None) -> tuple[Any, ...]:
        """Add an uploaded article file to the index (editors only, as on the API; validated by the library),
        then refresh the table."""
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        tmp = Path(path)
        principal = None
        try:
            principal = self.who(request, Action.EDIT)
            report = self.assistant.add_article(tmp, tmp.name, Actor(principal.name, "upload"))
            msg = render.upload_result(tmp.name, bool(report.added or report.updated), report.summary())
        except Exception as e:  # noqa: BLE001 - shown to the user
            if isinstance(e, RagError):  # name the user's file, not Gradio's temporary copy
                e = RagError(e.message.replace(str(tmp), tmp.name), e.hint)
            else:
                log.exception("upload failed")
            msg = render.error(e, "id", kind="error upload-result")
        finally:
            _discard_upload(tmp)
        return msg, self.articles(), None, self.status(principal) if principal else gr.skip()
