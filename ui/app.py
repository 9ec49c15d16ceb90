"""The chat page's wiring: lay out the page for one Assistant, connect its events to the handlers, launch it.

`build_app` and `page_options` are shared by `rag ui` (through `launch` and `serve`) and `rag serve`, which
mounts the page beside the APIs. Layout is in ui.layout, event handlers in ui.handlers, HTML in ui.render.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from rag.access.guard import Guard
from rag.answer.assistant import Assistant
from rag.assemble import make_assistant
from rag.settings import Settings
from ui.handlers import Handlers
from ui.layout import build_page

log = logging.getLogger("rag.ui")

STYLE = Path(__file__).with_name("style.css")
HEAD = Path(__file__).with_name("head.html")  # the script that opens and flashes a card when [n] is clicked


def build_app(assistant: Assistant, startup_error: BaseException | None = None, guard: Guard | None = None,
              warning: str | None = None) -> gr.Blocks:
    """The chat page for one Assistant (shared by all sessions; conversations live in per-session state).

    guard: the access checks and the model's queue shared with the API (`rag serve` passes its own); warning: shown
    on the page when the server is open to its network without keys."""
    handlers = Handlers(assistant, startup_error, guard, warning)
    keyed = handlers.guard.keyed()
    page = build_page(assistant.settings, handlers.status(), "" if keyed else handlers.articles(), can_upload=not keyed)
    with page.demo:
        for trigger in (page.question.submit, page.send.click):
            trigger(handlers.accept, [page.question, page.session],
                    [page.question, page.chat, page.session, page.pending, page.sources, page.send, page.clear],
                    queue=False, show_progress="hidden", api_visibility="private").then(
                handlers.respond, [page.pending, page.session, page.top_k, page.max_tokens, page.since, page.until,
                                   page.site],
                [page.chat, page.sources, page.session, page.question, page.send, page.clear],
                # no queue of the page's own: questions wait in the model's queue, shared with the API, where
                # refusals that need no model never wait and a waiting user sees their place
                concurrency_id="ask", concurrency_limit=None, show_progress="minimal", show_progress_on=[page.chat],
                api_visibility="private",
            )
        page.clear.click(handlers.new_conversation, None, [page.chat, page.session, page.sources, page.question],
                         queue=False, api_visibility="private")
        page.upload_file.upload(handlers.upload, [page.upload_file],
                                [page.upload_msg, page.articles, page.upload_file, page.status],
                                concurrency_id="ingest", concurrency_limit=1, api_visibility="private")
        page.demo.load(handlers.on_load, None, [page.status, page.articles, page.upload_box], queue=False,
                       api_visibility="private")
    page.demo.queue(default_concurrency_limit=1)
    return page.demo


def page_options(max_upload_bytes: int) -> dict[str, Any]:
    """Theme, style, head script and limits: launch options in Gradio 6, shared by `rag ui` and `rag serve`."""
    theme = gr.themes.Soft(
        primary_hue="teal", neutral_hue="slate",
        font=["Inter", "ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"],
        font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"],
    )
    return dict(theme=theme, css_paths=[STYLE], head=HEAD.read_text(encoding="utf-8"), footer_links=[],
                show_error=False, max_file_size=max_upload_bytes * 4)


def serve(demo: gr.Blocks, host: str, port: int, max_upload_bytes: int, block: bool = True) -> None:
    """Launch a page on its own with Gradio's server (tests; `rag ui` and `rag serve` run `rag.server.serve`)."""
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=not block,
                inbrowser=False, share=False, **page_options(max_upload_bytes))


def launch(settings: Settings, host: str | None = None, port: int | None = None, open_: bool = False) -> None:
    """Start the chat page alone (`rag ui`): the same server, checks and queue as `rag serve`, without the APIs."""
    from rag.server import serve as serve_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve_app(make_assistant(settings), host or settings.ui_host, port if port is not None else settings.ui_port,
              open_=open_ or settings.server_open, with_api=False)
