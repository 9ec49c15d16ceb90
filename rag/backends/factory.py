"""The one place that turns settings into backends: which embedder, generator and store this process uses.

The settings choose a kind in each registry (rag.backends.registry); its class builds the backend from the settings
it reads. Models are heavy, so each distinct embedder and generator is made once per process and shared.
"""

from __future__ import annotations

import threading
from typing import Any

from rag.backends.embedders.base import Embedder
from rag.backends.generators.base import Generator
from rag.backends.registry import (EMBEDDERS, GENERATORS, STORES, Choice, backend_class, backend_options,
                                   choose_embedder, choose_generator, choose_store)
from rag.backends.stores.base import Store
from rag.settings import Settings

_LOCK = threading.Lock()
_SHARED: dict[tuple[Any, ...], Any] = {}


def _shared(key: tuple[Any, ...], make: Any) -> Any:
    with _LOCK:
        if key not in _SHARED:
            _SHARED[key] = make()
        return _SHARED[key]


def _build(family: str, registry: dict[str, str], choice: Choice, settings: Settings, shared: bool = True) -> Any:
    """The backend of this kind for this target; `shared`: one per distinct target, options and settings it reads."""
    cls = backend_class(registry, choice.kind)
    options = backend_options(settings, family, choice.kind)
    if not shared:
        return cls.from_settings(choice.target, options, settings)
    key = (registry[choice.kind], choice.target, options, *(getattr(settings, name) for name in cls.reads))
    return _shared(key, lambda: cls.from_settings(choice.target, options, settings))


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings choose (loaded lazily, shared in this process)."""
    return _build("embedder", EMBEDDERS, choose_embedder(settings), settings)


def make_generator(settings: Settings, own: bool = False) -> Generator:
    """The generator the settings choose (a local GGUF loaded lazily, or a client for a model server); `own`: not
    the process's shared one, so its context (and llama.cpp's cache of the previous prompt) is its own."""
    return _build("generator", GENERATORS, choose_generator(settings), settings, shared=not own)


def make_store(settings: Settings) -> Store:
    """The store the settings choose: FAISS files in index_dir, or a PostgreSQL database (a new handle each time)."""
    return _build("store", STORES, choose_store(settings), settings, shared=False)
