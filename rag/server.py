"""`rag serve`: one process with warm models serving the chat page, a JSON API and an OpenAI-compatible API.

- `/`                      the chat page (Gradio, mounted on the same FastAPI app); with keys, it asks to sign in
- `POST /api/ask`          `{"question": ..., "stream": false}` -> the `rag ask --json` object; with `"stream": true`,
                           server-sent events `retrieved`, `queued` (place in line), `token`..., then `done`
- `GET  /api/articles`     the indexed articles; `POST` (multipart field `file`) adds one, `DELETE /api/articles/ID`
                           removes one (editor)
- `POST /v1/chat/completions`, `GET /v1/models`   OpenAI-compatible: the verified answer (with its [n] markers) in
                           `choices[0].message.content`, the resolved sources in a top-level `citations` list
- `GET /api/queue`         questions waiting for the model
- `GET/POST /api/keys`, `DELETE /api/keys/NAME`, `GET /api/audit`   keys and the audit trail (admin)
- `GET  /healthz`          liveness plus what this server answers from (store, models), so `rag ask` can tell
                           whether a running server is the one it wants (with keys: only "ok" without a key)

Access (rag.access): once a key exists, every route but /healthz needs `Authorization: Bearer KEY` whose role may
do what is asked (401, 403); requests a minute and questions in flight are limited per key (429 with Retry-After);
every body is limited in size before it is read (413). Each question runs in its own thread; the model answers one
question at a time, in arrival order, through one queue shared with the page (rag.access.queue); retrieval and
refusals that need no model run beside a generation instead of queueing behind it, and a client that disconnects
leaves the queue.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any, AsyncIterator

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from rag.access.audit import Actor, AuditLog
from rag.access.exposure import check_exposure
from rag.access.guard import Guard, Principal
from rag.access.http import (UPLOAD_OVERHEAD, UPLOAD_PATHS, DeclaredSizeLimit, UploadBodyLimit, http_error,
                             maybe_principal, needs, taken, too_large)
from rag.access.keys import Action
from rag.access.queue import Pump, Request as Question, queued
from rag.answer.assistant import Assistant, validate_question
from rag.answer.events import AskResult, Done, encode
from rag.answer.period import article_filter
from rag.errors import BadInputError, RagError

log = logging.getLogger("rag.server")

MODEL_ID = "rag-news"
SIGN_IN = ("Masuk: <b>username</b> = nama kunci Anda, <b>password</b> = kuncinya (rag_…) · Sign in: "
           "<b>username</b> = your key's name, <b>password</b> = the key (rag_…)")
OPENAI_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                      429: "rate_limit_error", 503: "server_error"}


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


class NewKey(BaseModel):
    """Body of POST /api/keys."""

    name: str = Field(..., max_length=64)
    role: str = Field("reader", description="reader, editor or admin")


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
                  "total_tokens": result.prompt_tokens + result.generated_tokens,
                  "prompt_tokens_details": {"cached_tokens": result.cached_prompt_tokens}},
        "citations": [c.to_dict() for c in result.citations],
        "refused": result.refused, "refusal_reason": result.refusal_reason,
    }


def build_api(assistant: Assistant, guard: Guard | None = None) -> FastAPI:
    """The FastAPI app with every endpoint except the page (see `create_app`); questions go through the guard's
    queue (the assistant's generator is wrapped in it here if it is not yet)."""
    st = assistant.settings
    guard = guard or Guard(st, assistant.store)
    assistant.generator = queued(assistant.generator, guard.queue, st.generation_timeout)
    app = FastAPI(title="rag-news", description="Questions over news articles, answered with verified citations.")
    upload_limit = min(st.ui_max_upload_bytes, st.max_article_bytes) + UPLOAD_OVERHEAD
    asker, lister, editor, admin = (needs(guard, a) for a in (Action.ASK, Action.LIST, Action.EDIT, Action.MANAGE))

    def limit_for(path: str) -> tuple[int, str]:
        """A route's body limit and the setting that sets it."""
        if path.rstrip("/").endswith(UPLOAD_PATHS):
            return upload_limit, "ui_max_upload_bytes"
        return st.max_request_bytes, "max_request_bytes"

    # Starlette's body limit cuts off any body past the limit as it streams (the upload routes raise it for
    # themselves); outside it, a declared Content-Length over the limit is refused at once, with the limit named.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=st.max_request_bytes)
    app.add_middleware(DeclaredSizeLimit, limit_for=limit_for)

    @app.exception_handler(StarletteHTTPException)
    async def http_errors(request: Request, exc: StarletteHTTPException) -> Any:
        """A streamed body over the limit: 413 naming the limit and its setting. On /v1 an error also carries the
        OpenAI error object, so OpenAI clients show its message."""
        if exc.status_code == 413:
            content = too_large(*limit_for(request.url.path))
        elif isinstance(exc.detail, dict) and "error" in exc.detail:
            content = {"detail": exc.detail}
        else:
            return await http_exception_handler(request, exc)
        if request.url.path.startswith("/v1/"):
            d = content["detail"]
            content["error"] = {"message": d["error"] + (f" ({d['hint']})" if d.get("hint") else ""),
                                "type": OPENAI_ERROR_TYPES.get(exc.status_code, "invalid_request_error"),
                                "code": exc.status_code}
        return JSONResponse(content, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    def ask_kwargs(body: AskRequest) -> dict[str, Any]:
        try:
            validate_question(body.question, st)  # a question that cannot be asked takes no place in line
            where = article_filter(body.since, body.until, body.sites)
        except RagError as e:
            raise http_error(e) from None
        return dict(top_k=body.top_k, max_tokens=body.max_tokens, history=body.history, where=where)

    def admitted(who: Principal) -> tuple[ExitStack, Question]:
        stack = ExitStack()
        try:
            return stack, stack.enter_context(guard.asking(who))
        except RagError as e:
            raise http_error(e) from None

    async def answer(question: Question, request: Request, work: Any) -> AskResult:
        """The one result of a question run in its own thread (cancelled when the client disconnects)."""
        result = None
        try:
            async for result in taken(Pump(question, lambda: [work()]), request):
                pass
        except RagError as e:
            raise http_error(e) from None
        assert result is not None
        return result

    def place(question: Question) -> Any:
        """A 'queued' event each time the question's place in line changes (None meanwhile)."""
        last = [None]

        def idle() -> dict[str, str] | None:
            pos = question.position
            if pos is None or pos == 0 or pos == last[0]:
                return None
            last[0] = pos
            return {"event": "queued", "data": json.dumps({"ahead": pos})}

        return idle

    @app.get("/healthz")
    def healthz(who: Principal | None = Depends(maybe_principal(guard))) -> dict[str, Any]:
        """Alive, and what this server answers from (with keys: only "ok" unless a valid key is sent)."""
        if who is None:
            return {"status": "ok"}
        try:
            articles: int | None = len(assistant.index.article_ids())
        except RagError:
            articles = None
        return {"status": "ok", "articles": articles, "store": assistant.store.describe(),
                **assistant.model_names()}

    @app.get("/api/articles")
    def articles(who: Principal = Depends(lister)) -> list[dict[str, Any]]:
        """Metadata of every indexed article, newest first."""
        try:
            return assistant.articles()
        except RagError as e:
            raise http_error(e) from e

    @app.post("/api/articles", max_body_size=upload_limit)
    async def upload(request: Request, who: Principal = Depends(editor)) -> dict[str, Any]:
        """Add an article file (multipart field `file`): read and checked like `rag ingest`, then indexed."""
        try:
            form = await request.form(max_files=1, max_fields=4)
        except StarletteHTTPException:
            raise
        except Exception as e:  # noqa: BLE001 - a malformed multipart body
            raise http_error(BadInputError(f"the upload is not a readable multipart form ({type(e).__name__})",
                                           "send the file as multipart/form-data field 'file'")) from None
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise http_error(BadInputError("the upload has no file in its 'file' field",
                                           "e.g. curl -F file=@article.html .../api/articles"))
        folder = Path(tempfile.mkdtemp(prefix="rag-upload-"))
        try:
            tmp = folder / "upload"
            with open(tmp, "wb") as out:
                shutil.copyfileobj(file.file, out)
            report = await anyio.to_thread.run_sync(
                lambda: assistant.add_article(tmp, file.filename or "", Actor(who.name, "upload")))
        except RagError as e:
            raise http_error(e) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {"added": report.added, "updated": report.updated, "unchanged": report.unchanged,
                "summary": report.summary()}

    @app.delete("/api/articles/{article_id}")
    def remove(article_id: str, delete_file: bool = False, who: Principal = Depends(editor)) -> dict[str, Any]:
        """Take an article out of the index (its copies promoted); the source file stays unless delete_file."""
        try:
            report = assistant.remove([article_id], Actor(who.name, "remove"), delete_files=delete_file)
        except RagError as e:
            raise http_error(e) from None
        return {"removed": report.removed, "promoted": report.updated, "deleted_files": report.deleted_files,
                "summary": report.summary()}

    @app.post("/api/ask", response_model=None)
    async def ask(body: AskRequest, request: Request, who: Principal = Depends(asker)) -> Any:
        """Answer one question: the `rag ask --json` object, or server-sent events when stream is true."""
        kwargs = ask_kwargs(body)
        stack, question = admitted(who)
        if not body.stream:
            with stack:
                result = await answer(question, request, lambda: assistant.ask(body.question, **kwargs))
            out = result.to_dict()
            out["timings"]["queue_wait"] = None if question.waited is None else round(question.waited, 3)
            return out

        async def events() -> AsyncIterator[dict[str, str]]:
            with stack:
                try:
                    async for event in taken(Pump(question, lambda: assistant.ask_stream(body.question, **kwargs)),
                                             idle=place(question)):
                        if isinstance(event, dict):  # a 'queued' event
                            yield event
                            continue
                        name, data = encode(event)
                        if isinstance(event, Done):
                            data["timings"]["queue_wait"] = question.waited
                        yield {"event": name, "data": json.dumps(data, ensure_ascii=False)}
                except RagError as e:
                    yield {"event": "error", "data": json.dumps(e.to_dict(), ensure_ascii=False)}

        return EventSourceResponse(events(), ping=10)

    @app.get("/api/queue")
    def queue(who: Principal = Depends(asker)) -> dict[str, Any]:
        """Questions waiting for the model now, whether it is answering, and a typical answer's seconds."""
        return guard.queue.state()

    @app.get("/v1/models")
    def models(who: Principal = Depends(lister)) -> dict[str, Any]:
        """The one model this server offers: the assistant (its generator and embedder in the metadata)."""
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag-news",
                                            **assistant.model_names()}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatRequest, request: Request, who: Principal = Depends(asker)) -> Any:
        """OpenAI-compatible chat: the last user message is the question, earlier turns are the history.

        Streaming sends the role at once and keeps the connection alive while the answer is written and verified,
        then the verified text (markers placed by code, or the refusal) and a last chunk with the citations: text
        that verification would change is never sent."""
        try:
            question_text, history = split_conversation(body.messages)
            validate_question(question_text, st)
        except RagError as e:
            raise http_error(e) from None
        max_tokens = body.max_completion_tokens or body.max_tokens
        created, completion_id = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        stack, question = admitted(who)

        def work() -> AskResult:
            return assistant.ask(question_text, history=history, max_tokens=max_tokens)

        if not body.stream:
            with stack:
                return chat_completion(await answer(question, request, work), created, completion_id)

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, str]:
            body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return {"data": json.dumps(body, ensure_ascii=False)}

        async def events() -> AsyncIterator[dict[str, str]]:
            with stack:
                yield chunk({"role": "assistant", "content": ""})
                result = None
                try:
                    async for result in taken(Pump(question, lambda: [work()])):
                        pass
                except RagError as e:
                    yield {"data": json.dumps({"error": {"message": e.message, "type": "rag_error"}},
                                              ensure_ascii=False)}
                    return
                assert result is not None
                for piece in _sentences(result.answer):
                    yield chunk({"content": piece})
                yield chunk({}, "stop", citations=[c.to_dict() for c in result.citations], refused=result.refused,
                            refusal_reason=result.refusal_reason)
                yield {"data": "[DONE]"}

        return EventSourceResponse(events(), ping=10)

    @app.get("/api/keys")
    def list_keys(who: Principal = Depends(admin)) -> list[dict[str, Any]]:
        """Every key's name, role, creation and revocation time (never a key or its hash)."""
        return [r.public() for r in guard.keys.records()]

    @app.post("/api/keys")
    def add_key(body: NewKey, who: Principal = Depends(admin)) -> dict[str, Any]:
        """Make a key; the answer holds it, once (only its hash is kept)."""
        try:
            key = guard.keys.add(body.name, body.role)
        except RagError as e:
            raise http_error(e) from None
        log.info("key %r (%s) made by %s", body.name, body.role, who.name)
        return {"name": body.name, "role": body.role, "key": key}

    @app.delete("/api/keys/{name}")
    def revoke_key(name: str, who: Principal = Depends(admin)) -> dict[str, Any]:
        """Revoke a key at once: its next request is refused."""
        try:
            guard.keys.revoke(name)
        except RagError as e:
            raise http_error(e) from None
        log.info("key %r revoked by %s", name, who.name)
        return {"revoked": name}

    @app.get("/api/audit")
    def audit(since: str | None = None, who: Principal = Depends(admin)) -> list[dict[str, Any]]:
        """Every add, update and removal that landed (oldest first; only those at or after `since`)."""
        trail = AuditLog.of(assistant.store)
        try:
            return [e.to_dict() for e in trail.read(since)] if trail else []
        except RagError as e:
            raise http_error(e) from None

    return app


