"""API keys and roles: `rag keys add NAME --role reader|editor|admin` prints a new key once; only its hash is kept.

Roles, from least to most: a reader asks and lists articles; an editor also adds and removes articles; an admin also
manages keys and reads the audit trail.

Why sha256 and not bcrypt/argon2: a key is 32 random bytes (256 bits) from `secrets`, not a password a person
chose, so there is nothing for a slow hash to protect against (guessing 2^256 values is out of reach however fast
the hash), and a fast hash keeps a check per request cheap. A stolen keys file or table gives only hashes, which
cannot be sent as keys. A presented key is hashed and compared with every stored hash by `hmac.compare_digest`
(constant time, no early exit), so response times do not reveal how much of a hash matched.

Keys live with the index: `keys.json` beside a FAISS index (rewritten atomically under a lock), or the `rag_keys`
table in the PostgreSQL store's database. A revoked key stays listed (and its name is not reused), so a key that
was once configured is never silently replaced, and a server that had keys never becomes open again by revoking
them all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from rag.access.storage import KEYS_FILE, file_lock, location, write_json_atomic
from rag.backends.stores.base import Store
from rag.errors import BadInputError

KEY_PREFIX = "rag_"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class Role(str, Enum):
    """What a key may do (each role includes the ones before it)."""

    READER = "reader"
    EDITOR = "editor"
    ADMIN = "admin"


class Action(str, Enum):
    """What a request does, for the role check."""

    ASK = "ask"  # questions, /v1/chat/completions, the page's questions
    LIST = "list"  # the article list, /v1/models
    EDIT = "edit"  # add (upload) and remove articles
    MANAGE = "manage"  # keys and the audit trail


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.READER: frozenset({Action.ASK, Action.LIST}),
    Role.EDITOR: frozenset({Action.ASK, Action.LIST, Action.EDIT}),
    Role.ADMIN: frozenset(Action),
}


def may(role: Role, action: Action) -> bool:
    """True when a key with this role may do this."""
    return action in ALLOWED[role]


def least_role(action: Action) -> Role:
    """The first role that may do this (for messages: 'needs an editor key')."""
    return next(r for r in Role if may(r, action))


@dataclass(frozen=True)
class KeyRecord:
    """One key as stored: its name, role, the sha256 of the key, when it was made and (if so) revoked."""

    name: str
    role: Role
    sha256: str
    created: str
    revoked: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the hash included: this is what the keys file holds)."""
        return {**asdict(self), "role": self.role.value}

    def public(self) -> dict[str, Any]:
        """What `rag keys list` and the API show (no hash)."""
        return {"name": self.name, "role": self.role.value, "created": self.created, "revoked": self.revoked}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyRecord:
        """A record back from its stored form."""
        return cls(d["name"], Role(d["role"]), d["sha256"], d["created"], d.get("revoked"))


def new_key() -> str:
    """A fresh key: the prefix and 32 random bytes, URL-safe base64 (256 bits from the OS's generator)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The hex sha256 of a key (what is stored)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def now_iso() -> str:
    """The current UTC time, to the second, ISO 8601 with Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def match(presented: str, records: list[KeyRecord]) -> KeyRecord | None:
    """The live record whose hash is the presented key's, compared in constant time against every record."""
    digest = hash_key(presented).encode()
    found = None
    for r in records:
        same = hmac.compare_digest(digest, r.sha256.encode())
        if same and r.revoked is None:
            found = r
    return found


def check_name(name: str) -> str:
    """The name, or BadInputError saying what a key name may be."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadInputError(f"{name!r} is not a usable key name",
                            "use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return name


def plan_add(records: list[KeyRecord], name: str, role: str, created: str, key: str) -> KeyRecord:
    """The record to add for a new key, or BadInputError when the name or role cannot be used."""
    check_name(name)
    try:
        role_ = Role(role)
    except ValueError:
        raise BadInputError(f"{role!r} is not a role", "use reader, editor or admin") from None
    for r in records:
        if r.name == name:
            state = f"was revoked on {r.revoked}" if r.revoked else "exists"
            raise BadInputError(f"a key named {name!r} {state}",
                                "choose another name (names are never reused, so the audit trail stays unambiguous)")
    return KeyRecord(name, role_, hash_key(key), created)


def plan_revoke(records: list[KeyRecord], name: str, when: str) -> list[KeyRecord]:
    """The records with this name's key revoked, or BadInputError when there is no live key of that name."""
    if not any(r.name == name for r in records):
        raise BadInputError(f"there is no key named {name!r}", "see `rag keys list`")
    if any(r.name == name and r.revoked for r in records):
        raise BadInputError(f"the key named {name!r} is already revoked")
    return [replace(r, revoked=when) if r.name == name else r for r in records]


class KeyTable(Protocol):
    """Where key records are kept."""

    def load(self) -> list[KeyRecord]:
        """Every record, in the order made."""

    def stamp(self) -> Any:
        """Something that changes when the records change (cheap to read)."""

    def add(self, record: KeyRecord) -> None:
        """Store a new record (names are unique)."""

    def revoke(self, name: str, when: str) -> None:
        """Mark the named key revoked."""


