"""The web gallery over HTTP (aiohttp's test client): pages, the JSON feed, cursors, escaping,
security headers, media served safely from the local folder, S3 URLs, health and metrics.

`seed_gallery` is shared with the browser test (tests/test_gallery_browser.py)."""

import asyncio
import itertools
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from core.db import make_engine
from core.migrate import upgrade_async
from core.settings import load_settings
from core.storage import FileStorage, S3Storage
from core import themes
from core.db import make_sessionmaker
from core.tables import Clip, Member, Theme, ThemeEntry, Vote
from gallery.app import make_app
from inference.encode import encode_mp4, poster_jpeg
from reelbot.local import free_port, wait_for_port

HOSTILE_PROMPTS = [
    "<script>window.__pwned = 1</script>",
    '"><img src=x onerror="window.__pwned = 2">',
    "<img src=x onerror=alert(1)> & friends",
]
HOSTILE_NAME = '<b onmouseover="window.__pwned = 3">Mallory</b>'
HOSTILE_THEME = '<script>window.__pwned = 4</script><img src=x onerror="window.__pwned = 5"> & “foxes”'
EXTRA = 40  # enough public clips for two front pages of 30
_db = itertools.count()


@dataclass
class Seeded:
    url: str
    media: Path
    public: list[str] = field(default_factory=list)  # ids, top-of-all-time order
    newest: list[str] = field(default_factory=list)  # the public ids, newest first
    hidden: list[str] = field(default_factory=list)
    hostile: list[str] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    theme: str = "0ddba11"  # an ended theme with hostile words; its public entries ranked by counted votes:
    theme_order: tuple[str, ...] = ("remix", "fox", "hostile0")
    theme_votes: tuple[int, ...] = (3, 2, 1)
    running_theme: str = "5ea5011"  # a running theme with no entries


def tiny_media(seed: int = 0) -> tuple[bytes, bytes]:
    """A real one-second H.264 MP4 of random frames, and its poster."""
    frames = np.random.default_rng(seed).integers(0, 255, (12, 64, 112, 3), dtype=np.uint8)
    return encode_mp4(frames, 12), poster_jpeg(frames)


async def seed_gallery(url: str, media: Path) -> Seeded:
    """A gallery with public clips, hostile prompts, a lineage and every kind of hidden clip."""
    await upgrade_async(url)
    storage = FileStorage(media)
    video, poster = tiny_media()
    seeded = Seeded(url, media)
    now = seeded.now
    rows: list[dict] = []

    def add(clip_id, *, votes=0, hours=1.0, author="ann", prompt=None, public=True, **fields):
        rows.append(dict(id=clip_id, task="text-to-video", prompt=prompt or f"a clip called {clip_id}",
                         flags={"ar": [16, 9], "fps": 12, "neg": "blurry"}, seed=1000 + len(rows), model="ltx-tiny",
                         status="done", video_key=f"clips/{clip_id}/clip.mp4", poster_key=f"clips/{clip_id}/poster.jpg",
                         author_id=author, author_name=author.title(), vote_count=votes, width=112, height=64,
                         fps=12, num_frames=12, duration=1.0, created_at=now - timedelta(hours=hours)) | fields)
        (seeded.public if public else seeded.hidden).append(clip_id)

    add("fox", votes=90, prompt="a red fox running through snow")
    add("remix", votes=80, author="bob", parent_id="fox", prompt="a red fox running through snow at night", sound=True)
    add("private-remix", votes=999, parent_id="fox", private=True, public=False, prompt="a secret fox remix")
    for i, prompt in enumerate(HOSTILE_PROMPTS):
        add(f"hostile{i}", votes=70 - i, prompt=prompt, author="mallory", author_name=HOSTILE_NAME)
        seeded.hostile.append(f"hostile{i}")
    add("secret", votes=999, private=True, public=False, prompt="a private fox")
    add("gone", votes=999, deleted=True, public=False, prompt="a deleted fox")
    add("waiting", votes=999, status="queued", video_key=None, poster_key=None, public=False, prompt="a queued fox")
    add("banned", votes=999, author="eve", public=False, prompt="a banned member's fox")
    # Posted, so its files were copied to the world-readable public/ prefix (core/media.py).
    add("published", hours=600, prompt="a published clip", video_key="public/clips/published/clip.mp4",
        poster_key="public/clips/published/poster.jpg")
    for i in range(EXTRA):
        add(f"more{i:02d}", votes=i % 7, hours=2 + i * 3, prompt=f"clip number {i} 100% fun" if i == 3 else None)

    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(Member.__table__.insert(), [dict(id="ann", name="Ann", defaults={}, banned=False,
                                                            jobs_today=0, clips_made=0, created_at=now),
                                                       dict(id="eve", name="Eve", defaults={}, banned=True,
                                                            jobs_today=0, clips_made=0, created_at=now)])
        await conn.execute(Clip.__table__.insert(), [_row(r) for r in rows if not r.get("parent_id")])
        await conn.execute(Clip.__table__.insert(), [_row(r) for r in rows if r.get("parent_id")])
    await _seed_themes(engine, seeded)
    await engine.dispose()
    for row in rows:
        if row["video_key"]:
            storage.put(row["video_key"], video)
            storage.put(row["poster_key"], poster)
    by_id = {r["id"]: r for r in rows}
    seeded.public.sort(key=lambda i: (by_id[i]["vote_count"], by_id[i]["created_at"], i), reverse=True)
    seeded.newest = sorted(seeded.public, key=lambda i: (by_id[i]["created_at"], i), reverse=True)
    return seeded


