"""Expected failures: each carries a message for the user and the exit code the CLI returns."""

from __future__ import annotations

from typing import Any


class RagError(Exception):
    """An expected, explainable failure (shown without a traceback)."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as the server sends it (the client raises it again with `error_from`)."""
        return {"error": self.message, "hint": self.hint, "exit_code": self.exit_code}


class BadInputError(RagError):
    """The user's input (a question, a path, an uploaded file) cannot be used."""

    exit_code = 2


class IndexError_(RagError):
    """The index is missing, corrupt, or was built with other settings."""

    exit_code = 3


class IndexMissingError(IndexError_):
    """Nothing was ingested yet where the settings point (the page then explains how to build an index)."""

    @classmethod
    def at(cls, where: object) -> IndexMissingError:
        """The error for a store with no index at `where` (a folder, or a database described without password)."""
        return cls(f"no index at {where}", "build it with `rag ingest` (default articles: seeds/)")


class ModelError(RagError):
    """A model is missing, fails its checksum, or cannot be loaded."""

    exit_code = 4


class AccessError(RagError):
    """A request without a valid key (401), or with a key whose role may not do this (403)."""

    exit_code = 5

    def __init__(self, message: str, hint: str | None = None, status: int = 401) -> None:
        super().__init__(message, hint)
        self.status = status


class LimitError(RagError):
    """A limit was reached (too many requests a minute, too many questions waiting, a body or answer too large or
    too slow); `retry_after` says in how many seconds trying again makes sense (None: not by waiting)."""

    exit_code = 6

    def __init__(self, message: str, hint: str | None = None, retry_after: int | None = None,
                 status: int = 429) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after
        self.status = status


class Cancelled(RagError):
    """The asker went away (closed the page or the connection): the work for them was stopped."""

    exit_code = 130


class NotFoundError(BadInputError):
    """What the input names does not exist (an article id, a key name): 404 on the server."""


def error_from(d: dict[str, Any]) -> RagError:
    """The error a server sent (`RagError.to_dict`), as the class its exit code names."""
    kinds = {c.exit_code: c for c in (BadInputError, IndexError_, ModelError, AccessError, LimitError)}
    return kinds.get(d.get("exit_code"), RagError)(d["error"], d.get("hint"))
