"""Dense vectors: a sentence-transformers model with the e5 query/passage prefixes, loaded once per process."""

from __future__ import annotations

import os
import threading

import numpy as np

from rag.errors import ModelError
from rag.models import resolve_embedder
from rag.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub unless the user asks
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_LOCK = threading.Lock()
_CACHE: dict[str, Embedder] = {}


class Embedder:
    """Encodes queries and passages into unit-length float32 vectors."""

    def __init__(self, name: str, location: str, query_prefix: str, passage_prefix: str, batch_size: int) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        hf_logging.set_verbosity_error()
        try:
            self.model = SentenceTransformer(location, device="cpu")
        except Exception as e:  # a wrong id/path or a broken folder
            raise ModelError(f"cannot load embedder {name!r} from {location}: {e}") from e
        self.name = name
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        v = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=show_progress
        )
        return np.asarray(v, dtype=np.float32)

    def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Vectors for passages (with the passage prefix)."""
        return self._encode([self.passage_prefix + t for t in texts], show_progress)

    def embed_query(self, text: str) -> np.ndarray:
        """One vector for a query (with the query prefix)."""
        return self._encode([self.query_prefix + text], False)[0]


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for these settings (loaded on first use)."""
    key = f"{settings.embedder}|{settings.query_prefix}|{settings.passage_prefix}"
    with _LOCK:
        if key not in _CACHE:
            location = resolve_embedder(settings.embedder, settings.cache_dir)
            _CACHE[key] = Embedder(
                settings.embedder, location, settings.query_prefix, settings.passage_prefix, settings.embed_batch_size
            )
        return _CACHE[key]