async def _seed_themes(engine, seeded: Seeded) -> None:
    """An ended theme whose entries got votes that count (others', by the end) and votes that
    don't (their author's own, after the end), and a running theme."""
    now = seeded.now
    ended = now - timedelta(minutes=30)
    async with engine.begin() as conn:
        for theme_id, words, guild, ends in ((seeded.theme, HOSTILE_THEME, "g1", ended),
                                             (seeded.running_theme, "rainy streets", "g2", now + timedelta(days=1))):
            await conn.execute(Theme.__table__.insert().values(
                id=theme_id, guild_id=guild, words=words, max_entries=3, winners=3, started_by="mgr",
                started_at=ends - timedelta(hours=6), ends_at=ends, running_in=guild))
        # "fox" entered first: were her own vote counted, it would tie "remix" and win the tie.
        entries = [("fox", "ann"), ("remix", "bob"), ("hostile0", "mallory"), ("secret", "ann")]
        for minute, (clip_id, author) in enumerate(entries):
            await conn.execute(ThemeEntry.__table__.insert().values(
                clip_id=clip_id, theme_id=seeded.theme, member_id=author, created_at=ended - timedelta(hours=2 - minute / 60)))
        votes = {"fox": ["ann", "bob", "zed"], "remix": ["ann", "zed", "dan"], "hostile0": ["mallory", "cat"],
                 "secret": ["a", "b", "c", "d"]}
        for clip_id, voters in votes.items():
            for voter in voters:
                await conn.execute(Vote.__table__.insert().values(clip_id=clip_id, member_id=voter,
                                                                  created_at=ended - timedelta(minutes=5)))
        for voter in ("v1", "v2", "v3", "v4"):  # after the end: they count for nothing
            await conn.execute(Vote.__table__.insert().values(clip_id="hostile0", member_id=voter,
                                                              created_at=ended + timedelta(minutes=1)))
    async with make_sessionmaker(engine).begin() as s:
        assert await themes.close(s, seeded.theme, now=now)


def _row(values: dict) -> dict:
    defaults = dict(parent_id=None, private=False, deleted=False, sound=False, attempts=1,
                    updated_at=values["created_at"])
    return defaults | values


class Page(HTMLParser):
    """The parts of a page the tests look at."""

    def __init__(self, html: str):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.videos: list[dict] = []
        self.sources: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self.cards: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "meta" and ("property" in attrs or "name" in attrs):
            self.meta[attrs.get("property") or attrs["name"]] = attrs.get("content")
        elif tag == "video":
            self.videos.append(attrs)
        elif tag == "source":
            self.sources.append(attrs["src"])
        elif tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "li" and "data-clip" in attrs:
            self.cards.append(attrs["data-clip"])

    def next_link(self) -> str | None:
        return next((link for link in self.links if "cursor=" in link), None)


