"""The base of every backend's own options: the [FAMILY.KIND] section of the settings file, checked by a model the
backend class owns (unknown names and bad values are errors, options are immutable and hashable)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BackendOptions(BaseModel):
    """A backend's options: subclass it as the backend's `Options`, one field per option with its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(BackendOptions):
    """A backend with no options of its own (its target says everything)."""
