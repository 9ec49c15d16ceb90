"""Expected failures: each carries a message for the user and the exit code the CLI returns."""

from __future__ import annotations


class RagError(Exception):
    """An expected, explainable failure (shown without a traceback)."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class BadInputError(RagError):
    """The user's input (a question, a path, an uploaded file) cannot be used."""

    exit_code = 2


class IndexError_(RagError):
    """The index is missing, corrupt, or was built with other settings."""

    exit_code = 3


class ModelError(RagError):
    """A model is missing, fails its checksum, or cannot be loaded."""

    exit_code = 4
