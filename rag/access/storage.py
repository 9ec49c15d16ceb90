"""Where keys and the audit trail live: beside the index (files in the FAISS store's folder) or in the PostgreSQL
database that holds the index (tables `rag_keys`, `rag_audit_writes`, `rag_audit`).

Files are written the way the index is: a whole-file rewrite goes to a temporary file that is fsynced and renamed
over the old one (readers see the old file or the new one); an appended line is fsynced before the call returns.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from rag.backends.stores.base import Store

KEYS_FILE = "keys.json"
AUDIT_FILE = "audit.jsonl"


def location(store: Store) -> Path | str | None:
    """The folder (FAISS store) or PostgreSQL URL (PostgreSQL store) that holds this store; None for other stores."""
    from rag.backends.stores.faiss_files import FaissStore

    if isinstance(store, FaissStore):
        return Path(store.index_dir)
    url = getattr(store, "url", None)
    if isinstance(url, str) and url.startswith(("postgresql://", "postgres://")):
        return url
    return None


def store_version(store: Store) -> str | None:
    """What changes with every committed write of the store (None while it is empty): the FAISS store's live
    generation name, or the PostgreSQL store's write counter."""
    where = location(store)
    if isinstance(where, Path):
        from rag.backends.stores.faiss_files import CURRENT

        pointer = where / CURRENT
        return pointer.read_text().strip() if pointer.is_file() else None
    if isinstance(where, str):
        import psycopg

        with psycopg.connect(where, autocommit=True, connect_timeout=10) as conn:
            try:
                row = conn.execute("SELECT value->>'version' FROM rag_meta WHERE name = 'state'").fetchone()
            except psycopg.errors.UndefinedTable:
                return None
        return row[0] if row else None
    return None


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace a JSON file in one step (temporary file, fsync, rename, fsync of the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and fsync it (a crash leaves at most a torn last line, which readers skip)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of a file (a torn or damaged line is skipped); [] when the file is missing."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held on a side file, so two processes never rewrite the same file at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
