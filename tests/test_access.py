"""Keys, roles, limits, the model's queue, exposure, the audit trail and removal: the pure decisions, and the
ingest/remove path on the real FAISS store (fake embedder; the real servers are in test_server_access.py)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from rag.access import audit as audit_mod
from rag.access.audit import Actor, AuditLog, Entry, check_since, done_entries, fold, settle, withheld
from rag.access.exposure import check_exposure, is_loopback
from rag.access.guard import Guard
from rag.access.keys import (Action, FileKeys, KeyRecord, Keys, Role, hash_key, least_role, match, may, new_key,
                             plan_add, plan_revoke)
from rag.access.limits import InFlight, RateLimits, retry_after
from rag.access.queue import CURRENT, GenerationQueue, Pump, QueuedGenerator, Request
from rag.answer.assistant import upload_name
from rag.backends.embedders.fake import FakeEmbedder
from rag.backends.stores.faiss_files import FaissStore
from rag.errors import AccessError, BadInputError, Cancelled, LimitError, NotFoundError
from rag.ingest.run import ingest, remove_articles
from tests.conftest import SEEDS, make_settings
from tests.test_duplicates_filters import ORIGINAL, syndicated_copy

LAOS = "001_5588f0be4399d35c"


# ------------------------------------------------------------------------------------------------ keys and roles


def test_roles_include_the_ones_below() -> None:
    assert [a for a in Action if may(Role.READER, a)] == [Action.ASK, Action.LIST]
    assert may(Role.EDITOR, Action.EDIT) and not may(Role.EDITOR, Action.MANAGE)
    assert all(may(Role.ADMIN, a) for a in Action)
    assert least_role(Action.EDIT) == Role.EDITOR and least_role(Action.MANAGE) == Role.ADMIN


def test_keys_are_random_and_only_their_hash_matches() -> None:
    a, b = new_key(), new_key()
    assert a != b and a.startswith("rag_") and len(a) >= 4 + 43  # 32 bytes, URL-safe base64
    records = [KeyRecord("ana", Role.READER, hash_key(a), "t"), KeyRecord("bo", Role.ADMIN, hash_key(b), "t")]
    assert match(a, records).name == "ana" and match(b, records).name == "bo"
    assert match(a[:-1], records) is None and match("", records) is None
    assert match(a, [KeyRecord("ana", Role.READER, hash_key(a), "t", revoked="t2")]) is None


def test_adding_and_revoking_refuse_what_cannot_be_done() -> None:
    records = [KeyRecord("ana", Role.READER, "h", "t"), KeyRecord("old", Role.EDITOR, "h2", "t", revoked="t1")]
    with pytest.raises(BadInputError, match="exists"):
        plan_add(records, "ana", "reader", "t", "k")
    with pytest.raises(BadInputError, match="was revoked"):
        plan_add(records, "old", "reader", "t", "k")  # names are never reused
    with pytest.raises(BadInputError, match="not a role"):
        plan_add(records, "cy", "owner", "t", "k")
    for bad in ("", "a b", "../x", "x" * 65, "-lead"):
        with pytest.raises(BadInputError, match="not a usable key name"):
            plan_add(records, bad, "reader", "t", "k")
    assert plan_add(records, "cy", "editor", "t", "k").sha256 == hash_key("k")
    with pytest.raises(BadInputError, match="no key named"):
        plan_revoke(records, "nobody", "t")
    with pytest.raises(BadInputError, match="already revoked"):
        plan_revoke(records, "old", "t")
    assert [r.revoked for r in plan_revoke(records, "ana", "t9")] == ["t9", "t1"]


def test_key_file_keeps_hashes_only_and_is_seen_by_another_process_object(tmp_path: Path) -> None:
    keys = Keys(FileKeys(tmp_path))
    assert not keys.configured()
    key = keys.add("ana", "editor")
    text = (tmp_path / "keys.json").read_text()
    assert key not in text and hash_key(key) in text
    assert oct((tmp_path / "keys.json").stat().st_mode & 0o777) == "0o600"
    assert not list(tmp_path.glob(".keys.json.tmp"))
    other = Keys(FileKeys(tmp_path))  # e.g. the running server
    assert other.check(key).role == Role.EDITOR
    keys.revoke("ana")
    assert other.check(key) is None and other.configured()  # revoking every key never makes a server open


# ------------------------------------------------------------------------------------------------ exposure


def test_without_keys_only_loopback_is_served_unless_open() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.8.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("::")
    assert check_exposure("127.0.0.1", keyed=False, open_=False) is None
    assert check_exposure("0.0.0.0", keyed=True, open_=False) is None
    with pytest.raises(BadInputError, match="refusing to serve on 0.0.0.0 without keys") as e:
        check_exposure("0.0.0.0", keyed=False, open_=False)
    assert "rag keys add" in e.value.hint and "--open" in e.value.hint
    assert "anyone who can reach" in check_exposure("0.0.0.0", keyed=False, open_=True)


# ------------------------------------------------------------------------------------------------ limits


def test_requests_a_minute_are_limited_per_key_with_a_retry_time() -> None:
    rate = RateLimits(2)
    rate.hit("ana"), rate.hit("ana"), rate.hit("bo")
    with pytest.raises(LimitError) as e:
        rate.hit("ana")
    assert e.value.status == 429 and 1 <= e.value.retry_after <= 60 and "2 requests" in e.value.message
    off = RateLimits(0)
    for _ in range(500):
        off.hit("ana")
    assert retry_after(100.2, 100.0) == 1 and retry_after(130.5, 100.0) == 31


def test_questions_in_flight_are_limited_per_key_and_freed_when_done() -> None:
    flight = InFlight(2)
    with flight.admit("ana"), flight.admit("ana"):
        with flight.admit("bo"):
            pass
        with pytest.raises(LimitError, match="2 questions waiting") as e:
            with flight.admit("ana", wait_s=7):
                pass
        assert e.value.retry_after == 7
    assert flight.count("ana") == 0
    with flight.admit("ana"):
        assert flight.count("ana") == 1


def test_guard_tells_missing_invalid_and_forbidden_keys_apart(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    guard = Guard(s, FaissStore(s.index_dir))
    anyone = guard.identify(None, "127.0.0.1")
    assert anyone.name == "anonymous@127.0.0.1"  # no keys: as before, and without limits on loopback
    for _ in range(s.rate_limit_per_minute + s.max_waiting_per_key + 1):
        guard.count(anyone)
    with guard.asking(anyone), guard.asking(anyone), guard.asking(anyone), guard.asking(anyone):
        pass
    guard.limit_anonymous = True  # --open on its network: limits by address
    with pytest.raises(LimitError):
        for _ in range(s.rate_limit_per_minute + 1):
            guard.count(anyone)
    key = guard.keys.add("rita", "reader")
    with pytest.raises(AccessError, match="needs a key") as e:
        guard.identify(None, "x")
    assert e.value.status == 401
    with pytest.raises(AccessError, match="sent in the x-api-key header"):
        guard.identify(None, "x", "the x-api-key header")
    with pytest.raises(AccessError, match="not valid"):
        guard.identify("rag_nope", "x")
    rita = guard.identify(key, "x")
    guard.require(rita, Action.ASK)
    with pytest.raises(AccessError, match="needs an editor key") as e:
        guard.require(rita, Action.EDIT)
    assert e.value.status == 403
    assert guard.page_login("rita", key) and not guard.page_login("someone", key)
    guard.keys.revoke("rita")
    with pytest.raises(AccessError, match="revoked"):
        guard.page_user("rita", "x")


# ------------------------------------------------------------------------------------------------ the queue


class SlowGenerator:
    """A stand-in model for the queue's logic: yields `n` pieces, `delay` seconds apart."""

    name = "slow"

    def __init__(self, n: int = 5, delay: float = 0.05) -> None:
        self.n, self.delay, self.closed = n, delay, 0

    def stream(self, messages, max_tokens, temperature, report=None) -> Iterator[str]:  # noqa: ANN001
        try:
            for i in range(self.n):
                time.sleep(self.delay)
                yield f"p{i} "
        finally:
            self.closed += 1


