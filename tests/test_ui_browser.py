"""The chat page in a real browser: Debian's Chromium driven by Playwright against the real app and models.

Nothing is mocked: the app runs in this process on a free localhost port with a real index of the seed
articles. Most tests use the tiny SmolLM2 generator (its answers are nonsense, but retrieval, streaming,
refusals, citations plumbing and sessions are real); one test uses the default model. Screenshots go to
tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from rag.answer.language import REFUSAL
from rag.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORT = {"width": 1440, "height": 1000}
ANSWER_TIMEOUT_MS = 240_000

LAOS_Q = "Siapa Menteri Informasi dan Komunikasi Laos yang berkunjung ke Vietnam?"
LAOS_ID = "001_5588f0be4399d35c"
LAOS_SITE = "mst.gov.vn"
LABUAN_Q = "What did Indonesia and Vietnam agree on in Labuan Bajo?"
LABUAN_ID = "003_103e626a5a1d57e5"
FAR_OFF_Q = "Bagaimana cara memasak rendang yang empuk?"
FOLLOW_UP_Q = "Kapan itu terjadi?"

pytestmark = pytest.mark.browser

# Installed before a question is sent: records (in page time) when Enter was pressed, when the sources
# panel first showed evidence for the new turn, when the new bot message first changed from its
# "searching/writing" placeholder (the first answer token), and when the turn finished.
OBSERVER_JS = """
(turn) => {
  const t = {turn: turn, start: null, sources: null, sourcesState: null, first: null, done: null};
  window.__timing = t;
  const bots = () => document.querySelectorAll('#chat [data-testid="bot"]');
  const before = bots().length;
  document.querySelector('#question textarea').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && t.start === null) t.start = performance.now();
  }, {capture: true, once: true});
  const check = () => {
    const now = performance.now();
    const panel = document.querySelector('#sources .src-panel');
    if (panel && Number(panel.dataset.turn) === turn) {
      const current = panel.querySelector('section.src-turn');
      if (t.sources === null && current && current.querySelector('.src-card')) {
        t.sources = now; t.sourcesState = panel.dataset.state;
      }
      if (t.done === null && ['done', 'refused', 'error'].includes(panel.dataset.state)) t.done = now;
    }
    const list = bots();
    if (t.first === null && list.length > before) {
      const last = list[list.length - 1];
      if (!last.querySelector('.rag-pending') && last.textContent.trim()) t.first = now;
    }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                      attributes: true});
}
"""


# ------------------------------------------------------------------------------------------------ fixtures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_app(settings: Settings) -> tuple[Any, str]:
    """Start the real page (models warmed up once) in this process; returns (demo, url)."""
    from rag.assemble import make_assistant
    from ui.app import build_app, serve

    assistant = make_assistant(settings)
    assistant.warm_up()
    demo = build_app(assistant)
    port = _free_port()
    serve(demo, "127.0.0.1", port, settings.ui_max_upload_bytes, block=False)
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def small_app(small_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page on the seed index with the tiny model. The index is a private copy (uploads change it)."""
    root = tmp_path_factory.mktemp("ui-small")
    shutil.copytree(small_settings.index_dir, root / "index")
    # The tiny model spells names it was never shown ("Mentruchakum"); the name check would refuse its answers,
    # and this page's tests are about plumbing (sources, links, sessions), so it is off here only.
    settings = small_settings.model_copy(update={"index_dir": root / "index", "uploads_dir": root / "uploads",
                                                 "verify_names": False})
    demo, url = _start_app(settings)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def chat_page(browser: Any, small_app: str) -> Iterator[Any]:
    """One page shared by the first-question and follow-up tests (a conversation spans both)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    _open(page, small_app)
    yield page
    context.close()


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#question textarea", timeout=60_000)
    page.wait_for_selector("#status .status-line", timeout=60_000)


# ------------------------------------------------------------------------------------------------- helpers


def _turn(page: Any) -> int:
    return int(page.evaluate("() => Number(document.querySelector('#sources .src-panel').dataset.turn || 0)"))


def ask(page: Any, question: str, wait: bool = True) -> int:
    """Type the question and press Enter (timing observer installed first); returns the new turn number."""
    # Gradio may paint the status line before the question box: wait until the box is there and enabled.
    page.wait_for_selector("#question textarea:not([disabled])", timeout=60_000)
    turn = _turn(page) + 1
    page.evaluate(OBSERVER_JS, turn)
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    if wait:
        wait_done(page, turn)
    return turn


def wait_done(page: Any, turn: int) -> None:
    page.wait_for_function(
        """(turn) => { const p = document.querySelector('#sources .src-panel');
             return p && Number(p.dataset.turn) === turn && ['done', 'refused', 'error'].includes(p.dataset.state)
                    && !document.querySelector('#question textarea').disabled; }""",
        arg=turn, timeout=ANSWER_TIMEOUT_MS,
    )


def timings(page: Any) -> dict[str, Any]:
    """Seconds from pressing Enter to: evidence shown, first answer text, finished."""
    t = page.evaluate("() => window.__timing")
    start = t["start"]
    rel = {k: (round((t[k] - start) / 1000, 2) if t[k] is not None and start is not None else None)
           for k in ("sources", "first", "done")}
    rel["sources_state"] = t["sourcesState"]
    return rel


def last_bot(page: Any) -> Any:
    return page.locator('#chat [data-testid="bot"]').last


def cards(page: Any, turn: int) -> list[dict[str, Any]]:
    """The source cards of one turn's sources (current or earlier): id, n, article, title, link href."""
    return page.evaluate(
        """(turn) => Array.from(document.querySelectorAll('#sources .src-card'))
             .filter(c => c.id.startsWith('src-' + turn + '-'))
             .map(c => ({id: c.id, n: Number(c.dataset.n), article: c.dataset.articleId,
                         title: c.querySelector('.src-title').textContent,
                         href: c.querySelector('.src-link a') ? c.querySelector('.src-link a').getAttribute('href') : null,
                         target: c.querySelector('.src-link a') ? c.querySelector('.src-link a').getAttribute('target') : null,
                         file: c.querySelector('.src-file') ? c.querySelector('.src-file').textContent : null,
                         marked: c.querySelector('mark') ? c.querySelector('mark').textContent : null,
                         cited: c.classList.contains('cited')}))""",
        turn,
    )


