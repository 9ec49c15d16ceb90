"""The audit trail: every article added, updated or removed (by `rag ingest`, an upload, `rag remove` or the API),
with the time, who (a key's name, or "cli:" and the OS user), how, the article id, title, source file and content
hash. It lives with the index (`audit.jsonl` beside a FAISS index; the `rag_audit_writes` and `rag_audit` tables in
the PostgreSQL store's database) and is only appended to.

No entry for what did not land: a write is recorded in two steps around the store's own atomic write. First the
entries are saved as *pending* together with the store's version before the write; after the store has committed,
the write is marked *done*. Only done writes are shown. A writer killed in between leaves a pending write, which
the next writer (or `rag audit`), holding the store's write lock, settles by looking at the store: if the store's
version is still the one recorded, the write did not land (*aborted*); if it moved, it did (*done*) -- every writer
settles pending writes under that lock before writing, so nothing else can have moved it.

Removals by `rag remove` or the API are remembered: a later `rag ingest` of the folder leaves such an article out
(and says so) until `rag ingest --restore PATH` or an upload of the file brings it back.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol

from rag.access.keys import now_iso
from rag.access.storage import AUDIT_FILE, append_line, location, read_lines, store_version
from rag.backends.stores.base import Store
from rag.types import Document

WITHHOLDING = ("remove",)  # removals made on purpose (rag remove, the API): ingest leaves their files out


@dataclass(frozen=True)
class Actor:
    """Who makes a change and through what: via is ingest, upload or remove."""

    name: str
    via: str


def cli_actor(via: str) -> Actor:
    """The command line's actor: "cli:" and the OS user."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        user = "unknown"
    return Actor(f"cli:{user}", via)


@dataclass
class Entry:
    """One change to one article."""

    time: str
    actor: str
    via: str
    action: str  # add, update, remove
    article_id: str
    title: str
    source_file: str
    part: int | None
    content_hash: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def entry(actor: Actor, action: str, doc: Document, when: str, note: str | None = None) -> Entry:
    """The entry for one change to one document."""
    return Entry(when, actor.name, actor.via, action, doc.article_id, doc.title, doc.source_file, doc.part,
                 doc.content_hash, note)


def entries_for(actor: Actor, when: str, docs: dict[str, Document], old: dict[str, Document], added: Iterable[str],
                updated: Iterable[str], relinked: Iterable[str], removed: Iterable[str],
                removed_note: str | None = None) -> list[Entry]:
    """The entries for one write: added and updated articles (from `docs`, the new versions), articles that became a
    copy of another (relinked), and removed ones (from `old`, what was indexed)."""
    out = [entry(actor, "add", docs[a], when) for a in added]
    for a in updated:
        d = docs[a]
        promoted = a in old and old[a].content_hash == d.content_hash and old[a].duplicate_of and not d.duplicate_of
        out.append(entry(actor, "update", d, when,
                         f"indexed in its own right: it was a copy of {old[a].duplicate_of}" if promoted else None))
    out += [entry(actor, "update", docs[a], when, f"now stored as a copy of {docs[a].duplicate_of}") for a in relinked]
    out += [entry(actor, "remove", old[a], when, removed_note) for a in removed]
    return out


@dataclass
class Write:
    """One recorded write: its entries, the store's version before it, and whether it landed."""

    write_id: str
    base: str | None
    entries: list[Entry] = field(default_factory=list)
    state: str = "pending"  # pending, done, aborted


def fold(records: Iterable[dict[str, Any]]) -> list[Write]:
    """The writes a log's records describe, in order (a later state record settles an earlier pending one)."""
    writes: dict[str, Write] = {}
    for r in records:
        wid = r.get("write")
        if not isinstance(wid, str):
            continue
        if r.get("state") == "pending" and wid not in writes:
            writes[wid] = Write(wid, r.get("base"), [Entry(**e) for e in r.get("entries", [])])
        elif r.get("state") in ("done", "aborted") and wid in writes and writes[wid].state == "pending":
            writes[wid].state = r["state"]
    return list(writes.values())


def settle(base: str | None, now: str | None) -> str:
    """How a pending write ended, seen under the write lock: done when the store's version moved since, else aborted."""
    return "done" if now != base else "aborted"


def done_entries(writes: Iterable[Write], since: str | None = None) -> list[Entry]:
    """The entries of the writes that landed, oldest first (only those at or after `since`, an ISO date or time)."""
    out = [e for w in writes if w.state == "done" for e in w.entries]
    return [e for e in out if since is None or e.time >= since]


def withheld(entries: Iterable[Entry]) -> dict[tuple[str, int | None], Entry]:
    """Sources whose article was last removed on purpose (by `rag remove` or the API): (source file, part) -> entry."""
    last: dict[tuple[str, int | None], Entry] = {}
    for e in entries:
        last[(e.source_file, e.part)] = e
    return {k: e for k, e in last.items() if e.action == "remove" and e.via in WITHHOLDING}


class AuditBackend(Protocol):
    """Where the log's records are kept."""

    def append(self, record: dict[str, Any]) -> None:
        """Add a record durably: a pending write with its entries, or a write's final state."""

    def records(self) -> list[dict[str, Any]]:
        """Every record, in the order added."""


