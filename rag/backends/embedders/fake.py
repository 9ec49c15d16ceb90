"""A deterministic embedder for unit tests of pure logic: hashed bag of words, no model (never the default)."""

from __future__ import annotations

import hashlib
import re

import numpy as np


class FakeEmbedder:
    """Texts sharing words get similar vectors; identical texts get identical ones."""

    def __init__(self, dim: int = 64, name: str = "fake") -> None:
        self.name = name
        self.dim = dim

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """One row per text."""
        return np.vstack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One vector."""
        return self._one(text)
