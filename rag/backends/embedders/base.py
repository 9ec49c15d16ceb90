"""The embedder protocol: texts -> unit-length float32 vectors, with the query/passage distinction e5 needs; and
the prefixes and construction the embedders share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import Field

from rag.backends.options import BackendOptions

if TYPE_CHECKING:
    from rag.settings import Settings

E = TypeVar("E", bound="LocalEmbedder")


@runtime_checkable
class Embedder(Protocol):
    """Encodes queries and passages into unit-length float32 vectors of `dim` numbers."""

    name: str
    dim: int

    def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """One row per passage (len(texts) x dim)."""

    def embed_query(self, text: str) -> np.ndarray:
        """One vector for a search query."""


class PrefixedEmbedder:
    """The e5 query and passage prefixes around `_encode`, for every embedder here."""

    query_prefix: str
    passage_prefix: str

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        """Unit vectors for the texts as given (len(texts) x dim)."""
        raise NotImplementedError

    def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Vectors for passages (with the passage prefix)."""
        return self._encode([self.passage_prefix + t for t in texts], show_progress)

    def embed_query(self, text: str) -> np.ndarray:
        """One vector for a query (with the query prefix)."""
        return self._encode([self.query_prefix + text], False)[0]


class LocalEmbedder(PrefixedEmbedder):
    """An embedder whose model is on this machine (a folder found or made by `resolve_embedder`, loaded on first
    use); the registry builds it from its options and the settings in `reads`."""

    class Options(BackendOptions):
        """[embedder.onnx] / [embedder.torch]."""

        # ONNX: 8 per batch, a batch per core at once, was 1.5x 16 at a time (2 cores, loaded)
        batch_size: int = Field(8, ge=1, le=1024, description="texts per batch")

    reads = ("embedder", "embedder_backend", "cache_dir", "query_prefix", "passage_prefix")

    def __init__(self, name: str, location: str, query_prefix: str, passage_prefix: str, batch_size: int) -> None:
        self.name = name
        self.location = location
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size

    @classmethod
    def from_settings(cls: type[E], target: str, options: LocalEmbedder.Options, settings: Settings) -> E:
        """The embedder named `target` on the runtime the settings choose (its model found, or converted once)."""
        from rag.backends.models import embedder_identity, resolve_embedder
        from rag.backends.registry import embedder_runtime

        location = resolve_embedder(target, settings.cache_dir, embedder_runtime(settings))
        return cls(embedder_identity(settings), location, settings.query_prefix, settings.passage_prefix,
                   options.batch_size)