class FileAudit:
    """`audit.jsonl` beside the FAISS index: one JSON line a record, fsynced."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / AUDIT_FILE

    def append(self, record: dict[str, Any]) -> None:
        """Append the record as a line."""
        append_line(self.path, record)

    def records(self) -> list[dict[str, Any]]:
        """Every complete line."""
        return read_lines(self.path)


class PostgresAudit:
    """Two tables in the store's database: `rag_audit_writes` (one row a write and its state) and `rag_audit` (the
    entries)."""

    TABLES = """
    CREATE TABLE IF NOT EXISTS rag_audit_writes (seq bigserial PRIMARY KEY, write_id text UNIQUE NOT NULL,
      base text, state text NOT NULL);
    CREATE TABLE IF NOT EXISTS rag_audit (seq bigserial PRIMARY KEY, write_id text NOT NULL, time text NOT NULL,
      actor text NOT NULL, via text NOT NULL, action text NOT NULL, article_id text NOT NULL, title text NOT NULL,
      source_file text NOT NULL, part integer, content_hash text NOT NULL, note text);
    """
    _FIELDS = "time, actor, via, action, article_id, title, source_file, part, content_hash, note"

    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        conn.execute(self.TABLES)
        return conn

    def append(self, record: dict[str, Any]) -> None:
        """A pending write and its entries in one transaction; a state as an update of the write's row."""
        with self._connect() as conn:
            if record["state"] == "pending":
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute("INSERT INTO rag_audit_writes (write_id, base, state) VALUES (%s, %s, 'pending')",
                                (record["write"], record.get("base")))
                    with cur.copy(f"COPY rag_audit (write_id, {self._FIELDS}) FROM STDIN") as copy:
                        for e in record["entries"]:
                            copy.write_row((record["write"], e["time"], e["actor"], e["via"], e["action"],
                                            e["article_id"], e["title"], e["source_file"], e["part"],
                                            e["content_hash"], e["note"]))
            else:
                conn.execute("UPDATE rag_audit_writes SET state = %s WHERE write_id = %s AND state = 'pending'",
                             (record["state"], record["write"]))

    def records(self) -> list[dict[str, Any]]:
        """Each write as a pending record with its entries, followed by its state when settled."""
        with self._connect() as conn:
            writes = conn.execute("SELECT write_id, base, state FROM rag_audit_writes ORDER BY seq").fetchall()
            rows = conn.execute(f"SELECT write_id, {self._FIELDS} FROM rag_audit ORDER BY seq").fetchall()
        names = self._FIELDS.split(", ")
        entries: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            entries.setdefault(row[0], []).append(dict(zip(names, row[1:])))
        out: list[dict[str, Any]] = []
        for wid, base, state in writes:
            out.append({"write": wid, "state": "pending", "base": base, "entries": entries.get(wid, [])})
            if state != "pending":
                out.append({"write": wid, "state": state})
        return out


class AuditLog:
    """The audit trail of one store: record writes around the store's commit, settle interrupted ones, read it."""

    def __init__(self, store: Store, backend: AuditBackend) -> None:
        self.store = store
        self.backend = backend

    @classmethod
    def of(cls, store: Store) -> AuditLog | None:
        """The log kept with this store (None for a store of another kind, e.g. a test fake)."""
        where = location(store)
        if isinstance(where, Path):
            return cls(store, FileAudit(where))
        return cls(store, PostgresAudit(where)) if where else None

    def begin(self, entries: list[Entry]) -> str:
        """Save a write's entries as pending (call just before the store's write, under its write lock)."""
        wid = uuid.uuid4().hex
        self.backend.append({"write": wid, "state": "pending", "base": store_version(self.store),
                             "entries": [e.to_dict() for e in entries]})
        return wid

    def finish(self, write_id: str, landed: bool) -> None:
        """Mark a write done (the store committed it) or aborted (it failed before committing)."""
        self.backend.append({"write": write_id, "state": "done" if landed else "aborted", "time": now_iso()})

    def settle(self) -> list[Write]:
        """Settle writes left pending by a writer that died (call under the store's write lock); all writes."""
        writes = fold(self.backend.records())
        pending = [w for w in writes if w.state == "pending"]
        if pending:
            now = store_version(self.store)
            for w in pending:
                w.state = settle(w.base, now)
                self.finish(w.write_id, w.state == "done")
        return writes

    def entries(self, since: str | None = None, settled: bool = False) -> list[Entry]:
        """The entries of the writes that landed (settle first when the caller holds the write lock)."""
        writes = self.settle() if settled else fold(self.backend.records())
        return done_entries(writes, since)

    def read(self, since: str | None = None) -> list[Entry]:
        """The entries that landed, with interrupted writes settled first (waits for a running ingest to finish)."""
        with self.store.write_lock():
            return self.entries(check_since(since), settled=True)


def check_since(since: str | None) -> str | None:
    """A --since value (YYYY, YYYY-MM, YYYY-MM-DD or an ISO time) as given; BadInputError when it is none of those."""
    import re

    from rag.errors import BadInputError

    if since is None or re.fullmatch(r"\d{4}(-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2})?)?Z?)?)?)?", since):
        return since.replace(" ", "T") if since else since
    raise BadInputError(f"{since!r} is not a date", "use YYYY-MM-DD (or YYYY-MM, YYYY, or YYYY-MM-DDTHH:MM:SS)")