def _generate(gen: QueuedGenerator, req: Request, out: dict[str, object]) -> None:
    CURRENT.set(req)
    try:
        out[req.owner] = "".join(gen.stream([], 8, 0.0))
    except Exception as e:  # noqa: BLE001
        out[req.owner] = e


def test_queue_serves_in_order_shows_places_and_lets_a_waiter_leave() -> None:
    q = GenerationQueue()
    gen = QueuedGenerator(SlowGenerator(n=10, delay=0.12), q, time_limit=None)
    reqs = [Request(name, stale_after=None) for name in ("a", "b", "c")]
    out: dict[str, object] = {}
    threads = []
    for r in reqs:
        t = threading.Thread(target=_generate, args=(gen, r, out))
        t.start()
        threads.append(t)
        time.sleep(0.1)
    assert [r.position for r in reqs] == [0, 1, 2] and q.state()["waiting"] == 2
    reqs[1].cancel()  # b leaves the line: c moves up
    time.sleep(0.3)
    assert reqs[2].position == 1 and q.state()["waiting"] == 1
    for t in threads:
        t.join()
    assert out["a"] == out["c"] == "".join(f"p{i} " for i in range(10))
    assert isinstance(out["b"], Cancelled) and reqs[1].waited is None
    assert reqs[2].waited > 0.8 and q.state() == {"waiting": 0, "answering": False,
                                                   "typical_generation_s": q.state()["typical_generation_s"]}


