"""The chat page's HTML, rendered from hand-made passages, citations and results (no models, no browser)."""

from __future__ import annotations

from html.parser import HTMLParser

from rag.answer.events import AskResult, Timings
from rag.answer.language import REFUSAL, UNCITED_NOTE
from rag.answer.policy import Reason
from rag.errors import IndexError_, IndexMissingError
from rag.types import ArticleFilter, Citation, Passage, Source
from ui import render

XSS = "<script>alert(1)</script>"
SUPPORT = "Menteri Boviengkham Vongdara berkunjung ke Hanoi."
TEXT = f"Kunjungan kerja resmi. {SUPPORT} Kedua pihak menandatangani nota kesepahaman."


def passage(n: int, text: str = TEXT, also_reported_by: list[Source] | None = None, **changes: object) -> Passage:
    source = dict(article_id=f"art-{n}", title=f"Artikel {n}", url=f"https://www.example.org/berita/{n}",
                  date="2025-08-04", site="example.org", source_file=f"/data/articles/{n}.txt")
    source.update(changes)
    return Passage(source=Source(**source), start=0, end=len(TEXT), text=text,  # type: ignore[arg-type]
                   chunk_ids=[f"art-{n}:0"], n=n, also_reported_by=also_reported_by or [])


def citation(p: Passage, support: str = SUPPORT) -> Citation:
    return Citation(n=p.n, source=p.source, passage=p.text, support=support, start=0, end=len(support))


def result(answer: str, passages: list[Passage], citations: list[Citation], **changes: object) -> AskResult:
    fields: dict[str, object] = dict(question="Siapa menteri yang berkunjung?", answer=answer, refused=False,
                                     citations=citations, passages=passages, timings=Timings(), model={}, language="id")
    fields.update(changes)
    return AskResult(**fields)  # type: ignore[arg-type]


