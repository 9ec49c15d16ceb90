"""The default embedder: a sentence-transformers model with the e5 query/passage prefixes."""

from __future__ import annotations

import os
import threading

import numpy as np

from rag.backends.embedders.base import LocalEmbedder
from rag.errors import ModelError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub unless the user asks
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_LOCK = threading.RLock()


class SentenceTransformerEmbedder(LocalEmbedder):
    """A sentence-transformers model (loaded on first use) with the e5 query/passage prefixes."""

    _model = None
    _dim: int | None = None

    @property
    def model(self):  # noqa: ANN201 - SentenceTransformer, imported lazily
        """The loaded model."""
        with _LOCK:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
                hf_logging.set_verbosity_error()
                try:
                    self._model = SentenceTransformer(self.location, device="cpu")
                except Exception as e:  # a wrong id/path or a broken folder
                    raise ModelError(f"cannot load embedder {self.name!r} from {self.location}: {e}") from e
                dim_of = (getattr(self._model, "get_embedding_dimension", None)
                          or self._model.get_sentence_embedding_dimension)
                self._dim = int(dim_of())
            return self._model

    @property
    def dim(self) -> int:
        """Vector length."""
        if self._dim is None:
            _ = self.model
        return self._dim  # type: ignore[return-value]

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        v = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=show_progress
        )
        return np.asarray(v, dtype=np.float32)
