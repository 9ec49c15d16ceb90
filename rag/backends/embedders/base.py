"""The embedder protocol: texts -> unit-length float32 vectors, with the query/passage distinction e5 needs."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Encodes queries and passages into unit-length float32 vectors of `dim` numbers."""

    name: str
    dim: int

    def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """One row per passage (len(texts) x dim)."""

    def embed_query(self, text: str) -> np.ndarray:
        """One vector for a search query."""
