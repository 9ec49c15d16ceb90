"""The HTTP side of access for `rag serve`: the key check as a FastAPI security dependency (`Authorization: Bearer`,
what the openai client sends), errors as status codes (401, 403, 404, 413, 429 with Retry-After), the upload route's
own body limit on the page's app, and a question's events taken from its thread until the client goes away."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.access.guard import Guard, Principal
from rag.access.keys import Action
from rag.access.queue import FINISHED, NOTHING_YET, Pump
from rag.errors import AccessError, BadInputError, Cancelled, LimitError, NotFoundError, RagError

UPLOAD_OVERHEAD = 64 * 1024  # multipart headers and boundaries around an uploaded file
UPLOAD_PATHS = ("/api/articles", "/gradio_api/upload", "/upload")  # routes that take a file (a larger body limit)
_bearer = HTTPBearer(auto_error=False, description="a key made by `rag keys add NAME --role ROLE`")
_KEY_HEADERS = ("x-api-key", "api-key", "x-api-token", "x-auth-token", "key")
_KEY_PARAMS = ("api_key", "key", "token", "access_token")


def status_of(e: RagError) -> int:
    """The HTTP status for an expected failure."""
    if isinstance(e, (AccessError, LimitError)):
        return e.status
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, BadInputError):
        return 400
    if isinstance(e, Cancelled):
        return 499
    return 503


def http_error(e: RagError) -> HTTPException:
    """An HTTPException carrying the error, its hint and exit code (and WWW-Authenticate or Retry-After)."""
    status = status_of(e)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(e, LimitError) and e.retry_after:
        headers["Retry-After"] = str(e.retry_after)
    return HTTPException(status, detail=e.to_dict(),
                         headers=headers or None)


def key_elsewhere(request: Request) -> str | None:
    """Where a request put something that looks like a key, when not in `Authorization: Bearer` (for the 401's
    message): another header, the Authorization header without the Bearer scheme, or the query string."""
    auth = request.headers.get("authorization")
    if auth and not auth.lower().startswith("bearer "):
        return "the Authorization header without the 'Bearer ' scheme"
    for h in _KEY_HEADERS:
        if h in request.headers:
            return f"the {h} header"
    for p in _KEY_PARAMS:
        if p in request.query_params:
            return f"the query string ({p}=...)"
    return None


def client_of(request: Request) -> str:
    """The client's address (limits on an open server are per address)."""
    return request.client.host if request.client else "unknown"


def needs(guard: Guard, action: Action) -> Callable[..., Principal]:
    """A FastAPI dependency: who sends the request (401 without a valid key), counted against their requests a
    minute (429), allowed this action by their role (403)."""

    def dependency(request: Request,
                   credentials: HTTPAuthorizationCredentials | None = Security(_bearer)) -> Principal:
        try:
            who = guard.identify(credentials.credentials if credentials else None, client_of(request),
                                 None if credentials else key_elsewhere(request))
            guard.count(who)
            guard.require(who, action)
        except RagError as e:
            raise http_error(e) from None
        return who

    return dependency


def maybe_principal(guard: Guard) -> Callable[..., Principal | None]:
    """A FastAPI dependency for open routes (/healthz): who sends the request, or None without a valid key."""

    def dependency(request: Request,
                   credentials: HTTPAuthorizationCredentials | None = Security(_bearer)) -> Principal | None:
        try:
            return guard.identify(credentials.credentials if credentials else None, client_of(request))
        except RagError:
            return None

    return dependency


def too_large(limit: int, setting: str) -> dict[str, Any]:
    """The 413 body: what the limit is and which setting sets it."""
    return {"detail": {"error": f"the request body is larger than this route's limit of {limit:,} bytes",
                       "hint": f"the {setting} setting", "exit_code": 2}}


class DeclaredSizeLimit:
    """Outermost: a request whose Content-Length is over its route's limit is answered 413 with a clear message at
    once, before anything reads it. (Bodies without a Content-Length are cut off by Starlette's streaming body
    limit, which the app also sets.)"""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], tuple[int, str]]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope.get("headers") or []).get(b"content-length")
            limit, setting = self.limit_for(scope["path"])
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                from starlette.responses import JSONResponse

                body = too_large(limit, setting) if declared.isdigit() else {"detail": {
                    "error": "the Content-Length header is not a number", "hint": None, "exit_code": 2}}
                await JSONResponse(body, status_code=413 if declared.isdigit() else 400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class UploadBodyLimit:
    """Around the page's app: its upload route may carry a file of up to the upload limit (the app-wide body limit
    is far lower), every other route keeps the app-wide one. Starlette's body limit refuses with 413 from the
    Content-Length, or as soon as a streamed body passes the limit, before the body is read."""

    def __init__(self, app: ASGIApp, upload_paths: tuple[str, ...], limit: int) -> None:
        self.app = app
        self.upload_paths = upload_paths
        self.with_limit = RequestBodyLimitMiddleware(app, limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith(self.upload_paths):
            await self.with_limit(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def taken(pump: Pump, request: Request | None = None, idle: Callable[[], Any] | None = None,
                check_every: float = 0.5) -> AsyncIterator[Any]:
    """The items a question's thread produces, as they come (and whatever `idle` returns, when not None, while
    none comes); the question is cancelled (it leaves the queue, its generation stops) when the client disconnects
    or this iteration is abandoned (a streaming client went away)."""
    checked = time.monotonic()
    try:
        while True:
            item = pump.poll(0)
            if item is NOTHING_YET:
                if idle is not None and (extra := idle()) is not None:
                    yield extra
                if request is not None and time.monotonic() - checked > check_every:
                    checked = time.monotonic()
                    if await request.is_disconnected():
                        raise Cancelled("the client disconnected")
                await asyncio.sleep(0.02)
                continue
            if item is FINISHED:
                return
            yield item
    finally:
        pump.req.cancel()
