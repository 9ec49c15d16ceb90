"""`rag serve`: one process with warm models serving the chat page, a JSON API and an OpenAI-compatible API.

- `/`                      the chat page (Gradio, mounted on the same FastAPI app)
- `POST /api/ask`          `{"question": ..., "stream": false}` -> the `rag ask --json` object; with `"stream": true`,
                           server-sent events `retrieved`, `token`..., then `done` with that object
- `GET  /api/articles`     the indexed articles
- `POST /v1/chat/completions`, `GET /v1/models`   OpenAI-compatible: the verified answer (with its [n] markers) in
                           `choices[0].message.content`, the resolved sources in a top-level `citations` list
- `GET  /healthz`          liveness plus what this server answers from (store, models), so `rag ask` can tell
                           whether a running server is the one it wants

Endpoints are plain functions run in worker threads. The generator serves one generation at a time in arrival
order (a FIFO lock); retrieval and refusals that need no model run beside a generation instead of queueing
behind it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from typing import Any, Iterator

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from rag.answer.assistant import AskResult, Assistant, Done, Retrieved, Token
from rag.answer.period import article_filter
from rag.errors import BadInputError, RagError

MODEL_ID = "rag-news"


class AskRequest(BaseModel):
    """Body of POST /api/ask."""

    question: str
    stream: bool = False
    top_k: int | None = Field(None, ge=1, le=20)
    max_tokens: int | None = Field(None, ge=16, le=4096)
    history: list[tuple[str, str]] | None = None
    since: str | None = Field(None, description="only articles dated on or after (YYYY-MM-DD, YYYY-MM or YYYY)")
    until: str | None = Field(None, description="only articles dated on or before (YYYY-MM-DD, YYYY-MM or YYYY)")
    sites: list[str] = Field(default_factory=list, description="only articles from sites whose name contains one")


class ChatMessage(BaseModel):
    """One OpenAI chat message (text content only)."""

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message text (text parts joined when content is a list of parts)."""
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """Body of POST /v1/chat/completions (fields the assistant does not use are accepted and ignored)."""

    model: str | None = None
    messages: list[ChatMessage]
    stream: bool = False
    max_tokens: int | None = Field(None, ge=16, le=4096)
    max_completion_tokens: int | None = Field(None, ge=16, le=4096)


def _http_error(e: RagError) -> HTTPException:
    status = 400 if isinstance(e, BadInputError) else 503
    return HTTPException(status, detail={"error": e.message, "hint": e.hint, "exit_code": e.exit_code})


def split_conversation(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The last user message as the question, and earlier user/assistant pairs as history."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise BadInputError("the conversation has no user message")
    last = users[-1]
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for m in messages[:last]:
        if m.role == "user":
            pending = m.text()
        elif m.role == "assistant" and pending is not None:
            history.append((pending, m.text()))
            pending = None
    return messages[last].text(), history


def chat_completion(result: AskResult, created: int, completion_id: str) -> dict[str, Any]:
    """An OpenAI chat.completion object for a result, with the citations beside the choices."""
    return {
        "id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": result.answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.generated_tokens,
                  "total_tokens": result.prompt_tokens + result.generated_tokens},
        "citations": [asdict(c) for c in result.citations],
        "refused": result.refused, "refusal_reason": result.refusal_reason,
    }


