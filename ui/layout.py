"""The chat page's component tree: the header and status line, then two tabs. "Ask" holds the chat and the
sources panel; "Indexed articles" holds the article table and the upload box.

This module only places components. ui.app connects their events to ui.handlers.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from rag.ingest.formats import SUPPORTED as ARTICLE_TYPES
from rag.settings import Settings
from ui import render

APP_NAME = "Tanya Berita"
EXAMPLES = [
    "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?",
    "Apa rumus kerja sama yang diusulkan Perdana Menteri Pham Minh Chinh kepada Qatar?",
    "Apa yang disepakati Indonesia dan Vietnam di Labuan Bajo?",
    "What did Indonesia and Vietnam agree on in Labuan Bajo?",
    "What is the Hanoi Convention about?",
]
CHAT_PLACEHOLDER = (
    "### Tanyakan apa saja tentang artikel berita yang terindeks\n"
    "Jawaban ditulis oleh model lokal dan selalu menunjuk ke sumbernya. Bisa dalam bahasa Indonesia atau Inggris.\n\n"
    "*Ask anything about the indexed news articles, in Indonesian or English.*"
)


@dataclass
class Page:
    """The page and the components its events read or update."""

    demo: gr.Blocks
    status: gr.HTML
    session: gr.State
    pending: gr.State
    chat: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    top_k: gr.Slider
    max_tokens: gr.Slider
    since: gr.Textbox
    until: gr.Textbox
    site: gr.Textbox
    clear: gr.Button
    sources: gr.HTML
    articles: gr.HTML
    upload_box: gr.Column
    upload_file: gr.File
    upload_msg: gr.HTML


def build_page(settings: Settings, status_html: str, articles_html: str, can_upload: bool = True) -> Page:
    """Lay out the page; the status line and articles table start with the given HTML; the upload box starts
    hidden unless can_upload (with keys, the page shows it once an editor has signed in)."""
    with gr.Blocks(title=f"{APP_NAME} — tanya jawab berita", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        with gr.Row(elem_classes="app-header"):
            gr.HTML(render.header(APP_NAME))
        status = gr.HTML(status_html, elem_id="status")
        session = gr.State(None)
        pending = gr.State(None)  # the accepted question, handed from the instant step to the answer step
        with gr.Tabs():
            with gr.Tab("Tanya jawab · Ask", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=380):
                        chat = gr.Chatbot(label="Percakapan · Conversation", show_label=False, elem_id="chat",
                                          height=560, buttons=["copy"], placeholder=CHAT_PLACEHOLDER)
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
                                max_tokens = gr.Slider(min(64, settings.max_tokens), 1024,
                                                       value=min(settings.max_tokens, 1024), step=16,
                                                       label="Panjang jawaban (token) · Answer length (tokens)",
                                                       elem_id="max-tokens")
                            with gr.Accordion("📅 Saring artikel · Filter articles", open=False, elem_id="filters"):
                                with gr.Row():
                                    since = gr.Textbox(label="Sejak · Since", placeholder="2023-05", max_lines=1,
                                                       elem_id="since", info="YYYY-MM-DD, YYYY-MM, YYYY")
                                    until = gr.Textbox(label="Sampai · Until", placeholder="2023-05-31", max_lines=1,
                                                       elem_id="until", info="YYYY-MM-DD, YYYY-MM, YYYY")
                                site = gr.Textbox(label="Situs · Site", placeholder="antaranews, liputan6",
                                                  max_lines=1, elem_id="site",
                                                  info="Pisahkan dengan koma · comma-separated")
                        clear = gr.Button("Percakapan baru · New conversation", size="sm", variant="secondary",
                                          elem_id="clear")
                    with gr.Column(scale=2, min_width=320, elem_id="sources-col"):
                        gr.HTML(render.sources_title())
                        sources = gr.HTML(render.empty_panel(), elem_id="sources")
            with gr.Tab("Artikel terindeks · Indexed articles", id="articles"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        articles = gr.HTML(articles_html, elem_id="articles")
                    with gr.Column(scale=1, min_width=280, visible=can_upload, elem_id="upload-box") as upload_box:
                        gr.HTML(render.upload_help(min(settings.ui_max_upload_bytes, settings.max_article_bytes)))
                        upload_file = gr.File(label="Unggah artikel · Upload an article",
                                              file_types=list(ARTICLE_TYPES),
                                              file_count="single", type="filepath", elem_id="upload")
                        upload_msg = gr.HTML("", elem_id="upload-msg")
    return Page(demo=demo, status=status, session=session, pending=pending, chat=chat, question=question, send=send,
                top_k=top_k, max_tokens=max_tokens, since=since, until=until, site=site, clear=clear, sources=sources, articles=articles,
                upload_box=upload_box, upload_file=upload_file, upload_msg=upload_msg)
