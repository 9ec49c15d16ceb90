"""The PostgreSQL store: documents, chunks and sentences in tables, searched by pgvector (HNSW) and BM25.

Tables (made by the first write; `dim` from the fingerprint): rag_documents (every Document field; date and site are
indexed columns for filters), rag_chunks (key, chunk_id, article_id, start, end, text, embedding vector(dim), and
terms, its length for BM25), rag_sentences (key, article_id, start, end, text, embedding), rag_postings (BM25 with
the FAISS store's analysis and formula: postgres_lexical.py), and rag_meta (the 'state' row: schema, fingerprint,
counts, the chunks' total length for BM25, a version every write bumps, and the next free chunk and sentence keys).
Both embedding columns have HNSW indexes with vector_ip_ops: vectors are unit length, so ordering by the negated
inner product (`<#>`) is ordering by cosine.

Keys come from the counters in rag_meta, taken by the writer under a transaction advisory lock, so an article's
sentences (and chunks) get consecutive keys in document order and a key is never reused: a row fetched by key never
changes, so readers may cache it. A write is one transaction: readers see the old index or the new one. A first write
or a rebuild recreates the tables and builds the search indexes after loading (far faster than growing them row by
row) and blocks readers until it commits; other writes replace only the changed articles' rows. `snapshot()` costs
one query (the version); its reader lives until the next write and caches the rows it fetched.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from datetime import date
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.conninfo import conninfo_to_dict
from psycopg.types import TypeInfo
from psycopg.types.json import Jsonb

from rag.backends.options import NoOptions
from rag.backends.stores import postgres_lexical as bm25
from rag.backends.stores.base import FORMAT_VERSION, ArticleRecord, IndexStats
from rag.backends.stores.lexical import TermCounts
from rag.errors import IndexError_, IndexMissingError
from rag.types import ArticleFilter, Chunk, Document, Sentence, Source

SCHEMA = 2  # 1: full-text search (ts_rank, no IDF); 2: BM25 postings
INGEST_LOCK, WRITE_LOCK = 0x52414701, 0x52414702  # advisory lock keys: a whole ingest; one write transaction
COPY_BATCH = 256  # articles per COPY round in a write
EF_SEARCH = 100  # HNSW candidate list (raised to 2k for larger k)
HNSW = "USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)"
_DOC = ("article_id, source_file, title, url, date, date_source, site, text, content_hash, dropped, warnings, author, "
        "source_format, encoding, part, duplicate_of, signature")  # the Document fields, in order
_CHUNK = 'key, chunk_id, article_id, "start", "end", text'
_SENTENCE = 'key, article_id, "start", "end", text'
_TABLES = """
CREATE TABLE rag_documents (article_id text PRIMARY KEY, source_file text NOT NULL, title text NOT NULL, url text,
  date date, date_source text, site text, text text NOT NULL, content_hash text NOT NULL, dropped jsonb NOT NULL,
  warnings jsonb NOT NULL, author text, source_format text NOT NULL, encoding text, part integer, duplicate_of text,
  signature jsonb NOT NULL);
CREATE TABLE rag_chunks (key bigint PRIMARY KEY, chunk_id text NOT NULL, article_id text NOT NULL,
  "start" integer NOT NULL, "end" integer NOT NULL, text text NOT NULL, embedding vector({dim}) NOT NULL,
  terms integer NOT NULL);
CREATE TABLE rag_sentences (key bigint PRIMARY KEY, article_id text NOT NULL, "start" integer NOT NULL,
  "end" integer NOT NULL, text text NOT NULL, embedding vector({dim}) NOT NULL);