def cite_links(page: Any) -> list[dict[str, Any]]:
    """The [n] links in the last bot message, as the browser sees them after Gradio's sanitiser."""
    return last_bot(page).evaluate(
        """(el) => Array.from(el.querySelectorAll('a.cite')).map(a => ({text: a.textContent,
             href: a.getAttribute('href'), target: a.getAttribute('target')}))"""
    )


def check_link_goes_to_card(page: Any, link: dict[str, Any]) -> dict[str, Any]:
    """The link survived sanitising, names an existing card, and clicking it brings that card into view."""
    assert link["href"].startswith("#src-"), link
    assert link["target"] in (None, "", "_self"), f"an in-page [n] link must not open a new tab: {link}"
    card_id = link["href"][1:]
    assert page.locator(f"#{card_id}").count() == 1, f"{link['text']} points to no source card"
    last_bot(page).locator(f'a.cite[href="#{card_id}"]').first.click()
    page.wait_for_function(
        """(id) => { const c = document.getElementById(id); const box = c.closest('.src-panel').getBoundingClientRect();
                     const r = c.getBoundingClientRect();
                     return c.classList.contains('flash') && r.top < box.bottom && r.bottom > box.top
                            && r.top >= 0 && r.top < window.innerHeight; }""",
        arg=card_id, timeout=10_000,
    )
    return page.evaluate(
        """(id) => { const c = document.getElementById(id);
                     return {article: c.dataset.articleId, title: c.querySelector('.src-title').textContent,
                             href: c.querySelector('.src-link a') ? c.querySelector('.src-link a').getAttribute('href') : null}; }""",
        card_id,
    )


def shot(page: Any, name: str) -> None:
    page.wait_for_timeout(700)  # let the flash/scroll animations settle
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# --------------------------------------------------------------------------------------------------- tests


