"""BM25 in PostgreSQL, ranked as the FAISS store ranks: the same analysis and formula (lexical.py), kept in a table.

rag_postings holds, per term and block of BLOCK consecutive chunk keys, one binary row of postings: (key - block
start, tf, chunk length) as packed little-endian records (`RECORD`). A search reads the query terms' rows (one
statement, so one consistent view) and scores them here with numpy: a term's postings also give its document
frequency, and the store's state gives the chunk count and total length, so scores are exact BM25 after every
write. A write appends to the last blocks (keys only grow) and rewrites the few blocks that held removed chunks
(their terms are found by analysing the removed texts again), all in the write's transaction.

Why not in SQL: a query's terms can occur in most chunks (at 100,000 synthetic chunks, 300,000 postings for one
question); summing them row by row took about a second, and impact-ordered early termination (Fagin's threshold
algorithm) rarely stopped early on ten-term questions. Reading packed rows is a few megabytes per question.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import numpy as np
import psycopg

from rag.backends.stores.lexical import TermCounts, analyze, idf, saturation

BLOCK = 4096  # chunk keys per postings row (a removal rewrites at most BLOCK postings per term it touches)
RECORD = np.dtype([("offset", "<u2"), ("tf", "<u2"), ("length", "<u4")])
TABLES = """
CREATE TABLE rag_postings (term text NOT NULL, block integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (term, block));
ALTER TABLE rag_postings ALTER COLUMN data SET STORAGE EXTERNAL;  -- read often: not compressed
"""
_APPEND = """
INSERT INTO rag_postings SELECT term, block, data FROM rag_new_postings
ON CONFLICT (term, block) DO UPDATE SET data = rag_postings.data || excluded.data
"""


def pack(keys: np.ndarray, terms: TermCounts) -> list[tuple[str, int, bytes]]:
    """The postings of these chunks (terms: one row per chunk, keys[i] the key of row i) as (term, block, data)."""
    lengths = terms.lengths()
    row_of = np.repeat(np.arange(terms.rows), np.diff(terms.indptr))
    chunk_keys = keys[row_of]
    order = np.lexsort((chunk_keys, terms.ids))
    ids, chunk_keys, rows = terms.ids[order], chunk_keys[order], row_of[order]
    records = np.empty(len(ids), RECORD)
    records["offset"], records["tf"] = chunk_keys % BLOCK, np.minimum(terms.counts[order], 65535)
    records["length"] = lengths[rows]
    blocks = chunk_keys // BLOCK
    starts = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]) | (blocks[1:] != blocks[:-1])])
    ends = np.r_[starts[1:], len(ids)]
    return [(terms.vocab[ids[a]], int(blocks[a]), records[a:b].tobytes()) for a, b in zip(starts, ends)]


def add_postings(conn: psycopg.Connection[Any], keys: list[int], terms: TermCounts) -> None:
    """Append the postings of these chunks (rows of terms, in key order) to their terms' blocks."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS rag_new_postings (term text, block integer, data bytea) "
                    "ON COMMIT DROP")
        with cur.copy("COPY rag_new_postings (term, block, data) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "int4", "bytea"])
            for row in pack(np.asarray(keys, np.int64), terms):
                copy.write_row(row)
        cur.execute(_APPEND)
        cur.execute("TRUNCATE rag_new_postings")


def remove_postings(conn: psycopg.Connection[Any], article_ids: list[str]) -> int:
    """Take these articles' chunks out of the postings; their chunks' total length (BM25's)."""
    rows = conn.execute("SELECT key, text FROM rag_chunks WHERE article_id = ANY(%s)", (article_ids,)).fetchall()
    if not rows:
        return 0
    dead = np.array([r[0] for r in rows], np.int64)
    terms = TermCounts.of(r[1] for r in rows)
    touched = {(term, block) for term, block, _ in pack(dead, terms)}
    stored = conn.execute("SELECT term, block, data FROM rag_postings WHERE (term, block) IN (SELECT * FROM "
                          "unnest(%s::text[], %s::int[]))", ([t for t, _ in touched], [b for _, b in touched]),
                          binary=True).fetchall()
    for term, block, data in stored:
        records = np.frombuffer(data, RECORD)
        kept = records[~np.isin(block * BLOCK + records["offset"].astype(np.int64), dead)]
        if len(kept):
            conn.execute("UPDATE rag_postings SET data = %s WHERE term = %s AND block = %s",
                         (kept.tobytes(), term, block))
        else:
            conn.execute("DELETE FROM rag_postings WHERE term = %s AND block = %s", (term, block))
    return int(terms.lengths().sum())


def search(fetch: Callable[..., list[tuple[Any, ...]]], query: str, k: int, chunks: int, total_length: int,
           admitted: Callable[[], np.ndarray] | None = None) -> list[tuple[int, float]]:
    """The k best chunks by BM25: (key, score > 0), best first, ties by key.

    chunks and total_length: the index's chunk count and summed chunk length; admitted: the keys a filter lets
    through (None: all)."""
    wanted = Counter(analyze(query))
    if not wanted or k <= 0:
        return []
    rows = fetch("SELECT term, block, data FROM rag_postings WHERE term = ANY(%s)", (list(wanted),), binary=True)
    if not rows:
        return []
    terms = list({term for term, _, _ in rows})
    term_of = np.array([terms.index(term) for term, _, _ in rows])
    counts = np.array([len(data) // RECORD.itemsize for _, _, data in rows])
    raw = np.frombuffer(b"".join(data for _, _, data in rows), np.uint16).reshape(-1, 4)  # the RECORD fields
    key = np.repeat(np.array([block for _, block, _ in rows], np.int64) * BLOCK, counts) + raw[:, 0]
    length = raw[:, 2].astype(np.float32)
    if raw[:, 3].any():  # a chunk of 65,536 terms or more
        length += raw[:, 3].astype(np.float32) * 65536
    df = np.bincount(term_of, weights=counts, minlength=len(terms))
    per_term = (np.array([wanted[t] for t in terms]) * idf(df, chunks)).astype(np.float32)
    weight = saturation(raw[:, 1].astype(np.float32), length, total_length / max(chunks, 1))
    weight *= np.repeat(per_term[term_of], counts)
    if admitted is not None:
        inside = np.isin(key, admitted())
        key, weight = key[inside], weight[inside]
    if not len(key):
        return []
    low = int(key.min())
    scores = np.bincount(key - low, weights=weight)
    hits = np.arange(len(scores))
    if len(scores) > k:  # only the k best and whatever ties with the k-th are sorted
        hits = np.flatnonzero(scores >= np.partition(scores, len(scores) - k)[len(scores) - k])
    hits = hits[scores[hits] > 0]
    top = hits[np.lexsort((hits, -scores[hits]))][:k]  # best first, ties by key
    return [(int(i) + low, float(scores[i])) for i in top]