@pytest.fixture(scope="module")
async def seeded(tmp_path_factory):
    root = tmp_path_factory.mktemp("gallery")
    return await seed_gallery(f"sqlite:///{root / 'gallery.db'}", root / "media")


@pytest.fixture(scope="module")
async def client(seeded):
    settings = load_settings(database_url=seeded.url, storage_url=f"file://{seeded.media}")
    async with TestClient(TestServer(make_app(settings))) as client:
        yield client


async def get_page(client, path, status=200) -> tuple[Page, str, object]:
    response = await client.get(path)
    html = await response.text()
    assert response.status == status, html
    return Page(html), html, response


# --- Pages ----------------------------------------------------------------------------

async def test_front_page_lists_top_clips_with_posters_and_pages_on(client, seeded):
    page, html, response = await get_page(client, "/?sort=top&window=all")
    assert page.cards == seeded.public[:30]
    # Every card is a lazy video: poster first, nothing downloaded until played.
    assert len(page.videos) == 30
    assert all(v["preload"] == "none" and v["poster"].endswith("/poster.jpg") for v in page.videos)
    assert "script" not in page.tags
    second, _, _ = await get_page(client, page.next_link())
    assert second.cards == seeded.public[30:] and second.next_link() is None
    assert not set(seeded.hidden) & set(page.cards + second.cards)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "'unsafe-inline'" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_front_page_sorts_and_windows(client, seeded):
    new, _, _ = await get_page(client, "/?sort=new")
    assert new.cards == seeded.newest[:30]
    day, _, _ = await get_page(client, "/?sort=top&window=day")
    # Made within a day: the named clips (1 h old) and the first eight "more" clips (2 h + 3 h each).
    assert set(day.cards) == {"fox", "remix", "hostile0", "hostile1", "hostile2"} | {f"more{i:02d}" for i in range(8)}
    default, _, _ = await get_page(client, "/")
    week, _, _ = await get_page(client, "/?sort=top&window=week")
    assert default.cards == week.cards


@pytest.mark.parametrize("query,message", [
    ("sort=best", "sort must be one of top, new"),
    ("window=year", "window must be one of day, week, all"),
    ("cursor=nonsense", "bad cursor"),
    ("cursor=" + "A" * 40, "bad cursor"),
])
async def test_bad_parameters_are_a_clear_400(client, query, message):
    page, html, _ = await get_page(client, f"/?{query}", status=400)
    assert message in html
    response = await client.get(f"/api/clips?{query}")
    assert response.status == 400 and message in (await response.json())["error"]


async def test_a_cursor_from_another_listing_is_refused(client):
    top, _, _ = await get_page(client, "/?sort=top&window=all")
    cursor = parse_qs(urlsplit(top.next_link()).query)["cursor"][0]
    _, html, _ = await get_page(client, f"/?sort=new&cursor={cursor}", status=400)
    assert "another listing" in html
    edited = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    _, html, _ = await get_page(client, f"/?sort=top&window=all&cursor={edited}", status=400)
    assert "bad cursor" in html


async def test_clip_page(client, seeded):
    page, html, _ = await get_page(client, "/clips/remix")
    assert "a red fox running through snow at night" in html
    assert '<code class="flags">-ar 16:9 -fps 12 -neg &#34;blurry&#34;</code>' in html
    assert re.search(r'class="seed">\d+<', html) and "ltx-tiny" in html and "noise, not pictures" in html
    assert 'href="/members/bob">Bob</a>' in html and "▲ 80" in html
    # The exact command to paste in Discord, with the seed and model that made this clip.
    seed = re.search(r'class="seed">(\d+)<', html).group(1)
    assert (f"/create prompt: a red fox running through snow at night -ar 16:9 -fps 12 -seed {seed} "
            f"-model ltx-tiny -neg &#34;blurry&#34;") in html
    # Lineage: the parent is linked; the fox's page lists this remix but not the private one.
    assert any(link.endswith("/clips/fox") for link in page.links)
    fox, _, _ = await get_page(client, "/clips/fox")
    assert fox.cards == ["remix"]
    # One lazy player with its poster.
    (video,) = page.videos
    assert video["preload"] == "none" and video["poster"].endswith("/media/clips/remix/poster.jpg")
    assert page.sources == [page.meta["og:video"]]


