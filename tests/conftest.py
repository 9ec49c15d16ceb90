"""Shared fixtures: real settings in temp folders, a real index of the seed articles, the real models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAG_SERVER", "none")  # `rag ask` in tests answers in-process unless a test starts a server

from rag.settings import PROJECT_ROOT, Settings  # noqa: E402

SEEDS = PROJECT_ROOT / "seeds"


def make_settings(tmp: Path, **overrides: object) -> Settings:
    """Settings with the index in a temp folder (models stay in the shared cache)."""
    return Settings(index_dir=tmp / "index", **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def seed_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of seeds/ (tests may not touch the real one)."""
    dest = tmp_path_factory.mktemp("seeds") / "seeds"
    shutil.copytree(SEEDS, dest)
    return dest


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory, seed_copy: Path) -> Settings:
    """Settings whose index holds the five seed articles (built once per test session)."""
    from rag.backends.factory import make_embedder, make_store
    from rag.ingest.run import ingest

    s = make_settings(tmp_path_factory.mktemp("seedindex"), seeds_dir=seed_copy)
    ingest([seed_copy], s, make_store(s), make_embedder(s), progress=False)
    return s


@pytest.fixture(scope="session")
def small_settings(seed_settings: Settings) -> Settings:
    """The seed index with the tiny SmolLM2 generator (proves plumbing, not answer quality)."""
    return seed_settings.model_copy(update={"generator": "smollm2-135m", "max_tokens": 48})


def free_port() -> int:
    """An unused localhost port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(cmd: list[str], ready_url: str, log: Path, env: dict[str, str] | None = None,
            timeout: float = 180) -> Iterator[subprocess.Popen]:
    """Start a server process, wait until ready_url answers 200, stop it afterwards (fail with its log otherwise)."""
    import httpx

    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{cmd[:4]} exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail(f"{cmd[:4]} was not ready in {timeout:.0f} s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass
class KeyedServer:
    """A running `rag serve` with keys: its URL, the keys by name, its index folder, uploads folder and log."""

    url: str
    keys: dict[str, str]
    index_dir: Path
    uploads_dir: Path
    log: Path
    env: dict[str, str]

    def auth(self, name: str) -> dict[str, str]:
        """The Authorization header for a key name."""
        return {"Authorization": f"Bearer {self.keys[name]}"}


KEYED_ROLES = {"ada": "admin", "ed": "editor", **{f"r{i}": "reader" for i in range(10)}, "rate": "reader",
               "busy": "reader", "gone": "reader", "page": "reader", "pager": "reader"}


@pytest.fixture(scope="session")
def keyed_server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    """One `rag serve` with keys for the session (tests of access, load and the signed-in page share it): a private
    copy of the seed index, the tiny model, the default limits."""
    from rag.access.keys import Keys
    from rag.backends.stores.faiss_files import FaissStore

    root = tmp_path_factory.mktemp("keyed")
    index = root / "index"
    shutil.copytree(seed_settings.index_dir, index)
    keys = Keys.of(FaissStore(index))
    made = {name: keys.add(name, role) for name, role in KEYED_ROLES.items()}
    port = free_port()
    env = {**os.environ, "RAG_INDEX_DIR": str(index), "RAG_UPLOADS_DIR": str(root / "uploads"),
           "RAG_GENERATOR": "smollm2-135m", "RAG_MAX_TOKENS": "48", "RAG_SERVER": "none"}
    url, log = f"http://127.0.0.1:{port}", root / "serve.log"
    with running([sys.executable, "-m", "rag", "serve", "--port", str(port)], f"{url}/healthz", log, env=env):
        yield KeyedServer(url, made, index, root / "uploads", log, env)
