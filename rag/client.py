"""Asking a running `rag serve` from another process: find it, then stream its answer as the same events.

`rag ask` uses this so that a question is answered in the warm server's time instead of loading the models
again. A server found only by probing the default address is used only when it answers from the same store
with the same models as this process would; `--server URL` (or RAG_SERVER) is used as given. A server with keys
gets the `api_key` setting (RAG_API_KEY) as `Authorization: Bearer`.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
from httpx_sse import connect_sse

from rag.answer.events import Event, decode
from rag.errors import BadInputError, ModelError, error_from
from rag.settings import Settings
from rag.types import ArticleFilter

PROBE_TIMEOUT = 0.5


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _health(url: str, key: str | None = None) -> dict[str, Any] | None:
    try:
        r = httpx.get(f"{url}/healthz", timeout=PROBE_TIMEOUT, headers=_auth(key))
        return r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def find_server(settings: Settings, explicit: str | None = None) -> str | None:
    """The server to ask: the one given (error if it does not answer), else a matching one on the default port."""
    url = explicit or settings.server
    if url and url.lower() == "none":
        return None
    if url:
        url = url.rstrip("/")
        if _health(url, settings.api_key) is None:
            raise ModelError(f"no rag server answers at {url}", "start one with `rag serve`, or drop --server")
        return url
    url = f"http://{settings.server_host}:{settings.server_port}"
    health = _health(url, settings.api_key)
    if health is None or "store" not in health:  # not there, or it has keys and this process sends none that fits
        return None
    from rag.backends.factory import make_store
    from rag.backends.models import embedder_identity

    same = (health.get("store") == make_store(settings).describe()
            and health.get("embedder") == embedder_identity(settings)
            and str(health.get("generator", "")).startswith(settings.generator))
    return url if same else None


def ask_stream_remote(url: str, question: str, top_k: int | None = None, max_tokens: int | None = None,
                      where: ArticleFilter | None = None, key: str | None = None) -> Iterator[Event]:
    """The server's answer as Retrieved, Token... and Done events (errors re-raised with their exit code)."""
    body = {"question": question, "stream": True, "top_k": top_k, "max_tokens": max_tokens}
    if where:
        body.update(where.to_dict())
    try:
        with httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client:
            with connect_sse(client, "POST", f"{url}/api/ask", json=body, headers=_auth(key)) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    detail = source.response.json().get("detail")
                    if not isinstance(detail, dict):  # a request the server's schema rejects
                        raise BadInputError(f"the server rejected the request: {json.dumps(detail)}")
                    raise error_from(detail)
                for sse in source.iter_sse():
                    event = decode(sse.event, json.loads(sse.data))
                    if event is not None:
                        yield event
    except httpx.HTTPError as e:
        raise ModelError(f"the rag server at {url} failed: {e}", "retry, or ask without --server") from e
