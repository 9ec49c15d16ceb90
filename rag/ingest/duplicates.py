"""Near-duplicate articles (one story re-posted by several sites): MinHash signatures and LSH banding.

An article's signature is the MinHash of its word shingles (lower-cased word 3-grams of the cleaned text). Two
articles whose estimated Jaccard similarity reaches the threshold are copies; copies form groups (a copy of a copy is
in the same group), and each group keeps one canonical article, the one that is searched and cited. The others are
stored with `duplicate_of` set and are shown as "also reported by".

The signatures and the LSH bands are datasketch 2.0's (MinHash with the "affine32" scheme and seed 1; MinHashLSH's
choice of bands), computed here with numpy: importing datasketch loads scipy, 0.3 s at the start of every `rag
ingest` and 0.07 s at its exit, a tenth of a one-file change. Signatures stored by earlier versions are these same
values; tests/test_duplicates_filters.py checks both against datasketch itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rag.types import Document

NUM_PERM = 128
SHINGLE = 3
CANDIDATE_MARGIN = 0.2  # at 0.5, LSH(0.3) proposes a pair with probability 0.99; LSH(0.35) 0.87
SCHEME = "affine32"  # datasketch's hashing scheme for the stored signatures (2.0's default, named for stability)
_WORD = re.compile(r"\w+", re.UNICODE)
_EMPTY = np.uint32(2**32 - 1)  # the value of every position before any shingle is added


@lru_cache(maxsize=None)
def _permutations(num_perm: int = NUM_PERM, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations h -> a*h + b mod 2^32 (a odd), drawn from the legacy RandomState(seed),
    whose stream numpy keeps stable across versions."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """The MurmurHash3 finalizer on 32-bit values (datasketch mixes each input hash with it once)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    """Lower-cased word n-grams of a text (the whole text as one shingle when it is shorter than n words)."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def signature(text: str, size: int = SHINGLE) -> list[int]:
    """The MinHash signature of a text's word n-grams, as plain ints (stored with the document): per permutation,
    the least permuted hash of its shingles (each hashed as datasketch's sha1_hash32: SHA-1's first 4 bytes,
    little-endian)."""
    grams = shingles(text, size)
    if not grams:
        return [int(_EMPTY)] * NUM_PERM
    hashes = np.frombuffer(b"".join(hashlib.sha1(g).digest()[:4] for g in grams), dtype="<u4").astype(np.uint32)
    a, b = _permutations()
    return (_fmix32(hashes)[:, None] * a + b).min(axis=0).tolist()


@lru_cache(maxsize=None)
def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) as datasketch's MinHashLSH picks them: the split whose false positive and false negative
    probabilities, integrated below and above the threshold, have the least (equally weighted) sum. The integrands
    are polynomials of degree at most num_perm, which Gauss-Legendre nodes integrate exactly."""
    x, w = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    below, above = threshold / 2 * (x + 1), threshold + (1 - threshold) / 2 * (x + 1)  # nodes on each side
    best, choice = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            false_positive = threshold / 2 * np.sum(w * (1 - (1 - below ** float(r)) ** float(b)))
            false_negative = (1 - threshold) / 2 * np.sum(w * (1 - (1 - (1 - above ** float(r)) ** float(b))))
            error = float(false_positive * 0.5 + false_negative * 0.5)
            if error < best:
                best, choice = error, (b, r)
    return choice


def similarity(a: list[int], b: list[int]) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(np.asarray(a, dtype=np.uint64) == np.asarray(b, dtype=np.uint64)))


def candidate_pairs(matrix: np.ndarray, threshold: float) -> np.ndarray:
    """Pairs (i < j) of signature rows that LSH at this threshold proposes: equal on every value of some band.

    The bands are datasketch's (lsh_bands: b bands of r values for the threshold); the bucketing is done here
    with numpy, all rows at once, because inserting and querying one signature at a time in datasketch took about
    4 s at 10,000 articles, on every ingest. A band is bucketed by a hash of its values: a collision only proposes
    one more pair, which the similarity check then rejects. The pairs of all buckets of one size are made at once
    (one numpy step per bucket took 0.5 s at 10,000 articles sharing many sentences)."""
    bands, rows = lsh_bands(threshold, matrix.shape[1] or NUM_PERM)
    multipliers = np.random.default_rng(0).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    n = len(matrix)
    found = []
    for b in range(bands):
        keys = (matrix[:, b * rows : (b + 1) * rows] * multipliers).sum(axis=1)  # wraps around: a hash
        order = np.argsort(keys, kind="stable")
        starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        for size in np.unique(sizes[sizes > 1]):
            first = starts[sizes == size]
            i, j = np.triu_indices(size, 1)
            a, c = order[first[:, None] + i], order[first[:, None] + j]
            found.append((np.minimum(a, c) * n + np.maximum(a, c)).ravel())
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1)


def pair_similarity(matrix: np.ndarray, pairs: np.ndarray, block: int = 8192) -> np.ndarray:
    """The estimated Jaccard similarity of each pair of rows (as similarity()), a block of pairs at a time (all at
    once made two arrays of pairs x 128 values: 400 MB and 1 s for 200,000 candidate pairs)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), block):
        p = pairs[start : start + block]
        out[start : start + block] = (matrix[p[:, 0]] == matrix[p[:, 1]]).mean(axis=1)
    return out


def _rank(doc: Document, canonical_before: bool) -> tuple:
    """Which copy of a story stays canonical: the one already canonical, then the earliest dated, then the longest."""
    return (not canonical_before, doc.date or "9999", -len(doc.text), doc.article_id)


@dataclass
class Groups:
    """Near-duplicate groups: for each copy, the canonical article it duplicates, and the similarity to it."""

    duplicate_of: dict[str, str]
    similarity: dict[str, float]


def find_duplicates(docs: list[Document], threshold: float, was_canonical: set[str] | None = None) -> Groups:
    """Group the documents (each with a signature) by near-duplicate text; one canonical per group."""
    was_canonical = was_canonical or set()
    by_id = {d.article_id: d for d in docs if d.signature}
    # LSH only proposes candidates: at its own threshold it proposes a pair scoring exactly there about half the time,
    # so it runs lower and every candidate is then checked against the real threshold (eval/duplicate_detection.py).
    ids = list(by_id)
    matrix = np.array([by_id[a].signature for a in ids], dtype=np.uint64).reshape(len(ids), NUM_PERM)
    pairs = candidate_pairs(matrix, max(0.1, threshold - CANDIDATE_MARGIN))
    parent = {aid: aid for aid in by_id}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if len(pairs):  # every candidate's similarity at once (the same estimate as similarity())
        pairs = pairs[pair_similarity(matrix, pairs) >= threshold]
        for i, j in pairs.tolist():
            parent[root(ids[j])] = root(ids[i])
    groups: dict[str, list[str]] = {}
    for aid in by_id:
        groups.setdefault(root(aid), []).append(aid)
    duplicate_of: dict[str, str] = {}
    sims: dict[str, float] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        canonical = min(members, key=lambda a: _rank(by_id[a], a in was_canonical))
        for a in members:
            if a != canonical:
                duplicate_of[a] = canonical
                sims[a] = round(similarity(by_id[a].signature, by_id[canonical].signature), 3)
    return Groups(duplicate_of, sims)
