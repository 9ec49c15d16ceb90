"""How well the cleaner finds a scraped page's title, date, link and site: a table and every failure.

    .venv/bin/python eval/metadata_accuracy.py                       # the held-out pages in eval/metadata
    .venv/bin/python eval/metadata_accuracy.py --cleaner-rev HEAD    # the same pages, the committed cleaner
    .venv/bin/python eval/metadata_accuracy.py --pages eval/dev/articles --truth-from-sumber   # links and sites only

Truth is a JSONL file (one line per page: file, title, date, url, site); a field that is absent is not scored.
Titles are compared normalised (case-folded, punctuation and spacing ignored): "exact", or "close" when the token
Jaccard similarity is at least 0.8. Dates: pages that state a date are scored on it; for pages that state none,
the table counts how often the cleaner still gave one (from a date in the body). Sites are compared by their
registrable domain (nasional.kompas.com = kompas.com).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import types
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.ingest.articles import read_article  # noqa: E402

_SECOND_LEVEL = {"co", "go", "or", "ac", "web", "my", "sch", "com", "net", "org", "gov", "edu", "mil", "biz"}


def norm_title(title: str | None) -> str:
    """Case-folded, NFKC, digits joined across , and . (0,45 = 045), every other non-word character a space."""
    t = unicodedata.normalize("NFKC", title or "").casefold()
    t = re.sub(r"(?<=\d)[.,](?=\d)", "", t)
    return " ".join(re.sub(r"[\W_]+", " ", t).split())


def jaccard(a: str, b: str) -> float:
    x, y = set(a.split()), set(b.split())
    return len(x & y) / len(x | y) if x | y else 1.0


def registrable(host: str | None) -> str | None:
    """example.co.id from www.news.example.co.id; None stays None."""
    if not host:
        return None
    labels = host.lower().removeprefix("www.").rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def load_cleaner(rev: str | None):
    """clean_article from the working tree, or from a git revision (its metadata module too, if it has one)."""
    if rev is None:
        from rag.ingest.clean import clean_article

        return clean_article
    tmp = Path(tempfile.mkdtemp(prefix="cleaner_"))
    saved = sys.modules.get("rag.ingest.metadata")
    meta_src = subprocess.run(["git", "show", f"{rev}:rag/ingest/metadata.py"], cwd=ROOT, capture_output=True, text=True)
    if meta_src.returncode == 0:
        (tmp / "metadata.py").write_text(meta_src.stdout, encoding="utf-8")
        sys.modules["rag.ingest.metadata"] = _load(tmp / "metadata.py", "rag.ingest.metadata")
    clean_src = subprocess.run(["git", "show", f"{rev}:rag/ingest/clean.py"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout
    (tmp / "clean.py").write_text(clean_src, encoding="utf-8")
    module = _load(tmp / "clean.py", "clean_at_" + re.sub(r"\W", "_", rev))
    if saved is not None:
        sys.modules["rag.ingest.metadata"] = saved
    return module.clean_article


def _load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def truth_from_sumber(pages: Path) -> list[dict]:
    """Truth for pages whose last Sumber line gives the link (dev collection): link and site only."""
    rows = []
    for p in sorted(pages.glob("*.txt")):
        links = re.findall(r"^Sumber:\s*(\S+)", p.read_text(encoding="utf-8"), re.M)
        url = links[-1] if links else None
        rows.append({"file": p.name, "url": url, "site": registrable(re.sub(r"^\w+://([^/]+).*", r"\1", url or "")) or None})
    return rows


def evaluate(clean_article, pages: Path, truth: list[dict]) -> dict:
    res = {k: 0 for k in ("n", "title_n", "title_exact", "title_close", "date_n", "date_ok", "nodate_n", "nodate_none",
                          "url_n", "url_ok", "site_n", "site_ok")}
    failures: list[tuple[str, str, object, object]] = []
    for row in truth:
        d = clean_article(read_article(pages / row["file"]), Path(row["file"]).stem)
        res["n"] += 1
        if "title" in row:
            res["title_n"] += 1
            want, got = norm_title(row["title"]), norm_title(d.title)
            if want == got:
                res["title_exact"] += 1
            elif jaccard(want, got) >= 0.8:
                res["title_close"] += 1
                failures.append((row["file"], "title (close)", row["title"], d.title))
            else:
                failures.append((row["file"], "title", row["title"], d.title))
        if "date" in row:
            if row["date"]:
                res["date_n"] += 1
                res["date_ok"] += d.date == row["date"]
                if d.date != row["date"]:
                    failures.append((row["file"], "date", row["date"], f"{d.date} ({d.date_source})"))
            else:
                res["nodate_n"] += 1
                res["nodate_none"] += d.date is None
                if d.date:
                    failures.append((row["file"], "date (none stated)", None, f"{d.date} ({d.date_source})"))
        if "url" in row:
            res["url_n"] += 1
            res["url_ok"] += d.url == row["url"]
            if d.url != row["url"]:
                failures.append((row["file"], "link", row["url"], d.url))
        if "site" in row:
            res["site_n"] += 1
            ok = registrable(d.site) == registrable(row["site"])
            res["site_ok"] += ok
            if not ok:
                failures.append((row["file"], "site", row["site"], d.site))
    res["failures"] = failures
    res["sites"] = len({registrable(re.sub(r"^\w+://([^/]+).*", r"\1", r.get("page_address") or r.get("url") or ""))
                        for r in truth if r.get("page_address") or r.get("url")})
    return res


def pct(a: int, n: int) -> str:
    return f"{a}/{n} ({100 * a / n:.0f}%)" if n else "-"


def report(res: dict, label: str) -> str:
    lines = [
        f"## {label}: {res['n']} pages from {res['sites']} sites",
        "",
        "| measure | correct |",
        "| --- | --- |",
        f"| titles exact | {pct(res['title_exact'], res['title_n'])} |",
        f"| titles exact or close (Jaccard >= 0.8) | {pct(res['title_exact'] + res['title_close'], res['title_n'])} |",
        f"| dates (pages that state one) | {pct(res['date_ok'], res['date_n'])} |",
        f"| no date stated: cleaner gave none | {pct(res['nodate_none'], res['nodate_n'])} |",
        f"| links (incl. none when the page has none) | {pct(res['url_ok'], res['url_n'])} |",
        f"| sites | {pct(res['site_ok'], res['site_n'])} |",
        "",
        f"### failures ({len(res['failures'])})",
    ]
    lines += [f"- {f} [{what}] expected {exp!r}, got {got!r}" for f, what, exp, got in res["failures"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=Path, default=ROOT / "eval/metadata/pages")
    ap.add_argument("--truth", type=Path, default=None, help="JSONL truth (default: <pages>/../truth.jsonl)")
    ap.add_argument("--truth-from-sumber", action="store_true", help="score only links and sites, from Sumber lines")
    ap.add_argument("--cleaner-rev", default=None, help="a git revision whose rag/ingest/clean.py to measure")
    args = ap.parse_args(argv)
    if args.truth_from_sumber:
        truth = truth_from_sumber(args.pages)
    else:
        path = args.truth or args.pages.parent / "truth.jsonl"
        truth = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    res = evaluate(load_cleaner(args.cleaner_rev), args.pages, truth)
    print(report(res, f"cleaner {args.cleaner_rev or 'working tree'}, {args.pages.relative_to(ROOT) if args.pages.is_relative_to(ROOT) else args.pages}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