async def test_a_clip_with_sound_is_marked_and_its_player_plays_it(client, seeded):
    page, html, _ = await get_page(client, "/clips/remix")
    (video,) = page.videos
    assert video.get("data-sound") == "true" and "muted" not in video and "controls" in video
    assert 'class="sound-fact"><span class="sound"' in html and "🔊 sound" in html
    fox, fox_html, _ = await get_page(client, "/clips/fox")
    assert "muted" in fox.videos[0] and "data-sound" not in fox.videos[0]  # silent: nothing to turn up
    assert 'class="sound-fact">silent<' in fox_html
    front, front_html, _ = await get_page(client, "/?sort=top")
    card = front_html[front_html.index('data-clip="remix"'):]
    assert '<span class="sound"' in card[: card.index("</li>")]
    entry = await (await client.get("/api/clips/remix")).json()
    assert entry["clip"]["sound"] is True
    (bob,) = (await (await client.get("/api/clips?member=bob")).json())["clips"]
    assert bob["sound"] is True
    (ann_fox,) = [c for c in (await (await client.get("/api/clips?member=ann&limit=100")).json())["clips"]
                  if c["id"] == "fox"]
    assert ann_fox["sound"] is False


async def test_clip_page_unfurls(client, seeded):
    page, _, _ = await get_page(client, "/clips/fox")
    base = str(client.make_url("")).rstrip("/")
    meta = page.meta
    assert meta["og:type"] == "video.other" and meta["og:title"] == "a red fox running through snow"
    assert meta["og:url"] == f"{base}/clips/fox"
    assert meta["og:image"] == f"{base}/media/clips/fox/poster.jpg"
    assert meta["og:video"] == meta["og:video:url"] == f"{base}/media/clips/fox/clip.mp4"
    assert meta["og:video:type"] == "video/mp4" and (meta["og:video:width"], meta["og:video:height"]) == ("112", "64")
    assert meta["twitter:card"] == "player" and meta["twitter:player"] == f"{base}/clips/fox/embed"
    assert meta["twitter:player:stream"] == meta["og:video"] and meta["twitter:image"] == meta["og:image"]
    # The player page may be framed (that is what a player card does); the others may not.
    embed, _, response = await get_page(client, "/clips/fox/embed")
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers and len(embed.videos) == 1


async def test_gallery_url_setting_makes_links_absolute_to_it(seeded):
    settings = load_settings(database_url=seeded.url, storage_url=f"file://{seeded.media}",
                             gallery_url="https://gallery.example.org/")
    async with TestClient(TestServer(make_app(settings))) as client:
        page, _, _ = await get_page(client, "/clips/fox")
    assert page.meta["og:url"] == "https://gallery.example.org/clips/fox"
    assert page.meta["og:video:secure_url"] == "https://gallery.example.org/media/clips/fox/clip.mp4"


async def test_hostile_strings_are_text(client, seeded):
    for clip_id, prompt in zip(seeded.hostile, HOSTILE_PROMPTS):
        page, html, _ = await get_page(client, f"/clips/{clip_id}")
        assert prompt not in html  # never raw, anywhere: body, title or meta content
        assert "script" not in page.tags and page.tags.count("img") == 0
        assert page.meta["og:title"] == prompt  # the parser un-escapes: the text is intact
        assert HOSTILE_NAME not in html and "&lt;b onmouseover=" in html
    for path in ("/?sort=top&window=all", "/members/mallory", "/search?q=img", "/search?q=script"):
        page, html, _ = await get_page(client, path)
        assert not any(prompt in html for prompt in HOSTILE_PROMPTS) and "script" not in page.tags
    search, html, _ = await get_page(client, '/search?q="><script>x</script>')
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "script" not in search.tags