def build_api(assistant: Assistant) -> FastAPI:
    """The FastAPI app with every endpoint except the page (see `create_app`)."""
    app = FastAPI(title="rag-news", description="Questions over news articles, answered with verified citations.")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Alive, and what this server answers from."""
        try:
            articles: int | None = len(assistant.index.article_ids())
        except RagError:
            articles = None
        return {"status": "ok", "articles": articles, "store": assistant.store.describe(),
                **assistant.model_names()}

    @app.get("/api/articles")
    def articles() -> list[dict[str, Any]]:
        """Metadata of every indexed article, newest first."""
        try:
            return assistant.articles()
        except RagError as e:
            raise _http_error(e) from e

    @app.post("/api/ask", response_model=None)
    def ask(body: AskRequest) -> Any:
        """Answer one question: the `rag ask --json` object, or server-sent events when stream is true."""
        try:
            where = article_filter(body.since, body.until, body.sites)
        except RagError as e:
            raise _http_error(e) from e
        kwargs = dict(top_k=body.top_k, max_tokens=body.max_tokens, history=body.history, where=where)
        if not body.stream:
            try:
                return assistant.ask(body.question, **kwargs).to_dict()
            except RagError as e:
                raise _http_error(e) from e

        def events() -> Iterator[dict[str, str]]:
            try:
                for event in assistant.ask_stream(body.question, **kwargs):
                    if isinstance(event, Retrieved):
                        data = {"passages": [p.to_dict() for p in event.passages],
                                "standalone_question": event.standalone_question, "refused": event.refused}
                        yield {"event": "retrieved", "data": json.dumps(data, ensure_ascii=False)}
                    elif isinstance(event, Token):
                        yield {"event": "token", "data": json.dumps({"text": event.text}, ensure_ascii=False)}
                    elif isinstance(event, Done):
                        yield {"event": "done", "data": json.dumps(event.result.to_dict(), ensure_ascii=False)}
            except RagError as e:
                yield {"event": "error", "data": json.dumps({"error": e.message, "hint": e.hint,
                                                             "exit_code": e.exit_code}, ensure_ascii=False)}

        return EventSourceResponse(events(), ping=10)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        """The one model this server offers: the assistant (its generator and embedder in the metadata)."""
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag-news",
                                            **assistant.model_names()}]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: ChatRequest) -> Any:
        """OpenAI-compatible chat: the last user message is the question, earlier turns are the history.

        Streaming sends the role at once and keeps the connection alive while the answer is written and verified,
        then the verified text (markers placed by code, or the refusal) and a last chunk with the citations: text
        that verification would change is never sent."""
        try:
            question, history = split_conversation(body.messages)
        except RagError as e:
            raise _http_error(e) from e
        max_tokens = body.max_completion_tokens or body.max_tokens
        created, completion_id = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if not body.stream:
            try:
                result = assistant.ask(question, history=history, max_tokens=max_tokens)
            except RagError as e:
                raise _http_error(e) from e
            return chat_completion(result, created, completion_id)

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, str]:
            body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return {"data": json.dumps(body, ensure_ascii=False)}

        def events() -> Iterator[dict[str, str]]:
            yield chunk({"role": "assistant", "content": ""})
            try:
                result = assistant.ask(question, history=history, max_tokens=max_tokens)
            except RagError as e:
                yield {"data": json.dumps({"error": {"message": e.message, "type": "rag_error"}}, ensure_ascii=False)}
                return
            for piece in _sentences(result.answer):
                yield chunk({"content": piece})
            yield chunk({}, "stop", citations=[asdict(c) for c in result.citations], refused=result.refused,
                        refusal_reason=result.refusal_reason)
            yield {"data": "[DONE]"}

        return EventSourceResponse(events(), ping=10)

    return app


def _sentences(text: str) -> list[str]:
    """The answer in sentence-sized pieces (each keeps its trailing space) for streaming."""
    from rag.ingest.chunk import split_sentences

    spans = split_sentences(text)
    if not spans:
        return [text] if text else []
    cuts = [a for a, _ in spans[1:]]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def create_app(assistant: Assistant, with_page: bool = True) -> FastAPI:
    """The whole server: the API plus the chat page at `/`."""
    app = build_api(assistant)
    if with_page:
        import gradio as gr

        from ui.app import build_app, page_options

        app = gr.mount_gradio_app(app, build_app(assistant), path="/",
                                  **page_options(assistant.settings.ui_max_upload_bytes))
    return app


def serve(assistant: Assistant, host: str, port: int) -> None:
    """Warm the models, then serve until interrupted."""
    import logging

    import uvicorn

    try:
        assistant.warm_up()
    except RagError as e:  # the page shows what is missing; the API answers with the error
        logging.getLogger("rag.server").warning("starting without a working index or model: %s", e)
    uvicorn.run(create_app(assistant), host=host, port=port, log_level="info")