""" + bm25.TABLES
_INDEXES = f"""
CREATE INDEX rag_documents_date_site ON rag_documents (date, site);
CREATE INDEX rag_documents_duplicate_of ON rag_documents (duplicate_of);
CREATE INDEX rag_chunks_article ON rag_chunks (article_id);
CREATE INDEX rag_sentences_article ON rag_sentences (article_id);
CREATE INDEX rag_chunks_embedding ON rag_chunks {HNSW};
CREATE INDEX rag_sentences_embedding ON rag_sentences {HNSW};
"""
_META = "article_id, source_file, title, url, date, date_source, site, content_hash, author, source_format, encoding, " \
        "part, duplicate_of"


def _filter_sql(where: ArticleFilter | None) -> tuple[str, list[Any]]:
    """'AND article_id IN (…)' for the articles a filter admits (same rules as ArticleFilter.admits), and its params."""
    if not where:
        return "", []
    conds, params = [], []
    if where.since:
        conds.append("date >= %s")
        params.append(date.fromisoformat(where.since))
    if where.until:
        conds.append("date <= %s")
        params.append(date.fromisoformat(where.until))
    if where.sites:
        conds.append("(" + " OR ".join(["strpos(lower(coalesce(site, '')), %s) > 0"] * len(where.sites)) + ")")
        params += [x.lower() for x in where.sites]
    return f"AND article_id IN (SELECT article_id FROM rag_documents WHERE {' AND '.join(conds)})", params


class PostgresStore:
    """A PostgreSQL database with pgvector: one shared connection for reads, a fresh one per write and per lock."""

    Options = NoOptions
    reads = ()  # the URL is its target

    @classmethod
    def from_settings(cls, target: str, options: NoOptions, settings: object) -> PostgresStore:
        """The store in the database at the URL `target`."""
        return cls(target)

    def __init__(self, url: str, ef_search: int = EF_SEARCH) -> None:
        self.url, self.ef_search = url, ef_search
        try:
            self._params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as e:
            raise IndexError_("the store setting is not a valid PostgreSQL URL",
                              "use postgresql://USER@HOST:PORT/DATABASE (password in PGPASSWORD or ~/.pgpass)") from e
        p = self._params
        self._where = f"database {p.get('dbname') or p.get('user') or '(default)'} on " \
                      f"{p.get('host') or 'localhost'}:{p.get('port') or 5432}"
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._has_vector, self._ef = False, 0
        self._reader: PostgresReader | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        """A new autocommit connection; IndexError_ naming the server (never the password) when that fails."""
        try:
            return psycopg.connect(self.url, autocommit=True,
                                   **({} if "connect_timeout" in self._params else {"connect_timeout": 10}))
        except psycopg.OperationalError as e:
            reason = (str(e).strip().splitlines() or ["connection failed"])[0]
            if self._params.get("password"):
                reason = reason.replace(str(self._params["password"]), "***")
            raise IndexError_(f"cannot connect to PostgreSQL ({self._where}): {reason}", "check that the server "
                              "is running and the store URL; put the password in PGPASSWORD or ~/.pgpass") from e

    def _fetch(self, sql: str, params: Any = (), binary: bool = False, k: int = 0) -> list[tuple[Any, ...]]:
        """The rows of one read on the shared connection (reconnecting when it was lost); k: an HNSW search's k."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn, self._has_vector, self._ef = self._connect(), False, 0
            conn = self._conn
            try:
                if not self._has_vector and TypeInfo.fetch(conn, "vector") is not None:
                    register_vector(conn)
                    self._has_vector = True
                ef = min(1000, max(self.ef_search, 2 * k))
                if k and ef != self._ef:
                    conn.execute(f"SET hnsw.ef_search = {ef}")
                    self._ef = ef
                return conn.execute(sql, params, binary=binary).fetchall()
            except psycopg.OperationalError as e:
                raise IndexError_(f"lost the connection to PostgreSQL ({self._where}): {e}",
                                  "check that the server is running, then try again") from e

    def _state(self) -> dict[str, Any] | None:
        """The 'state' row of rag_meta (None before the first write)."""
        try:
            rows = self._fetch("SELECT value FROM rag_meta WHERE name = 'state'")
        except psycopg.errors.UndefinedTable:
            return None
        return rows[0][0] if rows else None

    def snapshot(self) -> PostgresReader:
        """A reader of the current version: the same object until a write (from any process) bumps the version."""
        state = self._state()
        if state is None:
            raise IndexMissingError.at(self.describe())
        if state["fingerprint"].get("format_version") != FORMAT_VERSION or state.get("schema", 1) != SCHEMA:
            raise _other_version(self.describe())
        reader = self._reader
        if reader is None or reader.version != state["version"]:
            reader = self._reader = PostgresReader(self, state)
        return reader

    def documents(self) -> dict[str, Document]:
        """Every stored document by id (empty before the first write)."""
        if self._state() is None:
            return {}
        rows = self._fetch(f'SELECT {_DOC} FROM rag_documents ORDER BY article_id COLLATE "C"')
        return {r[0]: _document(r) for r in rows}

    def fingerprint(self) -> dict[str, Any] | None:
        """What the stored vectors and chunks were built with (None before the first write)."""
        state = self._state()
        return state["fingerprint"] if state else None

    def stats(self) -> IndexStats:
        """Counts from the state row and one count over the documents, in one statement (no reader is built)."""
        try:
            rows = self._fetch("SELECT (SELECT value FROM rag_meta WHERE name = 'state'), count(*), "
                               "count(duplicate_of) FROM rag_documents")
        except psycopg.errors.UndefinedTable:
            return IndexStats(0, 0, 0, 0)
        state, articles, copies = rows[0]
        if state is None:
            return IndexStats(0, 0, 0, 0)
        return IndexStats(int(articles), int(state["chunks"]), int(state["sentences"]), int(copies))

    def write(
        self, upserts: Iterable[ArticleRecord], deletes: list[str], fingerprint: dict[str, Any],
        replace_all: bool = False,
    ) -> None:
        """One transaction: upserted articles replace their rows, deleted ones go (replace_all: all others too).

        Records are copied in batches as they come, so memory stays bounded by a batch."""
        with self._connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute("CREATE TABLE IF NOT EXISTS rag_meta (name text PRIMARY KEY, value jsonb NOT NULL)")
            row = conn.execute("SELECT value FROM rag_meta WHERE name = 'state'").fetchone()
            old = row[0] if row else {}
            fresh = replace_all or not row
            if not fresh and old.get("schema", 1) != SCHEMA:
                raise _other_version(self.describe())
            length = 0 if fresh else old["lexical"]["terms"]  # all chunks' lengths, for BM25's average
            if fresh:
                conn.execute("DROP TABLE IF EXISTS rag_documents, rag_chunks, rag_sentences, rag_terms, rag_postings")
                conn.execute(_TABLES.format(dim=int(fingerprint["dim"])))
            else:
                length -= _delete(conn, list(deletes))
            register_vector(conn)
            keys = (old.get("next_chunk_key", 0), old.get("next_sentence_key", 0))
            for batch in _batches(upserts, COPY_BATCH):
                if not fresh:
                    length -= _delete(conn, [r.doc.article_id for r in batch])
                terms = TermCounts.of(c.text for r in batch for c in r.chunks)
                keys = _copy(conn, batch, *keys, terms)
                length += int(terms.lengths().sum())
            if fresh:
                conn.execute("SET LOCAL maintenance_work_mem = '1GB'")  # room to build the HNSW graphs in memory
                conn.execute(_INDEXES)
            counts = conn.execute("SELECT (SELECT count(*) FROM rag_documents), (SELECT count(*) FROM rag_chunks), "
                                  "(SELECT count(*) FROM rag_sentences)").fetchone() or (0, 0, 0)
            state = {"schema": SCHEMA, "fingerprint": fingerprint, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "lexical": {"terms": length},
                     "articles": counts[0], "chunks": counts[1], "sentences": counts[2],
                     "version": old.get("version", 0) + 1, "next_chunk_key": keys[0], "next_sentence_key": keys[1]}
            conn.execute("INSERT INTO rag_meta VALUES ('state', %s) ON CONFLICT (name) DO UPDATE SET value = "
                         "excluded.value", (Jsonb(state),))

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """A session advisory lock on its own connection for the whole ingest (any thread, process or machine)."""
        conn = self._connect()
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (INGEST_LOCK,))
            yield
        finally:
            conn.close()  # ending the session releases the lock

    def describe(self) -> str:
        """The store URL without its password."""
        parts = urlsplit(self.url)
        user, at, host = parts.netloc.rpartition("@")
        query = "&".join(q for q in parts.query.split("&") if q and not q.lower().startswith("password="))
        return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}@{host}" if at else host, query=query))