async def test_hidden_clips_are_nowhere(client, seeded):
    for clip_id in seeded.hidden:
        for path in (f"/clips/{clip_id}", f"/clips/{clip_id}/embed", f"/api/clips/{clip_id}",
                     f"/media/clips/{clip_id}/clip.mp4", f"/media/clips/{clip_id}/poster.jpg"):
            response = await client.get(path)
            assert response.status == 404, path
    feed = await (await client.get("/api/clips?sort=top&window=all&limit=100")).json()
    assert [c["id"] for c in feed["clips"]] == seeded.public
    found = await (await client.get("/api/clips?q=fox&limit=100")).json()
    assert {c["id"] for c in found["clips"]} == {"fox", "remix"}
    await get_page(client, "/members/eve", status=404)
    assert (await (await client.get("/api/clips?member=eve")).json())["clips"] == []


async def test_member_page(client, seeded):
    page, html, _ = await get_page(client, "/members/bob")
    assert page.cards == ["remix"] and "Clips by Bob" in html and "1 public clip " in html
    ann, html, _ = await get_page(client, "/members/ann?sort=top")
    assert ann.cards == [i for i in seeded.public if i == "fox" or i.startswith("more")][:30]
    assert ann.next_link() is not None
    await get_page(client, "/members/nobody", status=404)


async def test_search_page(client, seeded):
    page, html, _ = await get_page(client, "/search?q=RED+fox")
    assert page.cards == [i for i in seeded.newest if i in ("fox", "remix")]
    page, _, _ = await get_page(client, "/search?q=100%25")
    assert page.cards == ["more03"]
    page, html, _ = await get_page(client, "/search?q=")
    assert page.cards == [] and "Search prompts" in html
    _, html, _ = await get_page(client, "/search?q=" + "x" * 201, status=400)
    assert "too long" in html


# --- JSON feed ------------------------------------------------------------------------