def test_a_generation_stops_at_the_time_limit_or_when_its_asker_is_gone() -> None:
    inner = SlowGenerator(n=50, delay=0.05)
    q = GenerationQueue()
    out: dict[str, object] = {}
    _generate(QueuedGenerator(inner, q, time_limit=0.3), Request("late", stale_after=None), out)
    assert isinstance(out["late"], LimitError) and out["late"].status == 503 and "0.3 s" in out["late"].message
    stale = Request("gone", stale_after=0.2)  # nobody takes its events: it counts as gone
    _generate(QueuedGenerator(inner, q, time_limit=None), stale, out)
    assert isinstance(out["gone"], Cancelled)
    assert inner.closed == 2 and not q.state()["answering"]  # the model was freed both times


def test_pump_hands_over_items_and_errors() -> None:
    pump = Pump(Request("a"), lambda: iter([1, 2]))
    got = [pump.take(2) for _ in range(3)]
    assert got == [("item", 1), ("item", 2), ("end", None)]

    def boom() -> Iterator[int]:
        yield 1
        raise BadInputError("bad")

    pump = Pump(Request("a"), boom)
    kinds = [pump.take(2)[0] for _ in range(3)]
    assert kinds == ["item", "error", "end"]


# ------------------------------------------------------------------------------------------------ audit logic


def _entry(action: str, via: str = "ingest", source: str = "/a.txt", t: str = "2026-12-01T00:00:00Z") -> dict:
    return Entry(t, "cli:me", via, action, "a", "A", source, None, "h").to_dict()


def test_only_writes_that_landed_are_shown_and_a_torn_write_is_settled_by_the_store_version() -> None:
    records = [
        {"write": "w1", "state": "pending", "base": None, "entries": [_entry("add")]},
        {"write": "w1", "state": "done"},
        {"write": "w2", "state": "pending", "base": "gen-1", "entries": [_entry("update")]},
        {"write": "w2", "state": "aborted"},
        {"write": "w3", "state": "pending", "base": "gen-1", "entries": [_entry("remove", "remove")]},
        {"write": "w2", "state": "done"},  # a state never changes once settled
    ]
    writes = fold(records)
    assert [w.state for w in writes] == ["done", "aborted", "pending"]
    assert [e.action for e in done_entries(writes)] == ["add"]
    assert settle("gen-1", "gen-1") == "aborted" and settle("gen-1", "gen-2") == "done"
    assert settle(None, None) == "aborted" and settle(None, "gen-1") == "done"


def test_removed_on_purpose_is_withheld_until_added_again() -> None:
    entries = [Entry(**_entry("add")), Entry(**_entry("remove", "remove")),
               Entry(**_entry("add", source="/b.txt")), Entry(**_entry("remove", "ingest", source="/b.txt"))]
    assert list(withheld(entries)) == [("/a.txt", None)]  # /b.txt's file went: it may come back
    assert withheld([*entries, Entry(**_entry("add", "upload"))]) == {}
    assert check_since("2026-12") == "2026-12" and check_since("2026-12-01 10:00") == "2026-12-01T10:00"
    with pytest.raises(BadInputError, match="not a date"):
        check_since("yesterday")


def test_upload_names_must_be_plain() -> None:
    assert upload_name("berita.txt") == "berita.txt"
    for bad in ("../../etc/passwd.txt", "a/b.txt", "..\\x.txt", ".hidden.txt", "a\x00.txt", "", "x" * 300):
        with pytest.raises(BadInputError):
            upload_name(bad)


# ------------------------------------------------------------------------------------------------ ingest and remove


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    arts = tmp_path / "articles"
    shutil.copytree(SEEDS, arts)
    (arts / "copy_tulungagung.txt").write_text(syndicated_copy(ORIGINAL.read_text(encoding="utf-8")),
                                               encoding="utf-8")
    return arts