class FileKeys:
    """`keys.json` beside the FAISS index: rewritten whole, atomically, under a lock."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / KEYS_FILE

    def load(self) -> list[KeyRecord]:
        """Every record ([] when no key was ever made)."""
        import json

        if not self.path.is_file():
            return []
        return [KeyRecord.from_dict(d) for d in json.loads(self.path.read_text(encoding="utf-8"))["keys"]]

    def stamp(self) -> Any:
        """The file's modification time and size (None when missing)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _rewrite(self, change: Any) -> None:
        with file_lock(self.path):
            records = change(self.load())
            write_json_atomic(self.path, {"keys": [r.to_dict() for r in records]})
            self.path.chmod(0o600)

    def add(self, record: KeyRecord) -> None:
        """Add a record (checked again under the lock)."""
        def change(records: list[KeyRecord]) -> list[KeyRecord]:
            plan_add(records, record.name, record.role.value, record.created, "")  # the name is still free
            return [*records, record]

        self._rewrite(change)

    def revoke(self, name: str, when: str) -> None:
        """Revoke the named key (checked again under the lock)."""
        self._rewrite(lambda rs: plan_revoke(rs, name, when))


class PostgresKeys:
    """The `rag_keys` table in the store's database."""

    TABLE = ("CREATE TABLE IF NOT EXISTS rag_keys (name text PRIMARY KEY, role text NOT NULL, sha256 text NOT NULL, "
             "created text NOT NULL, revoked text)")

    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        from rag.errors import IndexError_

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as e:
            raise IndexError_(f"cannot connect to PostgreSQL for the keys: {str(e).splitlines()[0]}",
                              "check that the server is running and the store URL") from e
        conn.execute(self.TABLE)
        return conn

    def load(self) -> list[KeyRecord]:
        """Every record, in the order made."""
        with self._connect() as conn:
            rows = conn.execute("SELECT name, role, sha256, created, revoked FROM rag_keys ORDER BY created, name")
            return [KeyRecord(n, Role(r), h, c, v) for n, r, h, c, v in rows.fetchall()]

    def stamp(self) -> Any:
        """Always new: the server re-reads the table at most once a second (see Keys)."""
        return time.monotonic() // 1

    def add(self, record: KeyRecord) -> None:
        """Insert the record (the primary key refuses a name already used)."""
        import psycopg

        with self._connect() as conn:
            try:
                conn.execute("INSERT INTO rag_keys VALUES (%s, %s, %s, %s, NULL)",
                             (record.name, record.role.value, record.sha256, record.created))
            except psycopg.errors.UniqueViolation:
                raise BadInputError(f"a key named {record.name!r} exists", "choose another name") from None

    def revoke(self, name: str, when: str) -> None:
        """Set the revocation time of the named live key."""
        with self._connect() as conn:
            done = conn.execute("UPDATE rag_keys SET revoked = %s WHERE name = %s AND revoked IS NULL", (when, name))
            if done.rowcount == 0:
                raise BadInputError(f"there is no live key named {name!r}", "see `rag keys list`")


class Keys:
    """The keys of one index: add, list, revoke, and check a presented key (records re-read when they change)."""

    def __init__(self, table: KeyTable | None) -> None:
        self.table = table
        self._stamp: Any = object()
        self._records: list[KeyRecord] = []

    @classmethod
    def of(cls, store: Store) -> Keys:
        """The keys kept with this store (a store of another kind has none and cannot have any)."""
        where = location(store)
        return cls(FileKeys(where) if isinstance(where, Path) else PostgresKeys(where) if where else None)

    def records(self) -> list[KeyRecord]:
        """Every record, revoked ones included (cached until the table changes)."""
        if self.table is None:
            return []
        stamp = self.table.stamp()
        if stamp != self._stamp:
            self._records, self._stamp = self.table.load(), stamp
        return self._records

    def configured(self) -> bool:
        """True once any key was made: from then on every request needs one."""
        return bool(self.records())

    def add(self, name: str, role: str) -> str:
        """Make a key and store its hash; returns the key (shown once, never stored)."""
        if self.table is None:
            raise BadInputError("this store cannot keep keys", "use the default FAISS store or PostgreSQL")
        key = new_key()
        self.table.add(plan_add(self.records(), name, role, now_iso(), key))
        self._stamp = object()
        return key

    def revoke(self, name: str) -> None:
        """Revoke the named key at once (its holder's next request is refused)."""
        if self.table is None:
            raise BadInputError("this store keeps no keys")
        plan_revoke(self.records(), name, now_iso())  # a clear error before touching the table
        self.table.revoke(name, now_iso())
        self._stamp = object()

    def check(self, presented: str) -> KeyRecord | None:
        """The live key record for a presented key (None when it is unknown or revoked)."""
        return match(presented, self.records())

    def by_name(self, name: str) -> KeyRecord | None:
        """The live key record with this name (None when there is none or it was revoked)."""
        return next((r for r in self.records() if r.name == name and r.revoked is None), None)