async def test_feed_walks_every_public_clip_once(client, seeded):
    ids, url, pages = [], "/api/clips?sort=top&window=all&limit=7", 0
    while url:
        body = await (await client.get(url)).json()
        ids += [c["id"] for c in body["clips"]]
        pages += 1
        url = body["next"] and URL(body["next"]).path_qs
        assert (body["next_cursor"] is None) == (body["next"] is None)
    assert ids == seeded.public and pages == -(-len(seeded.public) // 7)


async def test_feed_entries(client):
    body = await (await client.get("/api/clips?member=bob")).json()
    (entry,) = body["clips"]
    assert body["sort"] == "new"
    assert entry["id"] == "remix" and entry["author_name"] == "Bob" and entry["votes"] == 80
    assert entry["video_url"].startswith("http") and entry["video_url"].endswith("/media/clips/remix/clip.mp4")
    assert entry["flags"] == '-ar 16:9 -fps 12 -neg "blurry"' and entry["remix_command"].startswith("/create prompt: ")
    one = await (await client.get("/api/clips/remix")).json()
    assert [a["id"] for a in one["ancestors"]] == ["fox"] and one["remixes"] == []
    fox = await (await client.get("/api/clips/fox")).json()
    assert [r["id"] for r in fox["remixes"]] == ["remix"]
    for bad in ("limit=0", "limit=101", "limit=ten", "limit=-3"):
        response = await client.get(f"/api/clips?{bad}")
        assert response.status == 400 and "limit" in (await response.json())["error"]


# --- Media ----------------------------------------------------------------------------

async def test_media_is_served_with_types_and_ranges(client, seeded):
    video = (seeded.media / "clips/fox/clip.mp4").read_bytes()
    response = await client.get("/media/clips/fox/clip.mp4")
    assert response.status == 200 and response.headers["Content-Type"] == "video/mp4"
    assert await response.read() == video
    response = await client.get("/media/clips/fox/clip.mp4", headers={"Range": "bytes=100-199"})
    assert response.status == 206 and response.headers["Content-Range"] == f"bytes 100-199/{len(video)}"
    assert await response.read() == video[100:200]
    poster = await client.get("/media/clips/fox/poster.jpg")
    assert poster.headers["Content-Type"] == "image/jpeg" and (await poster.read())[:2] == b"\xff\xd8"
    # A published clip's files sit under public/ (core/media.py): served from there, by the page's own link.
    page, _, _ = await get_page(client, "/clips/published")
    assert page.meta["og:video"].endswith("/media/public/clips/published/clip.mp4")
    response = await client.get("/media/public/clips/published/clip.mp4")
    assert response.status == 200 and await response.read() == video
    assert (await client.get("/media/public/clips/fox/clip.mp4")).status == 404  # not the key fox names


async def test_media_cannot_be_walked_out_of(client, seeded):
    (seeded.media / "clips/fox/notes.txt").write_text("not a stored key")
    (seeded.media / "inputs/x").mkdir(parents=True, exist_ok=True)
    (seeded.media / "inputs/x/image.png").write_bytes(b"\x89PNG")
    outside = seeded.media.parent / "outside.mp4"
    outside.write_bytes(b"secret")
    (seeded.media / "clips/fox/link.mp4").symlink_to(outside)
    base = str(client.make_url("")).rstrip("/")
    async with ClientSession() as http:
        for raw in ("/media/clips/fox/notes.txt", "/media/clips/fox/link.mp4", "/media/inputs/x/image.png",
                    "/media/clips/fox/..%2F..%2Fgallery.db", "/media/clips/..%2F..%2Fgallery.db",
                    "/media/clips/fox/%2e%2e/%2e%2e/gallery.db", "/media/clips/fox/clip.mp4%00.jpg",
                    "/media/%2Fetc%2Fpasswd", "/media/clips//etc/passwd", "/media/clips/fox"):
            async with http.get(URL(base + raw, encoded=True)) as response:
                assert response.status == 404, raw
                assert b"secret" not in await response.read()


async def test_s3_media_comes_from_storage_never_through_the_gallery(seeded, s3_server):
    bucket = s3_server.new_bucket(f"gallery-{next(_db)}")
    storage = S3Storage(bucket, "media", endpoint_url=s3_server.endpoint, client=s3_server.client())
    settings = load_settings(database_url=seeded.url, storage_url=f"s3://{bucket}/media",
                             s3_endpoint_url=s3_server.endpoint)
    async with TestClient(TestServer(make_app(settings, storage=storage))) as client:
        page, _, response = await get_page(client, "/clips/fox")
        video_url = page.meta["og:video"]
        assert video_url.startswith(f"{s3_server.endpoint}/{bucket}/media/clips/fox/clip.mp4?")
        assert "Signature" in video_url  # presigned
        assert f"media-src 'self' {s3_server.endpoint}" in response.headers["Content-Security-Policy"]
        assert (await client.get("/media/clips/fox/clip.mp4")).status == 404  # no proxy route at all
        again, _, _ = await get_page(client, "/clips/fox")
        assert again.meta["og:video"] == video_url  # reused, so browsers can cache it
    public = load_settings(database_url=seeded.url, storage_url=f"s3://{bucket}/media",
                           public_base_url="https://cdn.example.org")
    storage = S3Storage(bucket, "media", public_base_url="https://cdn.example.org", client=s3_server.client())
    async with TestClient(TestServer(make_app(public, storage=storage))) as client:
        page, _, response = await get_page(client, "/clips/published")
        unpublished, _, _ = await get_page(client, "/clips/fox")
    assert page.meta["og:video"] == "https://cdn.example.org/media/public/clips/published/clip.mp4"
    # Only the public/ prefix is world-readable: files elsewhere are never given a public URL.
    assert "Signature" in unpublished.meta["og:video"] and "cdn.example.org" not in unpublished.meta["og:video"]
    csp = response.headers["Content-Security-Policy"]
    assert "https://cdn.example.org" in csp and s3_server.endpoint in csp


# --- Operations -----------------------------------------------------------------------

async def test_healthz_and_metrics(client, tmp_path):
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json())["status"] == "ok"
    await client.get("/clips/fox")
    await client.get("/clips/does-not-exist")
    text = await (await client.get("/metrics")).text()
    assert re.search(r'reelbot_gallery_requests_total\{route="clip",status="200"\} [1-9]', text)
    assert re.search(r'reelbot_gallery_requests_total\{route="clip",status="404"\} [1-9]', text)
    assert 'reelbot_gallery_request_seconds_bucket{le="0.05",route="front"}' in text
    broken = load_settings(database_url=f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}",
                           storage_url=f"file://{tmp_path}")
    async with TestClient(TestServer(make_app(broken))) as down:
        assert (await down.get("/healthz")).status == 503
        response = await down.get("/")
        assert response.status == 503 and "cannot reach its database" in await response.text()


