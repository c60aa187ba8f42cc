"""The gallery in a real browser: Debian's chromium, headless, driven by Playwright's Python
package (no `playwright install`: it launches /usr/bin/chromium). The browser may reach
only the gallery on loopback; anything else is blocked and fails the test.

Screenshots of every page land in test-artifacts/gallery/ (gitignored)."""

import shutil
from pathlib import Path

import pytest
from aiohttp import web

from core.settings import load_settings
from gallery.app import make_app
from reelbot.local import free_port
from tests.test_gallery import HOSTILE_NAME, HOSTILE_PROMPTS, HOSTILE_THEME, seed_gallery

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[dev]' installs playwright")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "gallery"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
    # Belt and braces: no name but loopback resolves, whatever chromium would like to fetch.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


class Gallery:
    def __init__(self, base: str, seeded, context):
        self.base = base
        self.seeded = seeded
        self.context = context
        self.offsite: list[str] = []  # requests that tried to leave loopback
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []

    async def open(self, path: str):
        page = await self.context.new_page()
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.responses = []
        page.on("response", lambda r: page.responses.append(r))
        await page.goto(self.base + path, wait_until="networkidle")
        return page


@pytest.fixture(scope="module")
async def gallery(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: scripts/install --dev installs it (apt-get install chromium)")
    root = tmp_path_factory.mktemp("browser")
    seeded = await seed_gallery(f"sqlite:///{root / 'gallery.db'}", root / "media")
    port = free_port()
    settings = load_settings(database_url=seeded.url, storage_url=f"file://{seeded.media}")
    runner = web.AppRunner(make_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        state = Gallery(base, seeded, context)

        async def only_loopback(route):
            if route.request.url.startswith(base + "/"):
                await route.continue_()
            else:
                state.offsite.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_loopback)
        yield state
        await context.close()
        await browser.close()
    await runner.cleanup()
    assert state.offsite == [], f"the browser tried to leave loopback: {state.offsite}"


async def test_front_page_shows_the_clips_with_posters(gallery):
    page = await gallery.open("/?sort=top&window=all")
    cards = page.locator("li.card")
    assert await cards.count() == 30
    ids = await cards.evaluate_all("cards => cards.map(c => c.dataset.clip)")
    assert ids == gallery.seeded.public[:30]
    posters = await page.eval_on_selector_all("video.thumb", "vs => vs.map(v => v.poster)")
    assert len(posters) == 30 and all(p.endswith("/poster.jpg") for p in posters)
    # Every poster arrived as a JPEG, and not one video byte: videos wait until played.
    loaded = {r.url: r for r in page.responses}
    for poster in set(posters):
        assert loaded[poster].status == 200 and loaded[poster].headers["content-type"] == "image/jpeg"
    assert not [url for url in loaded if url.endswith(".mp4")]
    # The grid is laid out (the stylesheet applied): cards sit side by side.
    first, second = [await cards.nth(i).bounding_box() for i in (0, 1)]
    assert first["y"] == second["y"] and second["x"] > first["x"] + first["width"] / 2
    await page.screenshot(path=ARTIFACTS / "front.png", full_page=True)
    await page.close()


async def test_clip_page_plays_its_video(gallery):
    page = await gallery.open("/clips/remix")
    video = page.locator("video.player")
    assert await video.get_attribute("preload") == "none"
    assert await video.evaluate("v => v.readyState") == 0  # nothing loaded before play
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function("document.querySelector('video.player').readyState >= 2", timeout=15_000)
    assert await video.evaluate("v => v.videoWidth") == 112
    assert await page.locator(".prompt-full").inner_text() == "a red fox running through snow at night"
    assert "/create prompt: a red fox running through snow at night" in await page.locator("pre.command").inner_text()
    assert await page.locator(".lineage a[href$='/clips/fox']").count() >= 1
    await page.screenshot(path=ARTIFACTS / "clip.png", full_page=True)
    await page.close()


async def test_hostile_prompts_render_as_text_and_run_nothing(gallery):
    for index, (clip_id, prompt) in enumerate(zip(gallery.seeded.hostile, HOSTILE_PROMPTS)):
        page = await gallery.open(f"/clips/{clip_id}")
        assert await page.locator(".prompt-full").inner_text() == prompt
        assert await page.locator(".facts a.author").inner_text() == HOSTILE_NAME
        assert await page.title() == f"{prompt} · Reelbot gallery"
        assert await page.evaluate("typeof window.__pwned") == "undefined"
        assert await page.locator("script").count() == 0
        assert await page.locator("img[src='x'], b[onmouseover]").count() == 0
        await page.locator(".facts a.author").hover()  # the name's onmouseover, were it markup
        assert await page.evaluate("typeof window.__pwned") == "undefined"
        await page.screenshot(path=ARTIFACTS / f"hostile-{index}.png", full_page=True)
        await page.close()
    page = await gallery.open("/members/mallory")
    texts = await page.locator("li.card .prompt").all_inner_texts()
    assert sorted(texts) == sorted(HOSTILE_PROMPTS)
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    await page.screenshot(path=ARTIFACTS / "member-hostile.png", full_page=True)
    await page.close()
    assert gallery.dialogs == []


async def test_theme_pages_show_hostile_words_as_text_and_entries_by_votes(gallery):
    seeded = gallery.seeded
    page = await gallery.open(f"/themes/{seeded.theme}")
    assert await page.locator("h1.theme-words").inner_text() == HOSTILE_THEME
    assert await page.title() == f"{HOSTILE_THEME} · Themes · Reelbot gallery"
    entries = page.locator("ol.entries li.entry")
    assert await entries.evaluate_all("es => es.map(e => e.dataset.clip)") == list(seeded.theme_order)
    assert await page.locator("li.entry .rank").all_inner_texts() == ["#1", "#2", "#3"]
    assert await page.locator("li.entry .votes").all_inner_texts() == [f"▲ {v}" for v in seeded.theme_votes]
    posters = await page.eval_on_selector_all("li.entry video.thumb", "vs => vs.map(v => v.poster)")
    assert len(posters) == 3 and all(p.endswith("/poster.jpg") for p in posters)
    # The cards are laid out by the stylesheet, side by side.
    first, second = [await entries.nth(i).bounding_box() for i in (0, 1)]
    assert first["y"] == second["y"] and second["x"] > first["x"]
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert await page.locator("script, img[src='x']").count() == 0
    await page.screenshot(path=ARTIFACTS / "theme.png", full_page=True)
    await page.close()
    page = await gallery.open("/themes")
    assert HOSTILE_THEME in await page.locator("ul.themes").inner_text()
    await page.locator(f"li[data-theme='{seeded.theme}'] a.words").click()
    await page.wait_for_url(f"**/themes/{seeded.theme}")
    await page.go_back()
    await page.screenshot(path=ARTIFACTS / "themes.png", full_page=True)
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    await page.close()
    page = await gallery.open("/clips/fox")
    assert await page.locator(".facts dd.theme").inner_text() == HOSTILE_THEME
    await page.close()
    assert gallery.dialogs == []


@pytest.mark.parametrize("name,path,expect", [
    ("member", "/members/ann?sort=top", "Clips by Ann"),
    ("search", "/search?q=fox", "Clips matching “fox”"),
    ("new", "/?sort=new", "Newest clips"),
    ("not-found", "/clips/secret", "Not found"),
    ("bad-cursor", "/?cursor=tampered", "That did not work"),
])
async def test_other_pages(gallery, name, path, expect):
    page = await gallery.open(path)
    assert await page.locator("h1").inner_text() == expect
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    await page.close()


async def test_embed_player_and_no_csp_violations(gallery):
    page = await gallery.open("/clips/fox/embed")
    await page.locator("video").evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function("document.querySelector('video').readyState >= 2", timeout=15_000)
    await page.screenshot(path=ARTIFACTS / "embed.png")
    await page.close()
    # Our own pages break none of our own policy (no inline style or script anywhere).
    violations = [e for e in gallery.console_errors if "Content Security Policy" in e]
    assert violations == []