def test_remove_is_audited_promotes_the_copy_and_ingest_leaves_it_out(folder: Path, tmp_path: Path) -> None:
    s, emb = make_settings(tmp_path), FakeEmbedder()
    store = FaissStore(s.index_dir)
    ingest([folder], s, store, emb, progress=False, actor=Actor("cli:tester", "ingest"))
    trail = AuditLog.of(store)
    assert sorted(e.action for e in trail.read()) == ["add"] * 6
    original = ORIGINAL.stem
    assert store.snapshot().document("copy_tulungagung").duplicate_of == original

    with pytest.raises(NotFoundError, match="nothing was removed"):
        remove_articles([LAOS, "no-such-id"], s, store, emb)
    assert len(store.snapshot().article_ids()) == 6 and len(trail.read()) == 6

    report = remove_articles([original], s, store, emb, Actor("ed", "remove"))
    view = store.snapshot()
    assert original not in view.article_ids() and report.updated == ["copy_tulungagung"]
    assert view.document("copy_tulungagung").duplicate_of is None and view.sentence_range("copy_tulungagung")[1] > 0
    assert (folder / ORIGINAL.name).exists()  # the file stays
    last = trail.read()[-2:]
    assert [(e.actor, e.action, e.article_id) for e in last] == [("ed", "update", "copy_tulungagung"),
                                                                  ("ed", "remove", original)]
    assert "it was a copy of" in last[0].note and last[1].source_file == str((folder / ORIGINAL.name).resolve())

    again = ingest([folder], s, store, emb, progress=False)
    assert original not in store.snapshot().article_ids() and not again.added
    assert "removed by ed" in again.summary() and "--restore" in again.summary()
    back = ingest([folder], s, store, emb, progress=False, restore=True)
    assert back.added == [original] and original in store.snapshot().article_ids()
    view = store.snapshot()  # one story again: the one indexed meanwhile stays canonical, as ingest decides
    assert view.document(original).duplicate_of == "copy_tulungagung" 
    assert trail.read()[-1].action in ("add", "update") and trail.read(since="2999") == []

    report = remove_articles([LAOS], s, store, emb, delete_files=True)
    assert report.deleted_files == [str((folder / f"{LAOS}.txt").resolve())] and not (folder / f"{LAOS}.txt").exists()


def test_a_removal_that_embeds_nothing_loads_no_embedder(tmp_path: Path) -> None:
    """Removing an article with no copy to promote writes no vectors, so it must not need the embedder's model."""
    s = make_settings(tmp_path)
    store = FaissStore(s.index_dir)
    ingest([SEEDS], s, store, FakeEmbedder(), progress=False)

    class UnloadableEmbedder(FakeEmbedder):
        @property
        def dim(self) -> int:  # what a lazy model-backed embedder does first: load the model
            raise RuntimeError("the embedder's model was loaded")

        @dim.setter
        def dim(self, value: int) -> None:
            pass

        def embed_passages(self, texts, show_progress=False):  # noqa: ANN001, ANN201
            raise RuntimeError("the embedder's model was loaded")

    before = store.fingerprint()
    report = remove_articles([LAOS], s, store, UnloadableEmbedder())
    assert report.removed == [LAOS] and report.embedded_chunks == 0
    view = store.snapshot()
    assert LAOS not in view.article_ids() and len(view.article_ids()) == 4
    assert store.fingerprint() == before  # same vectors' length and build settings as before the removal


def test_a_failed_write_leaves_no_audit_entry(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    store = FaissStore(s.index_dir)
    ingest([SEEDS], s, store, FakeEmbedder(), progress=False)

    class Broken(FakeEmbedder):
        def embed_passages(self, texts, show_progress=False):  # noqa: ANN001, ANN201
            raise RuntimeError("embedder died mid-write")

    new = tmp_path / "new"
    new.mkdir()
    (new / "kopi.txt").write_text("Ekspor Kopi Naik\n\nEkspor kopi Indonesia naik dua belas persen tahun ini. "
                                  "Petani di Aceh dan Lampung menikmati harga yang lebih baik.\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        ingest([new], s, store, Broken(), progress=False)
    trail = AuditLog.of(store)
    assert len(trail.read()) == 5 and "kopi" not in store.snapshot().article_ids()
    states = [json.loads(x).get("state") for x in (s.index_dir / "audit.jsonl").read_text().splitlines()]
    assert states == ["pending", "done", "pending", "aborted"]


def test_a_pending_write_found_later_is_settled_by_what_the_store_holds(folder: Path, tmp_path: Path) -> None:
    """A writer killed after the store switched but before it marked the write done: the next reader finds it."""
    s = make_settings(tmp_path)
    store = FaissStore(s.index_dir)
    ingest([SEEDS], s, store, FakeEmbedder(), progress=False)
    original_finish = AuditLog.finish
    try:
        AuditLog.finish = lambda self, wid, landed: None  # the process "dies" before writing done
        ingest([folder], s, store, FakeEmbedder(), progress=False)
    finally:
        AuditLog.finish = original_finish
    assert "copy_tulungagung" in store.snapshot().article_ids()
    entries = AuditLog.of(store).read()
    assert "copy_tulungagung" in [e.article_id for e in entries] and len(entries) == 5 + 6  # the folder: 6 new files
    assert audit_mod.fold(audit_mod.read_lines(s.index_dir / "audit.jsonl"))[-1].state == "done"
