"""The chat page's wiring: lay out the page for one Assistant, connect its events to the handlers, launch it.

`build_app` and `page_options` are shared by `rag ui` (through `launch` and `serve`) and `rag serve`, which
mounts the page beside the APIs. Layout is in ui.layout, event handlers in ui.handlers, HTML in ui.render.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import gradio as gr

from rag.answer.assistant import Assistant
from rag.backends.factory import make_assistant
from rag.errors import RagError
from rag.settings import Settings
from ui.handlers import Handlers
from ui.layout import build_page

log = logging.getLogger("rag.ui")

STYLE = Path(__file__).with_name("style.css")
HEAD = Path(__file__).with_name("head.html")  # the script that opens and flashes a card when [n] is clicked


def build_app(assistant: Assistant, startup_error: BaseException | None = None) -> gr.Blocks:
    """The chat page for one Assistant (shared by all sessions; conversations live in per-session state)."""
    handlers = Handlers(assistant, startup_error)
    page = build_page(assistant.settings, handlers.status(), handlers.articles())
    with page.demo:
        for trigger in (page.question.submit, page.send.click):
            trigger(handlers.accept, [page.question, page.session],
                    [page.question, page.chat, page.session, page.pending, page.sources, page.send, page.clear],
                    queue=False, show_progress="hidden", api_visibility="private").then(
                handlers.respond, [page.pending, page.session, page.top_k, page.max_tokens, page.since, page.until,
                                   page.site],
                [page.chat, page.sources, page.session, page.question, page.send, page.clear],
                concurrency_id="ask", concurrency_limit=1, show_progress="minimal", show_progress_on=[page.chat],
                api_visibility="private",
            )
        page.clear.click(handlers.new_conversation, None, [page.chat, page.session, page.sources, page.question],
                         queue=False, api_visibility="private")
        page.upload_file.upload(handlers.upload, [page.upload_file],
                                [page.upload_msg, page.articles, page.upload_file, page.status],
                                concurrency_id="ingest", concurrency_limit=1, api_visibility="private")
        page.demo.load(handlers.on_load, None, [page.status, page.articles], queue=False, api_visibility="private")
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
    """Launch the page on its own (the `rag ui` command; `rag serve` mounts it beside the APIs instead)."""
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=not block,
                inbrowser=False, share=False, **page_options(max_upload_bytes))


def launch(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Start the chat page: one Assistant per process, models loaded once; a missing index is shown, not fatal."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    assistant = make_assistant(settings)
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