async def test_postgres_backs_the_same_pages(postgres_server, tmp_path):
    seeded = await seed_gallery(postgres_server.new_database(f"gallery_{next(_db)}"), tmp_path / "media")
    settings = load_settings(database_url=seeded.url, storage_url=f"file://{seeded.media}")
    async with TestClient(TestServer(make_app(settings))) as client:
        first, _, _ = await get_page(client, "/?sort=top&window=all")
        second, _, _ = await get_page(client, first.next_link())
        assert first.cards + second.cards == seeded.public
        page, html, _ = await get_page(client, "/clips/remix")
        assert any(link.endswith("/clips/fox") for link in page.links)
        found = await (await client.get("/api/clips?q=100%25")).json()
        assert [c["id"] for c in found["clips"]] == ["more03"]
        assert (await client.get("/clips/secret")).status == 404
        # Strange bytes in URLs are a 404 or an empty result, never a database error (PostgreSQL
        # refuses NUL in text outright) or a crash.
        base = str(client.make_url("")).rstrip("/")
        async with ClientSession() as http:
            for raw, status in (("/clips/%00", 404), ("/clips/a%00b", 404), ("/members/%00", 404),
                                ("/media/clips/%00/clip.mp4", 404), ("/search?q=%00", 200), ("/search?q=fox%00", 200),
                                ("/api/clips?q=%ED%A0%80", 200), ("/search?q=%FF%FE", 200),
                                ("/api/clips?member=%00", 400), ("/?sort=%00", 400), ("/?cursor=%00", 400)):
                async with http.get(URL(base + raw, encoded=True)) as response:
                    assert response.status == status, raw


async def test_reelbot_gallery_command_serves(seeded, tmp_path):
    port = free_port()
    env = {"REELBOT_DATABASE_URL": seeded.url, "REELBOT_STORAGE_URL": f"file://{seeded.media}",
           "REELBOT_LOG_FORMAT": "json", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "reelbot", "gallery", "--port", str(port)], env=env,
                            cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        await asyncio.to_thread(wait_for_port, port, 30, proc)
        async with ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            async with http.get(f"http://127.0.0.1:{port}/clips/fox") as response:
                assert response.status == 200 and "a red fox" in await response.text()
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode()
    assert "gallery listening" in output and proc.returncode in (0, -15)


# --- Themes ------------------------------------------------------------------------------

async def test_theme_page_lists_its_public_entries_by_the_votes_that_count(client, seeded):
    page, html, response = await get_page(client, f"/themes/{seeded.theme}")
    assert page.cards == list(seeded.theme_order)  # not the private entry, however many votes it has
    votes = re.findall(r'data-votes="(\d+)"', html)
    assert tuple(int(v) for v in votes) == seeded.theme_votes
    assert "ended" in html and "3 entries" in html and len(page.videos) == 3
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    running, html, _ = await get_page(client, f"/themes/{seeded.running_theme}")
    assert running.cards == [] and "running" in html and "rainy streets" in html
    for missing in ("nope", "ffffff", "%00", "a" * 40):
        await get_page(client, f"/themes/{missing}", status=404)


async def test_theme_list_and_a_clips_theme(client, seeded):
    page, html, _ = await get_page(client, "/themes")
    assert page.links.index(f"/themes/{seeded.running_theme}") < page.links.index(f"/themes/{seeded.theme}")
    assert "3 entries" in html and "0 entries" in html
    fox, html, _ = await get_page(client, "/clips/fox")
    assert f"/themes/{seeded.theme}" in fox.links and 'class="theme"' in html
    more, html, _ = await get_page(client, "/clips/more01")
    assert not [link for link in more.links if link.startswith("/themes/")] and 'class="theme"' not in html


async def test_hostile_theme_words_are_text(client, seeded):
    for path in ("/themes", f"/themes/{seeded.theme}", "/clips/fox"):
        page, html, _ = await get_page(client, path)
        assert HOSTILE_THEME not in html and "script" not in page.tags and "img" not in page.tags
        assert "&lt;script&gt;window.__pwned = 4&lt;/script&gt;" in html
    page, _, _ = await get_page(client, f"/themes/{seeded.theme}")
    assert page.meta["og:title"] == f"Theme: {HOSTILE_THEME}"