def test_question_shows_evidence_then_answer(chat_page: Any) -> None:
    page = chat_page
    shot(page, "00_empty_page")
    turn = ask(page, LAOS_Q)
    t = timings(page)
    print(f"\n[small model] Enter -> sources {t['sources']} s, first answer text {t['first']} s, done {t['done']} s")
    shot(page, "01_first_question_small_model")

    # The evidence was on the page while the answer was still being written (before Done).
    assert t["sources"] is not None and t["sources_state"] == "retrieved", t
    assert t["done"] is not None and t["sources"] <= t["done"]
    assert t["first"] is not None

    # The sources panel shows the right article (retrieval, not the model, decides this).
    found = cards(page, turn)
    assert found, "no source cards"
    laos = [c for c in found if c["article"] == LAOS_ID]
    assert laos, f"the Laos article is not among the sources: {[c['article'] for c in found]}"
    assert "Boviengkham Vongdara" in laos[0]["title"]
    assert laos[0]["href"] and LAOS_SITE in laos[0]["href"] and laos[0]["target"] == "_blank"
    assert found[0]["article"] == LAOS_ID, "the best passage should come from the Laos article"

    bot = last_bot(page)
    assert bot.locator(".rag-pending").count() == 0
    assert bot.locator(".notice.refusal").count() == 0, "an answerable question was refused"
    links = cite_links(page)
    if links:
        # Every [n] in the answer is a working link to a card of this turn, and that card is cited/highlighted.
        evidence_articles = {c["article"] for c in found}
        for link in links:
            card = check_link_goes_to_card(page, link)
            assert card["article"] in evidence_articles
        cited = [c for c in cards(page, turn) if c["cited"]]
        assert cited and all(c["marked"] for c in cited), "cited cards must highlight the supporting sentence"
        shot(page, "02_citation_clicked_small_model")
    else:
        # The tiny model often writes no valid marker: then the page must say so, visibly.
        assert bot.locator(".notice.uncited").is_visible()


def test_follow_up_shows_standalone_question(chat_page: Any) -> None:
    page = chat_page
    if _turn(page) == 0:  # when run alone: make a first turn
        ask(page, LAOS_Q)
    first_turn = _turn(page)
    turn = ask(page, FOLLOW_UP_Q)
    shot(page, "03_follow_up")
    bot = last_bot(page)
    searched = bot.locator(".searched-as")
    assert searched.count() == 1, "the rewritten standalone question is not shown"
    assert searched.inner_text().startswith("Dicari sebagai:")
    assert bot.locator(".searched-as .standalone").inner_text().strip()
    # Both questions are in this conversation, and the first turn's sources stay reachable (its links work).
    user = page.locator('#chat [data-testid="user"]')
    assert user.count() == 2 and LAOS_Q in user.first.inner_text() and FOLLOW_UP_Q in user.last.inner_text()
    assert page.locator(f'#sources details.src-earlier[data-turn="{first_turn}"]').count() == 1
    assert page.locator(f'#sources .src-turn[data-turn="{turn}"] .src-q').inner_text().endswith(FOLLOW_UP_Q)


def test_far_off_question_is_refused(browser: Any, small_app: str) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        _open(page, small_app)
        ask(page, FAR_OFF_Q)
        shot(page, "04_refusal")
        bot = last_bot(page)
        notice = bot.locator(".notice.refusal")
        assert notice.is_visible(), "the refusal is not shown as a notice"
        assert REFUSAL["id"] in notice.inner_text()
        assert "Tidak ditemukan di artikel" in notice.inner_text()  # Indonesian question -> Indonesian labels
        assert bot.locator("a.cite").count() == 0
        panel = page.locator("#sources .src-panel")
        assert panel.get_attribute("data-state") == "refused"
        assert "cukup cocok" in panel.inner_text()  # weak-evidence note instead of "cited sources"
        # The page stays usable: the box is enabled again.
        assert page.locator("#question textarea").is_enabled()
    finally:
        context.close()