def _sentences(text: str) -> list[str]:
    """The answer in sentence-sized pieces (each keeps its trailing space) for streaming."""
    from rag.text import split_sentences

    spans = split_sentences(text)
    if not spans:
        return [text] if text else []
    cuts = [a for a, _ in spans[1:]]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def create_app(assistant: Assistant, guard: Guard | None = None, with_page: bool = True, with_api: bool = True,
               warning: str | None = None, startup_error: BaseException | None = None) -> FastAPI:
    """The whole server: the API plus the chat page at `/` (signing in when keys exist), one guard for both
    (`rag ui`: the page alone, with the same guard, queue and limits)."""
    st = assistant.settings
    guard = guard or Guard(st, assistant.store)
    if with_api:
        app = build_api(assistant, guard)
    else:
        app = FastAPI()
        app.add_middleware(RequestBodyLimitMiddleware, max_body_size=st.max_request_bytes)
    if with_page:
        import gradio as gr
        from starlette.routing import Mount

        from ui.app import build_app, page_options

        auth = dict(auth=guard.page_login, auth_message=SIGN_IN) if guard.keyed() else {}
        app = gr.mount_gradio_app(app, build_app(assistant, startup_error, guard=guard, warning=warning), path="/",
                                  **page_options(st.ui_max_upload_bytes), **auth)
        limit = min(st.ui_max_upload_bytes, st.max_article_bytes) + UPLOAD_OVERHEAD
        for route in app.router.routes:
            if isinstance(route, Mount) and route.path in ("", "/"):
                route.app = UploadBodyLimit(route.app, UPLOAD_PATHS, limit)
    return app


def serve(assistant: Assistant, host: str, port: int, open_: bool = False, with_api: bool = True) -> None:
    """Check the address may be served as configured (keys, or loopback, or --open), warm the models, then serve
    until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    guard = Guard(assistant.settings, assistant.store)
    warning = check_exposure(host, guard.keyed(), open_)  # BadInputError before anything is loaded
    guard.limit_anonymous = warning is not None  # open to its network: limits by address
    if warning:
        log.warning(warning)
    startup_error = None
    t0 = time.perf_counter()
    try:
        assistant.warm_up()
        log.info("models and index loaded in %.1f s", time.perf_counter() - t0)
    except RagError as e:  # the page shows what is missing; the API answers with the error
        startup_error = e
        log.warning("starting without a working index or model: %s", e)
    app = create_app(assistant, guard, with_api=with_api, warning=warning, startup_error=startup_error)
    uvicorn.run(app, host=host, port=port, log_level="info")
