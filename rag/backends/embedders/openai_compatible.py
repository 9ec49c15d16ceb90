"""An embedder behind any OpenAI-compatible `/v1/embeddings` server (`openai:http://HOST:PORT/v1`): llama.cpp's
server with an embedding GGUF, vLLM, Ollama, Hugging Face text-embeddings-inference, so a team can embed an archive
on a bigger machine. The e5 query/passage prefixes are added here, the server sees plain texts; vectors are
normalised here to unit length, as the stores expect.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from rag.backends.embedders.base import PrefixedEmbedder
from rag.backends.options import BackendOptions
from rag.backends.openai_server import first_model
from rag.errors import ModelError

if TYPE_CHECKING:
    from rag.settings import Settings

REQUEST_TEXTS = 64  # texts per request


class OpenAICompatibleEmbedder(PrefixedEmbedder):
    """The Embedder protocol over an embeddings endpoint, through the `openai` client."""

    class Options(BackendOptions):
        """[embedder.openai] (also the flat embedder_model, embedder_api_key, embedder_timeout)."""

        model: str | None = Field(None, description="model name on the server (default: its first)")
        api_key: str = Field("not-needed", description="API key, if the server wants one")
        timeout: float = Field(120.0, gt=0, description="seconds to wait for the server")

    reads = ("embedder", "embedder_backend", "query_prefix", "passage_prefix")

    @classmethod
    def from_settings(cls, target: str, options: OpenAICompatibleEmbedder.Options,
                      settings: Settings) -> OpenAICompatibleEmbedder:
        """The embedder of the server at `target` (its model: the option, else the server's first)."""
        from rag.backends.models import embedder_identity

        return cls(embedder_identity(settings), target, options.model, options.api_key,
                   settings.query_prefix, settings.passage_prefix, options.timeout)

    def __init__(self, name: str, base_url: str, model: str | None, api_key: str, query_prefix: str,
                 passage_prefix: str, timeout: float = 120.0) -> None:
        import openai

        self.name = name
        self.base_url = base_url.rstrip("/")
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=2)
        self._model, self._dim = model, None
        self._lock = threading.Lock()

    def _failed(self, e: Exception) -> ModelError:
        return ModelError(f"the embedding server at {self.base_url} did not answer ({type(e).__name__}: {e})",
                          "start it (e.g. `python -m llama_cpp.server --model EMBEDDER.gguf --embedding true`) or "
                          "fix RAG_EMBEDDER")

    @property
    def model(self) -> str:
        """The model to ask for: the configured one, else the server's first."""
        with self._lock:
            if self._model is None:
                self._model = first_model(self.client, self.base_url, self._failed, "embedding", "RAG_EMBEDDER_MODEL")
            return self._model

    @property
    def dim(self) -> int:
        """Vector length (asked of the server once, with a probe text)."""
        if self._dim is None:
            self._dim = int(self._embed(["dim"]).shape[1])
        return self._dim

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for texts as they are (no prefix), REQUEST_TEXTS per request."""
        import openai

        rows = []
        for start in range(0, len(texts), REQUEST_TEXTS):
            part = texts[start:start + REQUEST_TEXTS]
            try:
                reply = self.client.embeddings.create(model=self.model, input=part, encoding_format="float")
            except openai.OpenAIError as e:
                raise self._failed(e) from e
            data = sorted(reply.data, key=lambda d: d.index)
            if len(data) != len(part):
                raise ModelError(f"the embedding server at {self.base_url} returned {len(data)} vectors for "
                                 f"{len(part)} texts")
            rows.append(np.asarray([d.embedding for d in data], dtype=np.float32))
        vectors = np.vstack(rows)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        return self._embed(texts) if texts else np.zeros((0, self.dim), dtype=np.float32)
