"""The openai: generator against a real OpenAI-compatible server: llama.cpp's `python -m llama_cpp.server`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from rag.assemble import make_assistant
from rag.backends.generators.base import GenerationReport
from rag.backends.generators.openai_compatible import OpenAICompatibleGenerator, refusal_mass
from rag.backends.models import resolve_gguf
from rag.errors import ModelError
from rag.settings import Settings
from tests.conftest import free_port, running

# llama_cpp.server, with the same AMX-safe model loading the in-process generator uses (llama.cpp#20824)
SERVER = (
    "import runpy, sys\n"
    "from rag.backends.generators.llama_cpp import _without_extra_buffers\n"
    "sys.argv[0] = 'llama_cpp.server'\n"
    "with _without_extra_buffers():\n"
    "    runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


@pytest.fixture(scope="module")
def model_server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp server with the default GGUF on a free port; yields its /v1 URL."""
    gguf = resolve_gguf(seed_settings.generator, seed_settings.cache_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with running([sys.executable, "-c", SERVER, "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
                  "--n_ctx", "4096", "--n_threads", str(os.cpu_count() or 2)], f"{url}/models", log):
        yield url


def test_refusal_mass_adds_the_top_tokens_that_begin_a_refusal() -> None:
    watch = ["Maaf, informasi tersebut tidak ditemukan.", "Sorry, that information is not found."]
    top = [("Ma", -0.5), (" Sorry", -2.0), ("Menteri", -1.5), ("Boviengkham", -3.0), ("", -4.0)]
    assert refusal_mass(top, watch) == pytest.approx(pow(2.718281828, -0.5) + pow(2.718281828, -2.0), rel=1e-6)
    # "M" starts "Maaf" but mostly starts other words ("Menteri"): a single letter never counts
    assert refusal_mass([("M", -0.15), ("Menteri", -2.0), ("Ma", -3.5)], watch) == pytest.approx(pow(2.718281828, -3.5))


def test_an_answer_through_llama_cpp_server_has_verified_citations(seed_settings: Settings, model_server: str) -> None:
    s = seed_settings.model_copy(update={"generator": f"openai:{model_server}"})
    assistant = make_assistant(s)
    assert isinstance(assistant.generator, OpenAICompatibleGenerator)
    result = assistant.ask("Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?")
    assert not result.refused, result.refusal_reason
    assert "Boviengkham" in result.answer
    assert result.citations and result.citations[0].article_id == "001_5588f0be4399d35c"
    assert all(c.support in c.passage for c in result.citations)  # each citation points at a sentence it was given
    # llama.cpp's server returns top_logprobs, so the gate's first-token signal is there
    assert assistant.generator.logprobs_supported is True
    assert result.signals.p_refuse is not None and result.signals.p_refuse < 0.35
    assert result.model["generator"].startswith(f"openai:{model_server}")


def test_the_gate_reads_the_servers_first_token_probability(seed_settings: Settings, model_server: str) -> None:
    gen = OpenAICompatibleGenerator(model_server)
    report = GenerationReport(watch=["Maaf, informasi tersebut tidak ditemukan dalam artikel yang tersedia."])
    messages = [{"role": "system", "content": "Jika informasi tidak ada, jawab persis: Maaf, informasi tersebut "
                                              "tidak ditemukan dalam artikel yang tersedia."},
                {"role": "user", "content": "Berapa harga tiket pesawat Jakarta-Hanoi besok?"}]
    text = "".join(gen.stream(messages, 24, 0.0, report))
    assert text and report.p_watch is not None
    assert text.startswith("Maaf") == (report.p_watch > 0.5)


def test_an_unreachable_server_is_a_clear_model_error(seed_copy: Path, tmp_path: Path) -> None:
    gen = OpenAICompatibleGenerator(f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    with pytest.raises(ModelError, match="did not answer"):
        list(gen.stream([{"role": "user", "content": "halo"}], 8, 0.0))
    env = {**os.environ, "RAG_GENERATOR": f"openai:http://127.0.0.1:{free_port()}/v1", "RAG_GENERATOR_TIMEOUT": "5",
           "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_SERVER": "none"}
    subprocess.run([sys.executable, "-m", "rag", "ingest", "--quiet", str(seed_copy)], env=env, check=True,
                   capture_output=True)
    r = subprocess.run([sys.executable, "-m", "rag", "ask", "Siapa Menteri Informasi dan Komunikasi Laos?"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 4 and "model server" in r.stderr and "RAG_GENERATOR" in r.stderr