def test_two_sessions_at_once_do_not_mix(browser: Any, small_app: str) -> None:
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    try:
        for p in pages:
            _open(p, small_app)
        turns = [ask(p, q, wait=False) for p, q in zip(pages, [LAOS_Q, LABUAN_Q])]
        pages[1].wait_for_timeout(1500)
        shot(pages[1], "05_concurrent_session_b_waiting")  # queued behind session A
        for p, turn in zip(pages, turns):
            wait_done(p, turn)
        shot(pages[0], "06_concurrent_session_a")
        shot(pages[1], "07_concurrent_session_b")
        for p, mine, other, article in ((pages[0], LAOS_Q, LABUAN_Q, LAOS_ID), (pages[1], LABUAN_Q, LAOS_Q, LABUAN_ID)):
            chat = p.locator("#chat").inner_text()
            assert mine in chat and other not in chat, "a conversation leaked into another session"
            assert p.locator('#chat [data-testid="user"]').count() == 1
            bot = last_bot(p)
            assert bot.locator(".rag-pending").count() == 0 and bot.locator(".notice.error").count() == 0
            assert bot.inner_text().strip()
            assert p.locator("#sources .src-panel").get_attribute("data-state") in ("done", "refused")
            assert article in {c["article"] for c in cards(p, 1)}
        # The English question got English labels.
        assert "Question:" in pages[1].locator("#sources .src-q").inner_text()
        # Article without a URL: the card shows its source file name instead of a link.
        labuan = [c for c in cards(pages[1], 1) if c["article"] == LABUAN_ID]
        assert labuan[0]["href"] is None and LABUAN_ID in labuan[0]["file"]
    finally:
        for c in contexts:
            c.close()


@pytest.mark.default_model
def test_default_model_answer_links_to_right_article(browser: Any, seed_settings: Settings) -> None:
    demo, url = _start_app(seed_settings)  # the default generator (qwen2.5-coder-1.5b)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        _open(page, url)
        turn = ask(page, LAOS_Q)
        t = timings(page)
        print(f"\n[default model] Enter -> sources {t['sources']} s, first answer token {t['first']} s, "
              f"done {t['done']} s")
        shot(page, "08_default_model_answer")
        assert t["sources"] is not None and t["sources_state"] == "retrieved"
        assert t["first"] is not None and t["sources"] <= t["first"] <= t["done"]
        links = cite_links(page)
        assert links, f"the default model's answer has no [n] link: {last_bot(page).inner_text()!r}"
        card = check_link_goes_to_card(page, links[0])
        assert card["article"] == LAOS_ID
        assert "Boviengkham Vongdara" in card["title"]
        assert card["href"] and LAOS_SITE in card["href"]
        cited = [c for c in cards(page, turn) if c["cited"]]
        assert cited and all(c["marked"] for c in cited)
        shot(page, "09_default_model_citation_clicked")
    finally:
        context.close()
        demo.close()