class PostgresReader:
    """One version of the database for the answer path: lookups by key (rows cached) and the three searches."""

    def __init__(self, store: PostgresStore, state: dict[str, Any]) -> None:
        self.store, self.state, self.version = store, state, state["version"]
        self._docs: dict[str, Document] = {}
        self._chunks: dict[int, Chunk] = {}
        self._sentences: dict[int, tuple[Sentence, str]] = {}
        self._articles: dict[str, tuple[int, list[Sentence]]] = {}  # first key and spans of an article's sentences

    def _cached(self, cache: dict[Any, Any], key: Any, sql: str, make: Callable[[tuple[Any, ...]], Any]) -> Any:
        """The object for a key: from the cache, else made from the one row `sql` finds (KeyError when none)."""
        if key not in cache:
            rows = self.store._fetch(sql, (key,))
            if not rows:
                raise KeyError(key)
            cache[key] = make(rows[0])
        return cache[key]

    def document(self, article_id: str) -> Document:
        """The document with this id (KeyError when absent)."""
        return self._cached(self._docs, article_id, f"SELECT {_DOC} FROM rag_documents WHERE article_id = %s",
                            _document)

    def article_ids(self) -> set[str]:
        """Ids of every indexed article."""
        return {r[0] for r in self.store._fetch("SELECT article_id FROM rag_documents")}

    def article_list(self) -> list[dict[str, Any]]:
        """Metadata of every indexed article (no text), newest first by (date, article_id)."""
        metas = [_document((*r[:7], "", r[7], [], [], *r[8:], [])).meta()
                 for r in self.store._fetch(f"SELECT {_META} FROM rag_documents")]
        return sorted(metas, key=lambda d: (d["date"] or "", d["article_id"]), reverse=True)

    def also_reported_by(self, article_id: str) -> list[Source]:
        """The stored copies of an article, earliest first."""
        rows = self.store._fetch(f"SELECT {_META} FROM rag_documents WHERE duplicate_of = %s", (article_id,))
        copies = [_document((*r[:7], "", r[7], [], [], *r[8:], [])).source for r in rows]
        return sorted(copies, key=lambda s: (s.date or "", s.article_id))

    def chunk_count(self) -> int:
        """Number of chunks."""
        return int(self.state["chunks"])

    def sentence_count(self) -> int:
        """Number of sentences."""
        return int(self.state["sentences"])

    def chunk(self, key: int) -> Chunk:
        """The chunk with this key (KeyError when absent)."""
        return self._cached(self._chunks, key, f"SELECT {_CHUNK} FROM rag_chunks WHERE key = %s",
                            lambda row: Chunk(*row[1:]))

    def _load_article(self, article_sql: str, value: Any) -> dict[int, tuple[Sentence, str]]:
        """Every sentence of one article (chosen by a SQL expression), remembered by key and by article."""
        rows = self.store._fetch(f"SELECT {_SENTENCE} FROM rag_sentences WHERE article_id = {article_sql} "
                                 "ORDER BY key", (value,))
        found = {r[0]: (Sentence(r[1], r[2], r[3]), r[4]) for r in rows}
        self._sentences.update(found)
        if rows:
            self._articles[rows[0][1]] = (rows[0][0], [s for s, _ in found.values()])
        return found

    def _sentence(self, key: int) -> tuple[Sentence, str]:
        """A sentence and its text (loading its whole article: neighbours are asked for next)."""
        hit = self._sentences.get(key) or self._load_article(
            "(SELECT article_id FROM rag_sentences WHERE key = %s)", key).get(key)
        if hit is None:
            raise KeyError(key)
        return hit

    def _spans(self, article_id: str) -> tuple[int, list[Sentence]]:
        """The first key and the spans of an article's sentences ((0, []) for an unknown article)."""
        if article_id not in self._articles:
            found = self._load_article("%s", article_id)
            return (min(found), [s for s, _ in found.values()]) if found else (0, [])
        return self._articles[article_id]

    def sentence(self, key: int) -> Sentence:
        """The sentence span with this key."""
        return self._sentence(key)[0]

    def sentence_text(self, key: int) -> str:
        """The text of the sentence with this key."""
        return self._sentence(key)[1]

    def sentence_vectors_of(self, keys: list[int]) -> np.ndarray:
        """The vectors of these sentences (one query), one row per key in the order given."""
        if not len(keys):
            return np.zeros((0, self.state["fingerprint"]["dim"]), dtype=np.float32)
        rows = self.store._fetch("SELECT key, embedding FROM rag_sentences WHERE key = ANY(%s)",
                                 ([int(k) for k in keys],), binary=True)
        found = {key: vector.to_numpy() for key, vector in rows}
        return np.vstack([found[int(k)] for k in keys])

    def sentence_range(self, article_id: str) -> tuple[int, int]:
        """Keys [first, last + 1) of an article's sentences ((0, 0) for an unknown article)."""
        first, spans = self._spans(article_id)
        return (first, first + len(spans)) if spans else (0, 0)

    def sentences_in(self, article_id: str, start: int, end: int) -> list[int]:
        """Keys of the article's sentences that overlap the character span [start, end)."""
        first, spans = self._spans(article_id)
        return [first + i for i, s in enumerate(spans) if s.start < end and start < s.end]

    def _nearest(self, table: str, columns: str, query_vector: np.ndarray, k: int, where: ArticleFilter | None,
                 ) -> list[tuple[Any, ...]]:
        """The k rows of a table nearest to a query vector, with the cosine last, best first (ties by key).

        Unfiltered: the HNSW index. Filtered: an exact scan of the admitted articles' rows (a filter after an
        approximate search could return fewer than k rows, or none)."""
        q = np.asarray(query_vector, np.float32)
        if not where:
            rows = self.store._fetch(f"SELECT {columns}, -(embedding <#> %s) FROM {table} ORDER BY embedding <#> %s "
                                     "LIMIT %s", (q, q, k), k=k)
        else:
            cond, params = _filter_sql(where)
            rows = self.store._fetch(f"WITH c AS MATERIALIZED (SELECT {columns}, embedding FROM {table} WHERE true "
                                     f"{cond}) SELECT {columns}, -(embedding <#> %s) FROM c "
                                     "ORDER BY embedding <#> %s LIMIT %s", (*params, q, q, k))
        return sorted(rows, key=lambda r: (-r[-1], r[0]))

    def dense_search(self, query_vector: np.ndarray, k: int, where: ArticleFilter | None = None,
                     ) -> list[tuple[int, float]]:
        """The k chunks nearest to a query vector: (key, cosine), best first."""
        rows = self._nearest("rag_chunks", _CHUNK, query_vector, k, where)
        self._chunks.update((r[0], Chunk(*r[1:6])) for r in rows)
        return [(r[0], float(r[6])) for r in rows]

    def lexical_search(self, query: str, k: int, where: ArticleFilter | None = None) -> list[tuple[int, float]]:
        """The k best chunks by BM25 (the FAISS store's ranking), best first."""
        def admitted() -> np.ndarray:
            cond, params = _filter_sql(where)
            return np.array([r[0] for r in self.store._fetch(f"SELECT key FROM rag_chunks WHERE true {cond}", params)],
                            np.int64)

        return bm25.search(self.store._fetch, query, k, self.state["chunks"], self.state["lexical"]["terms"],
                           admitted if where else None)

    def dense_sentence_search(self, query_vector: np.ndarray, k: int, where: ArticleFilter | None = None,
                              ) -> list[tuple[int, float]]:
        """The k sentences nearest to a query vector: (key, cosine), best first."""
        rows = self._nearest("rag_sentences", _SENTENCE, query_vector, k, where)
        self._sentences.update((r[0], (Sentence(r[1], r[2], r[3]), r[4])) for r in rows)
        return [(r[0], float(r[5])) for r in rows]


