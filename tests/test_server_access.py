"""A shared `rag serve` under load and abuse: a real server process with keys (the session's `keyed_server`: the
seed index, the tiny SmolLM2 model), called through plain HTTP, server-sent events, the official `openai` client and
the `rag` command. Proves plumbing and access, not answer quality."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import openai
import pytest
from httpx_sse import connect_sse

from tests.conftest import KeyedServer, free_port

GENERATED = [  # (question, the article retrieval finds first): the model writes an answer for each
    ("Siapa Menteri Teknologi Informasi dan Komunikasi Qatar yang diterima Perdana Menteri Pham Minh Chinh selama "
     "kunjungannya ke Qatar?", "000_fe7235151a4f32f4"),
    ("Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam dan berdiskusi dengan Menteri Nguyen "
     "Manh Hung?", "001_5588f0be4399d35c"),
    ("Menurut Perdana Menteri Pham Minh Chinh, apa yang tidak akan ada tanpa keamanan siber yang kuat?",
     "002_6f724baf5e7adcba"),
    ("Di hotel mana pertemuan bilateral Indonesia-Vietnam tentang ruang digital itu digelar?", "003_103e626a5a1d57e5"),
    ("Siapa Menteri Dalam Negeri Mozambik yang diterima Menteri Keamanan Publik Luong Tam Quang?",
     "004_c4081a22872c9916"),
    ("Apa rumus kerja sama yang diusulkan Perdana Menteri Pham Minh Chinh kepada Qatar?", "000_fe7235151a4f32f4"),
]
REFUSED = [  # (question, reason): answered without the model
    ("Berapa harga cabai rawit di pasar Bandung hari ini?", "weak_evidence"),
    ("Bagaimana cara memasak rendang yang empuk?", "weak_evidence"),
    ("Qui a signé la convention de Hanoï avec le Vietnam?", "unsupported_language"),
    ("Wer hat die Hanoi-Konvention mit Vietnam unterzeichnet?", "unsupported_language"),
]
LAOS = GENERATED[1]


def _post_json(server: KeyedServer, key: str, question: str, **extra: Any) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/api/ask", json={"question": question, **extra}, headers=server.auth(key),
                   timeout=600)
    return {"status": r.status_code, "body": r.json()}


def _post_sse(server: KeyedServer, key: str, question: str) -> dict[str, Any]:
    events = []
    with httpx.Client(timeout=600) as client:
        with connect_sse(client, "POST", f"{server.url}/api/ask", json={"question": question, "stream": True},
                         headers=server.auth(key)) as source:
            status = source.response.status_code
            events = [(e.event, json.loads(e.data)) for e in source.iter_sse()]
    done = [d for k, d in events if k == "done"]
    return {"status": status, "body": done[0] if done else events, "queued": [d["ahead"] for k, d in events
                                                                              if k == "queued"]}


def _openai(server: KeyedServer, key: str, question: str) -> dict[str, Any]:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.keys[key], max_retries=0, timeout=600)
    reply = client.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": question}])
    return {"status": 200, "openai": reply}


def test_ten_clients_with_their_own_keys_get_their_own_answers_and_refusals_do_not_queue(
        keyed_server: KeyedServer) -> None:
    """Six questions for the model and four it refuses without the model, from ten keys at once."""
    jobs: list[tuple[str, str, str | None, str | None, Callable[..., dict[str, Any]]]] = []
    for i, (q, article) in enumerate(GENERATED):
        jobs.append((f"r{i}", q, article, None, [_post_json, _post_json, _post_json, _post_sse, _post_sse,
                                                 _openai][i]))
    for i, (q, reason) in enumerate(REFUSED):
        jobs.append((f"r{6 + i}", q, None, reason, [_post_json, _post_sse, _openai, _post_json][i]))
    results: dict[str, dict[str, Any]] = {}
    start = threading.Barrier(len(jobs))

    def run(key: str, question: str, call: Callable[..., dict[str, Any]]) -> None:
        start.wait()
        t0 = time.perf_counter()
        try:
            out = call(keyed_server, key, question)
        except Exception as e:  # noqa: BLE001 - recorded and asserted on below
            out = {"status": getattr(e, "status_code", 599), "error": repr(e)}
        out["t0"], out["t1"] = t0, time.perf_counter()
        results[key] = out

    threads = [threading.Thread(target=run, args=(k, q, call)) for k, q, _, _, call in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert all(r["status"] == 200 for r in results.values()), {k: r for k, r in results.items() if r["status"] != 200}
    for key, question, article, reason, call in jobs:
        r = results[key]
        if "openai" in r:
            reply = r["openai"]
            extra = reply.model_extra
            assert reply.choices[0].message.content
            if reason:
                assert extra["refused"] and extra["refusal_reason"] == reason
            else:
                assert all(c["article_id"] == article for c in extra["citations"][:1]), (question, extra)
            continue
        body = r["body"]
        assert body["question"] == question, "an answer went to another client's question"
        if reason:
            assert body["refused"] and body["refusal_reason"] == reason, (question, body["refusal_reason"])
        else:
            assert body["passages"][0]["article_id"] == article
            assert body["refusal_reason"] != "weak_evidence"
    t_start = min(r["t0"] for r in results.values())
    generated_end = max(results[f"r{i}"]["t1"] for i in range(len(GENERATED)))
    refused_end = max(results[f"r{6 + i}"]["t1"] for i in range(len(REFUSED)))
    walls = sorted(r["t1"] - r["t0"] for r in results.values())
    waits = [r["body"]["timings"].get("queue_wait") for r in results.values()
             if isinstance(r.get("body"), dict) and r["body"].get("timings")]
    print(f"\n10 clients: wall p50 {statistics.median(walls):.1f} s, max {walls[-1]:.1f} s; refusals all done after "
          f"{refused_end - t_start:.1f} s, generations after {generated_end - t_start:.1f} s; queue waits "
          f"{sorted(w for w in waits if w is not None)}")
    assert refused_end < generated_end, "a refusal that needs no model waited behind the generations"
    queued = [a for r in results.values() for a in r.get("queued", [])]
    assert any(a >= 1 for a in queued), "a streaming client waiting for the model was never told its place"


def test_routes_check_keys_and_roles(keyed_server: KeyedServer) -> None:
    s = keyed_server
    assert httpx.get(f"{s.url}/healthz").json() == {"status": "ok"}  # liveness, nothing more without a key
    assert httpx.get(f"{s.url}/healthz", headers=s.auth("r0")).json()["articles"] >= 5
    for method, path in (("GET", "/api/articles"), ("POST", "/api/ask"), ("GET", "/v1/models"),
                         ("POST", "/v1/chat/completions"), ("GET", "/api/keys"), ("DELETE", "/api/articles/x"),
                         ("GET", "/api/audit"), ("GET", "/api/queue")):
        r = httpx.request(method, f"{s.url}{path}")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (method, path, r.text)
        assert "needs a key" in r.json()["detail"]["error"]
    reader, editor = s.auth("r0"), s.auth("ed")
    assert httpx.get(f"{s.url}/api/articles", headers=reader).status_code == 200
    for method, path, who in (("DELETE", "/api/articles/x", reader), ("POST", "/api/articles", reader),
                              ("GET", "/api/keys", editor), ("GET", "/api/audit", editor)):
        r = httpx.request(method, f"{s.url}{path}", headers=who)
        assert r.status_code == 403 and "needs an" in r.json()["detail"]["error"], (method, path, r.text)
    models = openai.OpenAI(base_url=f"{s.url}/v1", api_key=s.keys["r0"], max_retries=0).models.list()
    assert models.data[0].id == "rag-news"
    with pytest.raises(openai.AuthenticationError, match="not valid"):
        openai.OpenAI(base_url=f"{s.url}/v1", api_key="rag_wrong", max_retries=0).models.list()


def test_25_malformed_or_hostile_requests_get_clear_4xx_and_the_server_still_answers(
        keyed_server: KeyedServer, tmp_path: Path) -> None:
    s = keyed_server
    revoke = subprocess.run([sys.executable, "-m", "rag", "keys", "revoke", "gone"], env=s.env, capture_output=True,
                            text=True, timeout=120)
    assert revoke.returncode == 0, revoke.stderr  # from another process, while the server runs
    r0, ed, url = s.auth("r0"), s.auth("ed"), s.url
    ask, upload = f"{url}/api/ask", f"{url}/api/articles"
    json_h = {**r0, "content-type": "application/json"}
    junk_pdf = b"\x00\x01\x02" * 1000

    def chunks() -> Any:
        for _ in range(400):
            yield b"x" * 4096

    cases: list[tuple[str, Callable[[], httpx.Response], int]] = [
        ("bad JSON", lambda: httpx.post(ask, content=b'{"question": "a', headers=json_h), 422),
        ("a JSON list", lambda: httpx.post(ask, json=["Apa itu Konvensi Hanoi?"], headers=r0), 422),
        ("question is a number", lambda: httpx.post(ask, json={"question": 42}, headers=r0), 422),
        ("no question", lambda: httpx.post(ask, json={"stream": True}, headers=r0), 422),
        ("top_k a word", lambda: httpx.post(ask, json={"question": "Apa?", "top_k": "many"}, headers=r0), 422),
        ("top_k huge", lambda: httpx.post(ask, json={"question": "Apa?", "top_k": 10**9}, headers=r0), 422),
        ("history not pairs", lambda: httpx.post(ask, json={"question": "Apa?", "history": "x"}, headers=r0), 422),
        ("20k-character question", lambda: httpx.post(ask, json={"question": "kata " * 4000}, headers=r0), 400),
        ("control characters only", lambda: httpx.post(ask, json={"question": "\x00\x07\x1b\u200b\x7f"},
                                                       headers=r0), 400),
        ("bad date filter", lambda: httpx.post(ask, json={"question": "Apa?", "since": "kemarin"}, headers=r0), 400),
        ("1 MB body", lambda: httpx.post(ask, content=b'{"question": "' + b"a" * 1_000_000 + b'"}',
                                         headers=json_h), 413),
        ("endless body, no length", lambda: httpx.post(ask, content=chunks(), headers=json_h), 413),
        ("3 MB upload", lambda: httpx.post(upload, files={"file": ("big.txt", b"a " * 1_500_000)}, headers=ed), 413),
        ("upload name with folders", lambda: httpx.post(upload, files={"file": ("../../etc/cron.d/x.txt", b"Berita.")},
                                                        headers=ed), 400),
        ("upload name with backslashes", lambda: httpx.post(upload, files={"file": ("..\\..\\x.txt", b"Berita.")},
                                                            headers=ed), 400),
        ("upload without a file", lambda: httpx.post(upload, data={"note": "x"}, headers=ed), 400),
        ("upload as JSON", lambda: httpx.post(upload, json={"file": "x"}, headers=ed), 400),
        ("binary junk as .pdf", lambda: httpx.post(upload, files={"file": ("x.pdf", junk_pdf)}, headers=ed), 400),
        ("key in X-API-Key", lambda: httpx.get(f"{url}/api/articles", headers={"X-API-Key": s.keys["r0"]}), 401),
        ("key without Bearer", lambda: httpx.get(f"{url}/api/articles", headers={"Authorization": s.keys["r0"]}), 401),
        ("key in the query", lambda: httpx.get(f"{url}/api/articles", params={"api_key": s.keys["r0"]}), 401),
        ("revoked key", lambda: httpx.get(f"{url}/api/articles", headers=s.auth("gone")), 401),
        ("reader removes", lambda: httpx.delete(f"{url}/api/articles/001_5588f0be4399d35c", headers=r0), 403),
        ("unknown article", lambda: httpx.delete(f"{url}/api/articles/no-such-article", headers=ed), 404),
        ("chat without a user turn", lambda: httpx.post(f"{url}/v1/chat/completions", headers=r0,
                                                        json={"messages": [{"role": "system", "content": "hi"}]}), 400),
        ("chat messages not a list", lambda: httpx.post(f"{url}/v1/chat/completions", headers=r0,
                                                        json={"messages": "Apa itu Konvensi Hanoi?"}), 422),
    ]
    assert len(cases) >= 25
    for name, call, expected in cases:
        r = call()
        assert r.status_code == expected, (name, r.status_code, r.text[:300])
        detail = r.json()["detail"]
        message = detail["error"] if isinstance(detail, dict) else detail[0]["msg"]
        assert message and "Traceback" not in r.text, (name, r.text[:300])
        print(f"{r.status_code} {name}: {message[:110]}")
    assert "x-api-key header" in httpx.get(f"{url}/api/articles", headers={"X-API-Key": "k"}).json()["detail"]["error"]
    big = httpx.post(ask, content=b'{"question": "' + b"a" * 1_000_000 + b'"}', headers=json_h).json()
    assert "262,144 bytes" in big["detail"]["error"] and "max_request_bytes" in big["detail"]["hint"]
    after = _post_json(s, "r0", LAOS[0], max_tokens=16)
    assert after["status"] == 200 and after["body"]["passages"][0]["article_id"] == LAOS[1]
    assert "Traceback" not in s.log.read_text()


def test_limits_answer_429_with_retry_after(keyed_server: KeyedServer) -> None:
    s = keyed_server
    codes = [httpx.get(f"{s.url}/api/articles", headers=s.auth("rate")).status_code for _ in range(121)]
    assert codes[:120] == [200] * 120 and codes[120] == 429  # the default: 120 a minute
    r = httpx.get(f"{s.url}/api/articles", headers=s.auth("rate"))
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60 and "120 requests" in r.text
    assert httpx.get(f"{s.url}/api/articles", headers=s.auth("r1")).status_code == 200  # other keys unaffected

    results: list[Any] = []
    go = threading.Barrier(4)

    def ask() -> None:
        go.wait()
        try:  # the admitted ones are abandoned after a few seconds: the server then drops them
            results.append(httpx.post(f"{s.url}/api/ask", json={"question": LAOS[0]}, headers=s.auth("busy"),
                                      timeout=4))
        except httpx.ReadTimeout as e:
            results.append(e)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = [r for r in results if isinstance(r, httpx.Response) and r.status_code == 429]
    assert len(busy) == 1 and all(isinstance(r, httpx.ReadTimeout) or r.status_code in (200, 429) for r in results)
    assert int(busy[0].headers["retry-after"]) >= 1 and "3 questions waiting" in busy[0].json()["detail"]["error"]


def test_a_client_that_disconnects_leaves_the_queue(keyed_server: KeyedServer) -> None:
    s = keyed_server
    queue = lambda: httpx.get(f"{s.url}/api/queue", headers=s.auth("r3")).json()  # noqa: E731
    for _ in range(60):  # earlier tests' abandoned questions are dropped within seconds
        state = queue()
        if not state["waiting"] and not state["answering"]:
            break
        time.sleep(0.5)

    def long() -> None:  # a long answer, abandoned after 12 s: the server stops its generation then
        try:
            httpx.post(f"{s.url}/api/ask", json={"question": GENERATED[2][0], "max_tokens": 1200},
                       headers=s.auth("r2"), timeout=12)
        except httpx.ReadTimeout:
            pass

    first = threading.Thread(target=long)
    first.start()
    try:
        deadline = time.time() + 10
        while not queue()["answering"]:
            assert time.time() < deadline, "the long question never reached the model"
            time.sleep(0.1)
        seen: dict[str, Any] = {}
        waiting = threading.Thread(target=lambda: time.sleep(1.5) or seen.update(queue()))
        waiting.start()
        with pytest.raises(httpx.ReadTimeout):  # waits behind the long one, then gives up
            httpx.post(f"{s.url}/api/ask", json={"question": GENERATED[3][0]}, headers=s.auth("r3"), timeout=3)
        waiting.join()
        assert seen["waiting"] == 1 or not seen["answering"], seen  # r3 was in line behind the long answer
        time.sleep(1.5)
        state = queue()
        print(f"\nqueue while r3 waited: {seen}; after it left: {state}")
        if state["answering"]:  # the long generation is still running: the gone client's place must be free
            assert state["waiting"] == 0, state
    finally:
        first.join()
    deadline = time.time() + 15
    while queue()["answering"]:  # and the abandoned long one is stopped, freeing the model
        assert time.time() < deadline, "an abandoned generation kept the model"
        time.sleep(0.2)


def test_remove_upload_and_the_audit_trail_through_the_api(keyed_server: KeyedServer, tmp_path: Path) -> None:
    s = keyed_server
    article = tmp_path / "festival_kopi_gayo.txt"
    article.write_text("Festival Kopi Gayo 2025 Digelar di Takengon\n\nTakengon, 12 Juni 2025 - Pemerintah Kabupaten "
                       "Aceh Tengah menggelar Festival Kopi Gayo 2025 selama tiga hari di Lapangan Musara Alun. "
                       "Panitia mencatat transaksi sebesar Rp 8,5 miliar selama festival berlangsung.\n",
                       encoding="utf-8")
    question = "Berapa nilai transaksi selama Festival Kopi Gayo 2025 di Takengon?"
    added = httpx.post(f"{s.url}/api/articles", files={"file": (article.name, article.read_bytes())},
                       headers=s.auth("ed"), timeout=300)
    assert added.status_code == 200 and added.json()["added"] == ["festival_kopi_gayo"], added.text
    seen = _post_json(s, "r4", question, max_tokens=16)["body"]
    assert seen["passages"][0]["article_id"] == "festival_kopi_gayo"

    removed = httpx.delete(f"{s.url}/api/articles/festival_kopi_gayo", headers=s.auth("ed"))
    assert removed.status_code == 200 and removed.json()["removed"] == ["festival_kopi_gayo"]
    after = _post_json(s, "r4", question, max_tokens=16)["body"]
    assert all(p["article_id"] != "festival_kopi_gayo" for p in after["passages"])
    assert (s.uploads_dir / article.name).exists()  # the file stays

    trail = httpx.get(f"{s.url}/api/audit", headers=s.auth("ada")).json()
    mine = [(e["actor"], e["via"], e["action"]) for e in trail if e["article_id"] == "festival_kopi_gayo"]
    assert mine == [("ed", "upload", "add"), ("ed", "remove", "remove")]
    assert all(e["content_hash"] and e["source_file"] and e["time"] for e in trail)
    cli = subprocess.run([sys.executable, "-m", "rag", "audit", "--json", "--since", trail[-1]["time"]], env=s.env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and json.loads(cli.stdout.splitlines()[-1])["action"] == "remove"

    new = httpx.post(f"{s.url}/api/keys", json={"name": "temp", "role": "reader"}, headers=s.auth("ada")).json()
    assert httpx.get(f"{s.url}/api/articles", headers={"Authorization": f"Bearer {new['key']}"}).status_code == 200
    assert httpx.delete(f"{s.url}/api/keys/temp", headers=s.auth("ada")).status_code == 200
    assert httpx.get(f"{s.url}/api/articles", headers={"Authorization": f"Bearer {new['key']}"}).status_code == 401
    listed = {k["name"]: k for k in httpx.get(f"{s.url}/api/keys", headers=s.auth("ada")).json()}
    assert listed["temp"]["revoked"] and "sha256" not in listed["temp"]


def test_keys_from_the_command_line_and_no_open_server_without_them(tmp_path: Path, seed_settings: Any) -> None:
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_SERVER": "none"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "rag", *a], env=env, capture_output=True,  # noqa: E731
                                    text=True, timeout=120)
    refused = run("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2 and "refusing to serve on 0.0.0.0 without keys" in refused.stderr
    assert "rag keys add NAME --role admin" in refused.stderr and "--open" in refused.stderr
    made = run("keys", "add", "ana", "--role", "editor")
    key = made.stdout.strip()
    assert made.returncode == 0 and key.startswith("rag_") and "shown this once" in made.stderr
    assert key not in (tmp_path / "index" / "keys.json").read_text()
    assert run("keys", "add", "ana", "--role", "reader").returncode == 2
    assert "ana" in run("keys", "list").stdout and run("keys", "revoke", "ana").returncode == 0
    assert "revoked" in run("keys", "list").stdout
    assert run("keys", "add", "bo", "--role", "owner").returncode == 2  # argparse names the choices


def test_remove_from_the_command_line_and_a_later_ingest_says_it_left_it_out(seed_settings: Any, seed_copy: Path,
                                                                           tmp_path: Path) -> None:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(seed_settings.index_dir, index)
    env = {**os.environ, "RAG_INDEX_DIR": str(index), "RAG_SERVER": "none"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "rag", *a], env=env, capture_output=True,  # noqa: E731
                                    text=True, timeout=300)
    gone = run("remove", LAOS[1])
    assert gone.returncode == 0 and f"removed {LAOS[1]}" in gone.stdout and "--restore" in gone.stdout
    assert run("remove", "no-such-id").returncode == 2
    again = run("ingest", "--quiet", str(seed_copy))
    assert again.returncode == 0 and "added 0" in again.stdout
    assert f"left out {seed_copy.resolve() / (LAOS[1] + '.txt')}: removed by cli:" in again.stdout
    trail = [json.loads(x) for x in run("audit", "--json").stdout.splitlines()]
    assert (trail[-1]["action"], trail[-1]["via"], trail[-1]["article_id"]) == ("remove", "remove", LAOS[1])
    assert trail[-1]["actor"].startswith("cli:")
