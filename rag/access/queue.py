"""One queue for the model, shared by the API and the page: generations run one at a time in arrival order; a
waiting question knows its place; a question whose asker went away leaves the queue (or stops its generation); a
generation that runs past the time limit is stopped.

Retrieval and refusals that need no model never enter the queue: the queue is entered only when the assistant
starts the model (`QueuedGenerator.stream`), so a question refused on weak evidence or language is answered beside
the generations instead of behind them.

Each question runs in its own thread (`Pump`) with its `Request` as the current one; the caller (a server
response or the page's handler) takes the events from the pump. A caller that stops taking them for `stale_after`
seconds (a page closed, a connection dropped) counts as gone, like one that cancels explicitly.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from contextvars import ContextVar
from typing import Any, Callable, Iterable, Iterator

from rag.backends.generators.base import GenerationReport, Generator, Messages
from rag.errors import Cancelled, LimitError

STALE_AFTER = 5.0  # seconds without the caller taking events: the asker is gone


class Request:
    """One question's place in line: whose it is, whether its asker is still there, what it waited."""

    def __init__(self, owner: str, stale_after: float | None = STALE_AFTER) -> None:
        self.owner = owner
        self.stale_after = stale_after
        self.waited: float | None = None  # seconds spent waiting for the model (None: it never needed the model)
        self.position: int | None = None  # questions ahead while waiting; 0 while the model answers this one
        self._cancelled = threading.Event()
        self._seen = time.monotonic()

    def cancel(self) -> None:
        """The asker went away: leave the queue, stop the generation."""
        self._cancelled.set()

    def touch(self) -> None:
        """The asker is still there (called whenever the caller takes or waits for events)."""
        self._seen = time.monotonic()

    def gone(self) -> bool:
        """True when cancelled, or when the caller has not looked for stale_after seconds."""
        stale = self.stale_after is not None and time.monotonic() - self._seen > self.stale_after
        return self._cancelled.is_set() or stale


CURRENT: ContextVar[Request | None] = ContextVar("rag_request", default=None)


def gone_error() -> Cancelled:
    """The error that ends the work of an asker who left."""
    return Cancelled("the asker went away; the question was dropped")


class GenerationQueue:
    """A fair (first come, first served) queue for one model, whose waiters can leave and see their place."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._line: list[Request] = []
        self._serving: Request | None = None
        self.typical_s = 10.0  # a running average of generation seconds, for Retry-After estimates

    def _renumber(self) -> None:
        busy = 1 if self._serving is not None else 0
        for i, r in enumerate(self._line):
            r.position = i + busy

    def acquire(self, req: Request) -> None:
        """Wait for the model in arrival order; Cancelled (and out of the line) when the asker goes away."""
        with self._cond:
            self._line.append(req)
            self._renumber()
            try:
                while self._serving is not None or self._line[0] is not req:
                    if req.gone():
                        raise gone_error()
                    self._cond.wait(timeout=0.2)
            except BaseException:
                self._line.remove(req)
                self._renumber()
                self._cond.notify_all()
                raise
            self._line.pop(0)
            self._serving = req
            req.position = 0
            self._renumber()

    def release(self, req: Request, seconds: float) -> None:
        """The model is free again; the next in line goes."""
        with self._cond:
            if self._serving is req:
                self._serving = None
            self.typical_s = 0.7 * self.typical_s + 0.3 * seconds
            req.position = None
            self._renumber()
            self._cond.notify_all()

    def state(self) -> dict[str, Any]:
        """How many wait and whether the model is answering now."""
        with self._cond:
            return {"waiting": len(self._line), "answering": self._serving is not None,
                    "typical_generation_s": round(self.typical_s, 1)}


def time_limit_error(limit: float) -> LimitError:
    """The error for a generation stopped at the time limit."""
    return LimitError(f"the answer took longer than {limit:g} s, the limit for one answer, and was stopped",
                      "ask a narrower question or for a shorter answer (the generation_timeout setting)",
                      status=503)


class QueuedGenerator:
    """A generator whose every generation first takes its turn in the queue, for the current Request."""

    def __init__(self, inner: Generator, queue_: GenerationQueue, time_limit: float | None) -> None:
        self.inner = inner
        self.queue = queue_
        self.time_limit = time_limit
        self.name = inner.name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)  # warm_up, count_tokens, lock... of the wrapped generator

    def stream(self, messages: Messages, max_tokens: int, temperature: float,
               report: GenerationReport | None = None) -> Iterator[str]:
        """Wait for the turn, then stream the inner generator's pieces (stopped when the asker leaves or time is up)."""
        req = CURRENT.get() or Request("local", stale_after=None)
        t0 = time.monotonic()
        self.queue.acquire(req)
        start = time.monotonic()
        req.waited = (req.waited or 0.0) + (start - t0)
        pieces = self.inner.stream(messages, max_tokens, temperature, report)
        try:
            for piece in pieces:
                if req.gone():
                    raise gone_error()
                if self.time_limit and time.monotonic() - start > self.time_limit:
                    raise time_limit_error(self.time_limit)
                yield piece
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()
            self.queue.release(req, time.monotonic() - start)


def queued(generator: Generator, queue_: GenerationQueue, time_limit: float | None) -> Generator:
    """The generator with its generations going through this queue (as it is, when it already goes through one)."""
    return generator if isinstance(generator, QueuedGenerator) else QueuedGenerator(generator, queue_, time_limit)


ITEM, ERROR, END = "item", "error", "end"
NOTHING_YET, FINISHED = object(), object()  # what Pump.poll returns besides an item


class Pump:
    """Runs an iterator in a thread of its own, with a Request as the current one, and hands its items over."""

    def __init__(self, req: Request, make: Callable[[], Iterable[Any]]) -> None:
        self.req = req
        self._items: queue.Queue[tuple[str, Any]] = queue.Queue()
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run, make), daemon=True,
                                        name=f"question-{req.owner}")
        self._thread.start()

    def _run(self, make: Callable[[], Iterable[Any]]) -> None:
        CURRENT.set(self.req)
        it = None
        try:
            it = iter(make())
            for item in it:
                self._items.put((ITEM, item))
                if self.req.gone():
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the caller, who decides
            self._items.put((ERROR, e))
        finally:
            close = getattr(it, "close", None)
            if close:
                close()
            self._items.put((END, None))

    def take(self, timeout: float | None) -> tuple[str, Any] | None:
        """The next (kind, value): ITEM and its value, ERROR and the exception, END; None when none came in time."""
        self.req.touch()
        try:
            got = self._items.get(timeout=timeout) if timeout else self._items.get_nowait()
        except queue.Empty:
            return None
        finally:
            self.req.touch()
        return got

    def poll(self, timeout: float | None) -> Any:
        """The next item; NOTHING_YET when none came in time, FINISHED after the last (the iterator's error raised)."""
        got = self.take(timeout)
        if got is None:
            return NOTHING_YET
        kind, value = got
        if kind == ERROR:
            raise value
        return FINISHED if kind == END else value

    def done(self) -> bool:
        """True once the thread has finished."""
        return not self._thread.is_alive()