def _batches(records: Iterable[ArticleRecord], size: int) -> Iterator[list[ArticleRecord]]:
    """The records in lists of at most size."""
    batch: list[ArticleRecord] = []
    for r in records:
        batch.append(r)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _delete(conn: psycopg.Connection[Any], article_ids: list[str]) -> int:
    """Remove these articles' rows and postings; the total BM25 length of their chunks."""
    if not article_ids:
        return 0
    length = bm25.remove_postings(conn, article_ids)
    for table in ("rag_documents", "rag_chunks", "rag_sentences"):
        conn.execute(f"DELETE FROM {table} WHERE article_id = ANY(%s)", (article_ids,))
    return length


def _copy(conn: psycopg.Connection[Any], records: list[ArticleRecord], chunk_key: int, sentence_key: int,
          terms: TermCounts) -> tuple[int, int]:
    """COPY the records' rows (binary) and their chunks' postings (terms: one row per chunk, in order), each
    article's chunks and sentences on consecutive keys; the next free keys."""
    first_chunk, lengths = chunk_key, terms.lengths().tolist()
    with conn.cursor() as cur:
        with cur.copy(f"COPY rag_documents ({_DOC}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text"] * 4 + ["date"] + ["text"] * 4 + ["jsonb"] * 2 + ["text"] * 3 + ["int4", "text",
                                                                                                  "jsonb"])
            for d in (r.doc for r in records):
                day = date.fromisoformat(d.date) if d.date else None
                copy.write_row((d.article_id, d.source_file, d.title, d.url, day, d.date_source, d.site, d.text,
                                d.content_hash, d.dropped, d.warnings, d.author, d.source_format, d.encoding, d.part,
                                d.duplicate_of, d.signature))
        with cur.copy(f"COPY rag_chunks ({_CHUNK}, embedding, terms) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text", "text", "int4", "int4", "text", "vector", "int4"])
            for r in records:
                for c, v in zip(r.chunks, r.chunk_vectors):
                    copy.write_row((chunk_key, c.chunk_id, c.article_id, c.start, c.end, c.text, v,
                                    lengths[chunk_key - first_chunk]))
                    chunk_key += 1
        with cur.copy(f"COPY rag_sentences ({_SENTENCE}, embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text", "int4", "int4", "text", "vector"])
            for r in records:
                for s, v in zip(r.sentences, r.sentence_vectors):
                    copy.write_row((sentence_key, s.article_id, s.start, s.end, r.doc.text[s.start : s.end], v))
                    sentence_key += 1
    bm25.add_postings(conn, list(range(first_chunk, chunk_key)), terms)
    return chunk_key, sentence_key


def _other_version(where: str) -> IndexError_:
    return IndexError_(f"the index at {where} was written by another version of rag-news (before BM25 search)",
                       "rebuild it with `rag ingest --rebuild`")


def _document(row: tuple[Any, ...]) -> Document:
    """A Document from a rag_documents row (the date column back to its ISO string)."""
    doc = Document(*row[:4], row[4].isoformat() if row[4] else None, *row[5:])
    doc.dropped = [tuple(x) for x in doc.dropped]  # JSON has no tuples
    return doc
