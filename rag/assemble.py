"""Settings -> an Assistant with the components they name; above answer/, so the backends never import it."""

from __future__ import annotations

from rag.answer.assistant import Assistant
from rag.backends.factory import make_embedder, make_generator, make_store
from rag.settings import Settings


def make_assistant(settings: Settings, own_generator: bool = False) -> Assistant:
    """An Assistant with the embedder, generator and store these settings name (models load on first use);
    `own_generator`: a generator of its own rather than the process's shared one (see make_generator)."""
    return Assistant(settings, make_embedder(settings), make_generator(settings, own=own_generator),
                     make_store(settings))