class _Elements(HTMLParser):
    """Start tags with their attributes, and the text inside <mark>."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.marked: list[str] = []
        self._in_mark = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_mark = self._in_mark or tag == "mark"

    def handle_endtag(self, tag: str) -> None:
        self._in_mark = self._in_mark and tag != "mark"

    def handle_data(self, data: str) -> None:
        if self._in_mark:
            self.marked.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and (cls is None or cls in (a.get("class") or "").split())]


def test_untrusted_text_is_escaped_everywhere() -> None:
    p = passage(1, title=XSS, site=XSS, text=f"{XSS} {SUPPORT}", url="javascript:alert(1)", article_id='"><b>')
    panel = render.evidence(1, [p], "id", weak=False)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel
    assert "<script" not in panel and "<b>" not in panel
    assert not _Elements(panel).find("a"), "only http(s) URLs become links"
    answer = render.answer(1, result(f"Jawaban {XSS} [1]", [p], [citation(p)], standalone_question=XSS))
    assert "<script" not in answer and "&lt;script&gt;" in answer
    table = render.articles([dict(article_id="a", title=XSS, date=None, site=None, url=None, source_file="/x/a.txt")])
    assert "<script" not in table and "&lt;script&gt;" in table
    assert "<script" not in render.panel(1, XSS, "id", "done", "", [(0, XSS, "")])
    assert "<script" not in render.user_message(XSS)


def test_markers_link_to_their_source_cards() -> None:
    p1, p2 = passage(1), passage(2)
    html = render.answer(3, result("Boviengkham Vongdara [1]. Lainnya [2], dan [7].", [p1, p2], [citation(p1)]))
    links = _Elements(html).find("a", "cite")
    assert [a["href"] for a in links] == ["#src-3-1", "#src-3-1"]  # in the answer and in its sources list
    assert "[2]" in html and "[7]" in html  # markers without a verified citation stay plain text
    cards = _Elements(render.result_sources(3, result("x [1]", [p1, p2], [citation(p1)]))).find("article", "src-card")
    assert [(c["id"], "cited" in (c["class"] or "")) for c in cards] == [("src-3-1", True), ("src-3-2", False)]


def test_cited_support_sentence_is_highlighted_in_its_passage() -> None:
    p1, p2 = passage(1), passage(2)
    html = render.result_sources(1, result("Jawaban [1].", [p1, p2], [citation(p1)]))
    assert _Elements(html).marked == [SUPPORT]
    assert "Kunjungan kerja resmi. <mark>" in html and "</mark> Kedua pihak" in html
    assert "<mark>" not in render.evidence(1, [p1, p2], "id", weak=False)  # nothing is marked before the answer


def test_refusal_is_a_distinct_notice() -> None:
    p = passage(1)
    refused = result(REFUSAL["id"], [p], [], refused=True, refusal_reason=Reason.WEAK_EVIDENCE)
    notices = _Elements(render.answer(1, refused)).find("div", "notice")
    assert [n["class"] for n in notices] == ["notice refusal"]
    html = render.answer(1, refused)
    assert REFUSAL["id"] in html and "Tidak ditemukan di artikel" in html and 'class="cite"' not in html
    assert "cukup cocok" in render.result_sources(1, refused)


def test_each_refusal_reason_says_why_in_words() -> None:
    p = passage(1)
    said = {reason: render.answer(1, result(REFUSAL["id"], [p], [], refused=True, refusal_reason=reason))
            for reason in (Reason.SUBJECT_NOT_FOUND, Reason.UNSUPPORTED_NAME, Reason.INVENTED_FIGURE,
                           Reason.MODEL_SAID_NOT_FOUND, Reason.REPEATS_QUESTION, Reason.NO_FIGURE)}
    assert "yang ditanyakan tidak ada" in said[Reason.SUBJECT_NOT_FOUND]
    assert "tidak ada di artikel" in said[Reason.UNSUPPORTED_NAME] and "tidak ada di artikel" in said[Reason.INVENTED_FIGURE]
    assert "Model tidak menemukan" in said[Reason.MODEL_SAID_NOT_FOUND]
    assert "mengulang pertanyaan" in said[Reason.REPEATS_QUESTION] and "angka" in said[Reason.NO_FIGURE]


def test_uncited_answer_says_so() -> None:
    note = UNCITED_NOTE["en"]
    html = render.answer(1, result(f"An answer.\n\n{note}", [passage(1)], [], language="en", uncited=True))
    assert [n["class"] for n in _Elements(html).find("div", "notice")] == ["notice uncited"]
    assert html.startswith("An answer.\n\n<div") and html.count(note) == 1


def test_missing_index_error_names_the_command() -> None:
    html = render.banner(IndexMissingError.at("/tmp/x"))
    assert "Belum ada indeks artikel" in html and "<code>rag ingest</code>" in html and 'lang="en"' in html
    other = render.banner(IndexError_("the index at /tmp/x is damaged or incomplete", "rebuild it"))
    assert "Belum ada indeks artikel" not in other and "damaged" in other


def test_dates_copies_and_the_filter_are_shown() -> None:
    copy = Source(article_id="copy-1", title="Salinan", url="https://kabar.example/salinan", date="2025-08-05",
                  site="kabar.example", source_file="/data/articles/copy.txt")
    dated = passage(1, also_reported_by=[copy])
    undated = passage(2, date=None)
    cites = [citation(dated), citation(undated)]
    cites[0].also_reported_by = [copy]
    r = result("Boviengkham Vongdara [1] [2].", [dated, undated], cites,
               filters=ArticleFilter("2025-08-01", "2025-08-31", ("example",)))
    html_answer = render.answer(1, r)
    assert "4 Agustus 2025" in html_answer and "tanpa tanggal" in html_answer, "every citation shows its date"
    assert "Juga diberitakan oleh" in html_answer and "kabar.example" in html_answer
    assert "dated 2025-08-01 to 2025-08-31, from example" in html_answer
    cards = render.result_sources(1, r)
    assert 'href="https://kabar.example/salinan"' in cards and "5 Agustus 2025" in cards
    assert "Filter" not in render.answer(1, result("Boviengkham [1].", [dated], [citation(dated)]))