def test_upload_article_and_reject_bad_file(browser: Any, small_app: str, tmp_path: Path) -> None:
    good = tmp_path / "uji_festival_kopi_gayo.txt"
    good.write_text(
        "Festival Kopi Gayo 2025 Digelar di Takengon\n"
        "Takengon, 12 Juni 2025 - Pemerintah Kabupaten Aceh Tengah menggelar Festival Kopi Gayo 2025 selama tiga "
        "hari di Lapangan Musara Alun. Festival ini diikuti oleh 120 petani dan 45 kedai kopi dari seluruh Aceh.\n"
        "Bupati Aceh Tengah mengatakan festival bertujuan memperkenalkan kopi arabika Gayo kepada pembeli dari "
        "luar negeri. Panitia mencatat transaksi sebesar Rp 8,5 miliar selama festival berlangsung.\n"
        # Articles are untrusted: markup in them must show as text, never run.
        'Spanduk festival bertuliskan <img src=x onerror="window.__xss=1"> <b>Kopi Gayo</b> & Teh.\n'
        "Sumber: https://example.org/berita/festival-kopi-gayo-2025\n",
        encoding="utf-8",
    )
    bad = tmp_path / "rusak.pdf"  # a text file under a PDF name: refused with the reason
    bad.write_text("Berita tentang kafe di Jakarta yang ramai dikunjungi.\n", encoding="utf-8")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        _open(page, small_app)
        page.get_by_role("tab", name="Artikel terindeks · Indexed articles").click()
        table = page.locator("#articles table.articles tbody tr")
        table.first.wait_for()
        before = table.count()

        page.locator("#upload input[type=file]").set_input_files(str(good))
        page.wait_for_selector("#upload-msg .upload-result", timeout=120_000)
        msg = page.locator("#upload-msg .upload-result")
        assert "notice ok" in (msg.get_attribute("class") or ""), msg.inner_text()
        assert "added 1" in msg.inner_text()
        page.wait_for_function("(n) => document.querySelectorAll('#articles table.articles tbody tr').length === n",
                               arg=before + 1, timeout=10_000)
        row = page.locator("#articles tr", has_text="Festival Kopi Gayo 2025")
        assert row.count() == 1
        assert row.locator("a").get_attribute("href") == "https://example.org/berita/festival-kopi-gayo-2025"
        assert page.locator("#status .n-articles").inner_text() == str(before + 1)
        shot(page, "10_upload_ok")

        page.locator("#upload input[type=file]").set_input_files(str(bad))
        page.wait_for_function(
            "() => { const m = document.querySelector('#upload-msg .upload-result');"
            " return m && m.classList.contains('error'); }", timeout=60_000)
        err = page.locator("#upload-msg .upload-result").inner_text()
        assert "named .pdf but the content is not a PDF" in err and "rusak.pdf" in err
        assert table.count() == before + 1  # nothing added, table intact
        shot(page, "11_upload_rejected")

        # The new article is searchable right away (no restart): its passage is in the evidence.
        page.get_by_role("tab", name="Tanya jawab · Ask").click()
        turn = ask(page, "Berapa nilai transaksi selama Festival Kopi Gayo 2025?")
        assert any("Festival Kopi Gayo" in c["title"] for c in cards(page, turn))
        shot(page, "12_question_about_uploaded_article")
        page.get_by_role("tab", name="Artikel terindeks · Indexed articles").click()
        assert page.evaluate("() => window.__xss") is None, "article markup ran in the page"
        assert page.locator("#sources img, #chat .message img, #articles img").count() == 0
    finally:
        context.close()


def test_page_starts_without_index_and_explains(browser: Any, tmp_path: Path) -> None:
    """`rag ui` with no index: the page still starts (through the real CLI), says what to do, and stays usable."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_UPLOADS_DIR": str(tmp_path / "uploads")}
    cmd = [sys.executable, "-m", "rag", "--index-dir", str(tmp_path / "missing-index"), "--generator", "smollm2-135m",
           "ui", "--host", "127.0.0.1", "--port", str(port)]
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).parent.parent)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the page did not start"
                time.sleep(0.5)
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#question textarea", timeout=60_000)
        banner = page.locator("#status .notice.error")
        banner.wait_for(timeout=60_000)
        assert "Belum ada indeks artikel" in banner.inner_text() and "rag ingest" in banner.inner_text()
        turn = ask(page, LAOS_Q)
        shot(page, "13_no_index")
        error = last_bot(page).locator(".notice.error")
        assert error.is_visible() and "rag ingest" in error.inner_text()
        assert page.locator("#sources .src-panel").get_attribute("data-state") == "error"
        # Still usable: a second question gets the same readable answer.
        ask(page, LABUAN_Q)
        assert _turn(page) == turn + 1
        assert last_bot(page).locator(".notice.error").is_visible()
        assert page.locator("#question textarea").is_enabled()
    finally:
        context.close()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# ------------------------------------------------------------------------------------- a server with keys


def sign_in(page: Any, url: str, name: str, key: str) -> None:
    """Sign in on the page's login form (name of the key, and the key) and wait for the signed-in page."""
    page.goto(url)
    page.wait_for_selector("input[type=password]", timeout=60_000)
    page.locator("input[type=text]").first.fill(name)
    page.locator("input[type=password]").fill(key)
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#status .signed-in", timeout=60_000)


