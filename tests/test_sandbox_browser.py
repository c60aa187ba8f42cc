"""`reelbot up` with no Discord token, used the way a newcomer uses it: a real `reelbot up`
process (its own Redis, worker, gallery and the real bot connected to the sandbox's local
Discord), and Debian's chromium, headless, driven by Playwright on the sandbox page. The
browser may reach only the sandbox on loopback; anything else fails the test.

The tests run in order and share one page, as one newcomer's session would. Screenshots land
in test-artifacts/sandbox/ (gitignored); docs/sandbox.png is a copy of clip.png."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from reelbot.local import free_port
from tests.test_gallery_browser import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[dev]' installs playwright")
expect = playwright_api.expect

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "sandbox"
WAIT_MS = 90_000  # a clip on a busy two-core box
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> **bold** ' \
          '[click](javascript:window.__pwned=3) <@1> ||x||'


class Up:
    """The `reelbot up` process and everything it printed."""

    def __init__(self, cwd: Path, env: dict):
        self.proc = subprocess.Popen([sys.executable, "-m", "reelbot", "up"], cwd=cwd, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self.cwd = cwd
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    async def wait_line(self, pattern: str, timeout: float = 180, start: int = 0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                found = re.search(pattern, line)
                if found:
                    return found
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        raise AssertionError(f"`reelbot up` never printed {pattern!r}:\n" + "\n".join(self.lines) + self.logs())

    def logs(self) -> str:
        text = ""
        for log in sorted((self.cwd / ".reelbot" / "logs").glob("*.log")):
            text += f"\n--- {log.name} ---\n" + log.read_text(errors="replace")[-3000:]
        return text

    def pid_of(self, child: str) -> int:
        """The pid `up` last printed for a child ("worker 1", "bot")."""
        pids = [int(m.group(1)) for line in self.lines
                for m in [re.search(rf"^\s*{child}\s+(?:pid |restarted \(pid )(\d+)", line)] if m]
        return pids[-1]


class Session:
    def __init__(self, up: Up, base: str, page, context):
        self.up, self.base, self.page, self.context = up, base, page, context
        self.offsite: list[str] = []
        self.console: list[str] = []
        self.dialogs: list[str] = []

    async def command(self, text: str, files: dict | None = None):
        """Type a command in the message box like a member, attach files, press Enter."""
        box = self.page.locator("#input")
        await box.click()
        await box.fill("")
        await box.press_sequentially(text, delay=5)
        for option, (name, data, mime) in (files or {}).items():
            await self.page.set_input_files(f"#options input[name={option}]",
                                            files=[{"name": name, "mimeType": mime, "buffer": data}])
        await box.press("Enter")
        await expect(self.page.locator("#input")).to_have_value("", timeout=10_000)

    def messages(self):
        return self.page.locator("#messages li.msg")

    def last_answer(self, command: str):
        return self.messages().filter(has=self.page.locator(".used", has_text=f"used /{command}")).last

    def posts(self):
        """Clip posts: messages with a video, in the open channel."""
        return self.messages().filter(has=self.page.locator("video"))

    async def open(self, name: str):
        await self.page.locator("#channels .chan", has_text=name).first.click()
        await expect(self.page.locator("#channel-title")).to_contain_text(name)

    async def plays(self, post) -> None:
        video = post.locator("video")
        await video.evaluate("v => { v.muted = true; return v.play(); }")
        handle = await video.element_handle()
        await self.page.wait_for_function("v => v.readyState >= 2 && v.videoWidth > 0", arg=handle,
                                          timeout=30_000)

    async def press(self, post, label: str):
        await post.locator("button.btn", has_text=label).click()


@pytest.fixture(scope="module")
async def sandbox(tmp_path_factory, models_dir):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: scripts/install --dev installs it (apt-get install chromium)")
    cwd = tmp_path_factory.mktemp("newcomer")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REELBOT_") and k not in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")}
    env.update({
        # Nothing a newcomer would set, except what makes the test fast and keeps it off the
        # shared box's default ports: `up` itself must keep the tiny model off the hub.
        "REELBOT_SANDBOX_PORT": str(port),
        "REELBOT_GALLERY_PORT": str(free_port()),
        "REELBOT_DEVICE": "cpu",
        "REELBOT_MODELS_DIR": str(models_dir),
        "REELBOT_MODEL_STEPS": '{"ltx-tiny": 400}',  # a few seconds: progress edits to see, a render to kill
        "REELBOT_PROGRESS_EDIT_SECONDS": "0.5",
        "REELBOT_COOLDOWN_SECONDS": "0",
        "REELBOT_JOBS_IN_FLIGHT": "5",
        "REELBOT_LEASE_SECONDS": "3",
        "REELBOT_HEARTBEAT_SECONDS": "1",
        "OMP_NUM_THREADS": "1",
    })
    up = Up(cwd, env)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    try:
        await up.wait_line(r"Reelbot is online in the sandbox", timeout=240)
        await up.wait_line(r"worker 1 ready: serves ltx-tiny", timeout=240)
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            session = Session(up, base, page, context)

            async def only_loopback(route):
                if route.request.url.startswith(base + "/"):
                    await route.continue_()
                else:
                    session.offsite.append(route.request.url)
                    await route.abort()

            await context.route("**/*", only_loopback)
            page.on("console", lambda m: m.type in ("error", "warning") and session.console.append(m.text))
            page.on("pageerror", lambda e: session.console.append(f"page error: {e}"))
            page.on("dialog", lambda d: (session.dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
            await page.goto(base + "/", wait_until="domcontentloaded")
            await expect(page.locator("#bot-status")).to_have_class("online", timeout=30_000)
            yield session
            await context.close()
            await browser.close()
        assert session.offsite == [], f"the page tried to leave loopback: {session.offsite}"
    finally:
        if up.proc.poll() is None:
            up.proc.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                up.proc.wait(120)
            except subprocess.TimeoutExpired:
                up.proc.kill()
                raise AssertionError("Ctrl-C did not stop `reelbot up`:\n" + "\n".join(up.lines))
    assert up.proc.returncode == 0, "\n".join(up.lines) + up.logs()
    assert "stopped everything" in up.lines[-1]


async def test_up_prints_the_sandbox_page_first_and_runs_the_tiny_model(sandbox):
    lines = sandbox.up.lines
    assert lines[0].split()[:2] == ["sandbox", sandbox.base + "/"], lines
    models = next(line for line in lines if line.split()[:1] == ["models"])
    assert "ltx-tiny" in models and "noise" in models and "nothing to download" in models
    assert any(line.split()[:1] == ["bot"] for line in lines)
    # The page is the sandbox's, with its security headers.
    with urllib.request.urlopen(sandbox.base + "/") as response:
        csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe" not in csp


async def test_the_command_list_is_what_the_bot_registered(sandbox):
    page = sandbox.page
    state = await page.evaluate("fetch('/sandbox/state').then(r => r.json())")
    registered = sorted(c["name"] for c in state["commands"] if c["type"] == 1)
    assert {"create", "animate", "extend", "help", "queue"} <= set(registered)
    # Two servers to try the fair queue between them; the page switches servers.
    assert [s["name"] for s in state["servers"]] == ["Reelbot sandbox", "Second server"]
    await expect(page.locator("#server option")).to_have_count(2)
    for_alice = sorted(c["name"] for c in state["commands"]
                       if c["type"] == 1 and c.get("default_member_permissions") is None)
    await page.locator("#input").click()
    await page.keyboard.type("/")
    names = page.locator("#suggestions li[role=option] .name")
    await expect(names).to_have_count(len(for_alice))
    assert sorted(n.removeprefix("/") for n in await names.all_inner_texts()) == for_alice
    assert "admin" not in for_alice  # guarded by Manage Server: alice's client does not offer it
    # /create's options as the bot declared them: the prompt is typed in the box, the
    # attachment options get file pickers.
    await page.keyboard.type("create ")
    create = next(c for c in state["commands"] if c["name"] == "create")
    attachments = [o["name"] for o in create["options"] if o["type"] == 11]
    assert attachments
    for name in attachments:
        await expect(page.locator(f"#options input[type=file][name={name}]")).to_have_count(1)
    await expect(page.locator("#composer-hint")).to_contain_text("prompt")
    await page.locator("#input").fill("")
    await page.screenshot(path=ARTIFACTS / "commands.png")


async def test_create_shows_the_status_its_progress_then_the_clip_in_a_thread(sandbox):
    page = sandbox.page
    await page.evaluate("""() => {
        window.__notReloaded = true;
        window.__texts = new Set();
        const list = document.getElementById("messages");
        new MutationObserver(() => {
            for (const n of list.querySelectorAll("li.msg .content")) window.__texts.add(n.textContent);
        }).observe(list, {childList: true, subtree: true, characterData: true});
    }""")
    await sandbox.command("/create a red fox -ar 9:16")
    status = sandbox.last_answer("create")
    await expect(status.locator(".content")).to_contain_text(re.compile("Queued|Rendering|waiting"), timeout=10_000)
    await expect(status.locator(".content")).to_contain_text("Done", timeout=WAIT_MS)
    seen = await page.evaluate("[...window.__texts]")
    assert any(t.startswith("Rendering") and "%" in t for t in seen), seen  # live progress edits
    assert await page.evaluate("window.__notReloaded") is True
    await expect(status.locator(".edited")).to_have_count(1)

    thread = status.locator(".thread-link")
    await expect(thread).to_contain_text("a red fox")
    await expect(page.locator("#channels .chan.thread", has_text="a red fox")).to_have_count(1)
    await thread.click()
    await expect(page.locator("#channel-title")).to_contain_text("a red fox")
    post = sandbox.posts().first
    await expect(post).to_be_visible(timeout=WAIT_MS)
    await sandbox.plays(post)
    for label in ("Retry", "Remix", "Extend", "Delete"):
        await expect(post.locator("button.btn", has_text=label)).to_have_count(1)
    await expect(post.locator("button.btn", has_text="👍")).to_have_text(re.compile(r"👍\s*0"))
    await expect(post.locator(".notice")).to_contain_text("noise from a test model", ignore_case=True)
    await expect(post.locator(".embed")).to_contain_text("-ar 9:16")
    width, height = await post.locator("video").evaluate("v => [v.videoWidth, v.videoHeight]")
    assert width < height  # 9:16
    await page.screenshot(path=ARTIFACTS / "clip.png")


async def test_retry_gives_a_second_clip(sandbox):
    first = sandbox.posts().first
    await sandbox.press(first, "Retry")
    await expect(sandbox.posts()).to_have_count(2, timeout=WAIT_MS)
    await sandbox.plays(sandbox.posts().nth(1))
    seeds = await sandbox.posts().locator(".embed-field", has_text="Seed").all_inner_texts()
    assert len(set(seeds)) == 2  # a new seed


async def test_remix_opens_the_dialog_and_its_clip_arrives(sandbox):
    page = sandbox.page
    await sandbox.press(sandbox.posts().first, "Remix")
    dialog = page.locator("dialog#modal")
    await expect(dialog).to_be_visible()
    field = dialog.locator("input, textarea").first
    await expect(field).to_have_value(re.compile("a red fox"))
    await field.fill("a red fox in the rain -ar 9:16")
    await page.screenshot(path=ARTIFACTS / "remix.png")
    await dialog.locator("#modal-submit").click()
    await expect(dialog).to_be_hidden()
    remix = sandbox.posts().filter(has=page.locator(".embed", has_text="in the rain"))
    await expect(remix).to_have_count(1, timeout=WAIT_MS)
    await sandbox.plays(remix)
    await expect(remix.locator(".embed")).to_contain_text("From")  # its parent


async def test_edit_asks_for_the_change_and_the_edit_arrives(sandbox):
    page = sandbox.page
    await sandbox.press(sandbox.posts().first, "Edit")
    dialog = page.locator("dialog#modal")
    await expect(dialog).to_be_visible()
    await dialog.locator("input, textarea").first.fill("make it snow")
    await dialog.locator("#modal-submit").click()
    await expect(dialog).to_be_hidden()
    edit = sandbox.posts().filter(has=page.locator(".embed", has_text="make it snow"))
    await expect(edit).to_have_count(1, timeout=WAIT_MS)
    await sandbox.plays(edit)
    await expect(edit.locator(".embed")).to_contain_text("Edit of")  # its source
    await expect(edit.locator(".embed")).to_contain_text("the whole frame")


async def test_upvote_toggles_the_count(sandbox):
    post = sandbox.posts().first
    vote = post.locator("button.btn", has_text="👍")
    await vote.click()
    await expect(sandbox.posts().first.locator("button.btn", has_text="👍")).to_have_text(re.compile(r"👍\s*1"))
    await sandbox.posts().first.locator("button.btn", has_text="👍").click()
    await expect(sandbox.posts().first.locator("button.btn", has_text="👍")).to_have_text(re.compile(r"👍\s*0"))


async def test_delete_removes_the_post(sandbox):
    count = await sandbox.posts().count()
    retry = sandbox.posts().nth(1)
    clip_id = await retry.get_attribute("data-id")
    await sandbox.press(retry, "Delete")
    await expect(sandbox.page.locator(f"li.msg[data-id='{clip_id}']")).to_have_count(0, timeout=15_000)
    await expect(sandbox.posts()).to_have_count(count - 1)


async def test_a_bad_flag_gets_a_private_error(sandbox):
    await sandbox.open("general")
    await sandbox.command("/create a fox -fps 99")
    private = sandbox.messages().filter(has_text="Only you can see this").last
    await expect(private).to_contain_text("-fps", timeout=15_000)
    await sandbox.page.screenshot(path=ARTIFACTS / "bad-flag.png")


async def test_an_attached_bad_file_is_refused(sandbox):
    before = await sandbox.messages().filter(has_text="Only you can see this").count()
    await sandbox.command("/create a fox", files={"image": ("fox.png", b"%PDF-1.4 not a picture", "image/png")})
    private = sandbox.messages().filter(has_text="Only you can see this")
    await expect(private).to_have_count(before + 1, timeout=15_000)
    await expect(private.last).to_contain_text("not a picture", timeout=15_000)


async def test_a_private_clip_comes_in_the_dms(sandbox):
    page = sandbox.page
    await sandbox.command("/create a secret fox -private")
    dm = page.locator("#dms .chan")
    await expect(dm).to_have_class(re.compile("unread"), timeout=WAIT_MS)
    await dm.click()
    await expect(page.locator("#channel-title")).to_have_text("@Reelbot")
    post = sandbox.posts().filter(has=page.locator(".embed", has_text="a secret fox"))
    await expect(post).to_have_count(1)
    await sandbox.plays(post)
    await expect(post.locator(".embed-footer")).to_contain_text("private")
    await sandbox.open("general")


async def test_a_moderator_deletes_alices_clip(sandbox):
    page = sandbox.page
    await page.locator("#member").select_option(label="mod (Moderator)")
    await expect(page.locator("#member-roles")).to_contain_text("delete anyone")
    await sandbox.open("a red fox")
    post = sandbox.posts().first
    await expect(post.locator(".embed")).to_contain_text("@alice")
    clip_id = await post.get_attribute("data-id")
    await sandbox.press(post, "Delete")
    await expect(page.locator(f"li.msg[data-id='{clip_id}']")).to_have_count(0, timeout=15_000)
    await page.locator("#member").select_option(label="alice")
    await expect(page.locator("#member-roles")).to_contain_text("ordinary")


async def test_an_admin_starts_a_sample_theme_and_members_see_it(sandbox):
    page = sandbox.page
    await sandbox.open("general")
    admin = await page.locator("#member option", has_text="admin").first.get_attribute("value")
    alice = await page.locator("#member option", has_text="alice").first.get_attribute("value")
    await page.locator("#member").select_option(value=admin)
    await expect(page.locator("#member-roles")).to_contain_text("manage the server")
    assert any("sample theme" in line for line in await page.locator("#messages").all_inner_texts())  # the welcome
    box = page.locator("#input")
    await box.click()
    await box.fill("")
    await box.press_sequentially("/admin theme start foxes in the snow", delay=5)
    duration = page.locator("#options input[name=duration]")
    await duration.press_sequentially("1", delay=5)
    suggestion = page.locator("#options button", has_text="1h (1 hour)")  # the bot's autocomplete
    await expect(suggestion).to_be_visible(timeout=10_000)
    await suggestion.click()
    await expect(duration).to_have_value("1h")
    await box.press("Enter")
    await expect(box).to_have_value("", timeout=10_000)
    announcement = sandbox.messages().filter(has_text="New theme").last
    await expect(announcement).to_contain_text("foxes in the snow", timeout=15_000)
    await expect(announcement).to_contain_text("-theme")
    await page.screenshot(path=ARTIFACTS / "theme.png")

    await page.locator("#member").select_option(value=alice)
    await sandbox.command("/theme ")  # the space: past the suggestions, Enter sends
    shown = sandbox.messages().filter(has_text="Only you can see this").filter(has_text="Theme: foxes in the snow")
    await expect(shown).to_have_count(1, timeout=15_000)
    await expect(shown).to_contain_text("left")

    await page.locator("#member").select_option(value=admin)
    await sandbox.command("/admin theme end ")
    await expect(sandbox.messages().filter(has_text="Theme results")).to_have_count(1, timeout=30_000)
    await page.locator("#member").select_option(value=alice)
    await expect(page.locator("#member-roles")).to_contain_text("ordinary")


async def test_a_crashed_worker_is_restarted_and_the_next_clip_arrives(sandbox):
    up = sandbox.up
    await sandbox.open("general")
    await sandbox.command("/create a lighthouse in a storm -ar 1:1")
    status = sandbox.last_answer("create")
    await expect(status.locator(".content")).to_contain_text("Rendering", timeout=WAIT_MS)
    before = len(up.lines)
    os.kill(up.pid_of("worker 1"), signal.SIGKILL)  # in the middle of the render (or just after it)
    await up.wait_line(r"worker 1 stopped unexpectedly \(killed by SIGKILL\); restarting", start=before)
    await up.wait_line(r"worker 1 restarted \(pid \d+\)", start=before)
    await up.wait_line(r"worker 1 ready", start=before)
    # The clip in hand is taken over once its lease runs out, and delivered.
    await expect(status.locator(".content")).to_contain_text("Done", timeout=WAIT_MS)
    await status.locator(".thread-link").click()
    await sandbox.plays(sandbox.posts().first)
    # And the next clip comes from the restarted worker.
    await sandbox.open("general")
    await sandbox.command("/create a lighthouse after the crash -ar 1:1")
    status = sandbox.last_answer("create")
    await expect(status.locator(".content")).to_contain_text("Done", timeout=WAIT_MS)
    await status.locator(".thread-link").click()
    post = sandbox.posts().first
    await expect(post).to_be_visible(timeout=WAIT_MS)
    await sandbox.plays(post)


async def test_a_crashed_bot_is_restarted_and_old_buttons_still_work(sandbox):
    up, page = sandbox.up, sandbox.page
    before = len(up.lines)
    os.kill(up.pid_of("bot"), signal.SIGKILL)
    await up.wait_line(r"bot stopped unexpectedly \(killed by SIGKILL\); restarting", start=before)
    await up.wait_line(r"bot restarted \(pid \d+\)", start=before)
    await up.wait_line(r"Reelbot is back online in the sandbox", start=before)
    await expect(page.locator("#bot-status")).to_have_class("online", timeout=30_000)
    post = sandbox.posts().first  # posted by the bot before it crashed
    await post.locator("button.btn", has_text="👍").click()
    await expect(sandbox.posts().first.locator("button.btn", has_text="👍")).to_have_text(re.compile(r"👍\s*1"))


async def test_hostile_prompts_render_as_text_and_the_page_runs_only_its_own_script(sandbox):
    page = sandbox.page
    await sandbox.open("general")
    await sandbox.command(f"/create {HOSTILE} -ar 1:1")
    status = sandbox.last_answer("create")
    await expect(status.locator(".content")).to_contain_text("Done", timeout=WAIT_MS)
    await status.locator(".thread-link").click()
    post = sandbox.posts().first
    await expect(post).to_be_visible(timeout=WAIT_MS)
    description = post.locator(".embed-description")
    await expect(description).to_contain_text('<img src=x onerror="window.__pwned=1">')
    await expect(description).to_contain_text("<script>window.__pwned=2</script>")
    await page.screenshot(path=ARTIFACTS / "hostile.png")
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert await page.locator("#messages img[src='x'], #messages script").count() == 0
    hrefs = await page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert not [h for h in hrefs if h.lower().startswith("javascript")]
    # Every script on the page is the sandbox's own file; nothing broke the policy.
    scripts = await page.eval_on_selector_all("script", "s => s.map(x => x.src)")
    assert scripts and all(s.startswith(sandbox.base + "/static/") for s in scripts)
    assert not [m for m in sandbox.console if "Content Security Policy" in m or "page error" in m], sandbox.console
    assert sandbox.dialogs == []
    await expect(page.locator("#violation-count")).to_have_text("0")  # the bot broke no Discord rule


async def test_the_page_api_takes_only_its_own_page(sandbox):
    """A page on another site cannot act as a member (no CSRF), nor read it through a rebound name."""
    def status(path: str, data: bytes | None = None, **headers) -> int:
        req = urllib.request.Request(sandbox.base + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    body = b'{"member": "alice", "channel": "0", "content": "hi"}'
    assert status("/sandbox/say", body, **{"Content-Type": "text/plain"}) == 403
    assert status("/sandbox/say", body, **{"X-Sandbox": "1", "Origin": "http://evil.example"}) == 403
    assert status("/sandbox/state", Host="evil.example") == 403
    assert status("/sandbox/state") == 200