def test_sign_in_readers_never_see_the_upload_editors_upload_as_themselves(browser: Any, keyed_server: Any,
                                                                           tmp_path: Path) -> None:
    import httpx

    s = keyed_server
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(s.url + "/")
        page.wait_for_selector("input[type=password]", timeout=60_000)
        assert page.locator("#question").count() == 0, "the page showed more than its sign-in"
        page.locator("input[type=text]").first.fill("page")
        page.locator("input[type=password]").fill("rag_not-the-key")
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("text=Incorrect", timeout=30_000)
        shot(page, "20_sign_in_refused")

        sign_in(page, s.url + "/", "page", s.keys["page"])
        assert "page" in page.locator("#status .signed-in").inner_text()
        assert "reader" in page.locator("#status .signed-in").inner_text()
        page.get_by_role("tab", name="Artikel terindeks · Indexed articles").click()
        page.locator("#articles table.articles tbody tr").first.wait_for()
        assert page.locator("#upload, #upload-box").count() == 0 or not page.locator("#upload").is_visible()
        shot(page, "21_reader_articles_no_upload")
    finally:
        context.close()

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in(page, s.url + "/", "ed", s.keys["ed"])
        page.get_by_role("tab", name="Artikel terindeks · Indexed articles").click()
        good = tmp_path / "uji_pameran_batik_pekalongan.txt"
        good.write_text("Pameran Batik Pekalongan 2025 Dibuka\nPekalongan, 3 Juli 2025 - Pameran Batik Pekalongan "
                        "2025 dibuka di Museum Batik dan diikuti 85 perajin dari Jawa Tengah selama lima hari.\n",
                        encoding="utf-8")
        page.locator("#upload input[type=file]").set_input_files(str(good))
        page.wait_for_selector("#upload-msg .upload-result", timeout=120_000)
        assert "added 1" in page.locator("#upload-msg .upload-result").inner_text()
        shot(page, "22_editor_upload")
    finally:
        context.close()
    trail = httpx.get(f"{s.url}/api/audit", headers=s.auth("ada")).json()
    assert [(e["actor"], e["via"], e["action"]) for e in trail if e["article_id"] == good.stem] == [
        ("ed", "upload", "add")]


def test_page_questions_wait_in_the_shared_queue_and_refusals_do_not(browser: Any, keyed_server: Any) -> None:
    """API clients keep the model busy; a page user's question shows its place in line, while another page user's
    question that needs no model is refused at once."""
    import threading

    import httpx

    s = keyed_server
    busy = []

    def generate(key: str) -> None:  # abandoned after 20 s: the server then stops it
        try:
            httpx.post(f"{s.url}/api/ask", json={"question": LABUAN_Q, "max_tokens": 600}, headers=s.auth(key),
                       timeout=20)
        except httpx.HTTPError:
            pass

    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(2)]
    waiting, refused = (c.new_page() for c in contexts)
    try:
        sign_in(waiting, s.url + "/", "page", s.keys["page"])
        sign_in(refused, s.url + "/", "pager", s.keys["pager"])
        for key in ("r7", "r8"):
            busy.append(threading.Thread(target=generate, args=(key,)))
            busy[-1].start()
        deadline = time.time() + 30
        while httpx.get(f"{s.url}/api/queue", headers=s.auth("r9")).json()["waiting"] < 1:
            assert time.time() < deadline, "the API questions never filled the queue"
            time.sleep(0.2)
        ask(waiting, LAOS_Q, wait=False)
        waiting.wait_for_selector("#chat .rag-waiting", timeout=60_000)
        place = waiting.locator("#chat .rag-waiting").last.inner_text()
        assert "di depan Anda" in place, place
        ahead = int(re.search(r"(\d+) pertanyaan di depan", place).group(1))
        assert ahead >= 2, place
        shot(waiting, "23_page_waits_in_line")

        ask(refused, FAR_OFF_Q)
        t = timings(refused)
        assert refused.locator(".notice.refusal").last.is_visible()
        assert waiting.locator("#sources .src-panel").get_attribute("data-state") not in ("done", "refused"), (
            "the refusal should come while the waiting question is still in line")
        print(f"\n[page] off-topic refusal done in {t['done']} s while another page user waited with {ahead} ahead")
        shot(refused, "24_refusal_beside_the_queue")
    finally:
        for c in contexts:
            c.close()  # the waiting page goes away: its place is freed
        for b in busy:
            b.join()
