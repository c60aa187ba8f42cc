"""The `reelbot` command line, run as members and operators run it: in a subprocess."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from inference.encode import probe_mp4

ROOT = Path(__file__).resolve().parents[1]


def reelbot(*args, cwd, env=None, timeout=300):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "reelbot", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def frames_of(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_render_writes_the_clip_asked_for_and_repeats_exactly(tmp_path, models_dir):
    env = {"REELBOT_MODELS_DIR": str(models_dir)}
    prompt = "a red fox running -ar 9:16 -fps 12 -len 2 -seed 7"
    first = reelbot("render", prompt, "--model", "ltx-tiny", "--out", "fox.mp4", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "fox.mp4" in first.stdout and "random weights" in first.stdout
    assert "rendering" in first.stderr  # the progress bar
    info = probe_mp4((tmp_path / "fox.mp4").read_bytes())
    assert (info["codec"], info["pix_fmt"], info["fps"]) == ("h264", "yuv420p", 12)
    assert info["width"] < info["height"] and abs(info["width"] / info["height"] - 9 / 16) < 0.1
    assert abs(info["frames"] / 12 - 2) <= 0.1

    second = reelbot("render", prompt, "--model", "ltx-tiny", "--out", "again.mp4", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert np.array_equal(frames_of(tmp_path / "fox.mp4"), frames_of(tmp_path / "again.mp4"))


@pytest.mark.parametrize("prompt,needle", [
    ("a fox -fps 60", "-fps"),
    ("a fox -sed 3", "-seed"),
    ("a fox -model nope", "-model"),
])
def test_render_refuses_bad_flags_in_one_line(tmp_path, prompt, needle):
    result = reelbot("render", prompt, "--out", "x.mp4", cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_models_lists_families_tasks_and_sources(tmp_path):
    result = reelbot("models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tiny = next(line for line in result.stdout.splitlines() if line.startswith("ltx-tiny "))
    assert "text-to-video" in tiny and "random weights" in tiny
    assert "Lightricks/LTX-Video" in result.stdout


def test_migrate_creates_the_sqlite_schema(tmp_path):
    result = reelbot("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(tmp_path / "reelbot.db").execute("select name from sqlite_master")}
    assert {"clips", "members", "votes"} <= tables


@pytest.mark.slow
async def test_up_runs_the_stack_and_renders_a_queued_job(tmp_path, models_dir):
    from core.clips import ClipStore
    from core.events import OutcomeReader
    from core.flags import parse_prompt
    from core.jobs import new_job
    from core.queue import connect, enqueue

    from reelbot.local import free_port

    gallery_port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "REELBOT_MODEL": "ltx-tiny", "REELBOT_MODELS_DIR": str(models_dir),
           "REELBOT_LOG_FORMAT": "json", "REELBOT_GALLERY_PORT": str(gallery_port),
           "REELBOT_SANDBOX_PORT": str(free_port())}
    env.pop("REELBOT_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "reelbot", "up"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while "reelbot is up" not in "".join(lines) and time.monotonic() < deadline:
            lines.append(await asyncio.to_thread(proc.stdout.readline))
        redis_url = re.search(r"redis\s+(redis://\S+)", "".join(lines)).group(1)
        assert "127.0.0.1" in redis_url

        redis = await connect(redis_url)
        store = ClipStore.from_url(f"sqlite:///{tmp_path / 'reelbot.db'}")
        job = new_job(parse_prompt("a fox -len 1"), model="ltx-tiny")
        await store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags, seed=job.seed,
                        model=job.model)
        assert await enqueue(redis, job)
        reader = OutcomeReader(redis, "test", group="test")  # the sandbox's bot reads the default group
        await reader.ensure_group()
        got = []
        while not got and time.monotonic() < deadline + 60:
            got = await reader.read(block_ms=1000)
        assert got and got[0][1].status == "done"
        assert (tmp_path / "media" / "clips" / job.clip_id / "clip.mp4").exists()
        import urllib.request

        # The gallery of the same stack shows the new clip (once the worker has finalised its
        # record, which comes just after the outcome).
        shown = time.monotonic() + 30
        page = ""
        while job.clip_id not in page and time.monotonic() < shown:
            page = urllib.request.urlopen(f"http://127.0.0.1:{gallery_port}/?sort=new").read().decode()
            await asyncio.sleep(0.2)
        assert job.clip_id in page
        await redis.close(close_connection_pool=True)
        await store.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out


@pytest.mark.parametrize("kind", ["image", "video"])
def test_render_from_an_image_or_a_video(tmp_path, models_dir, kind):
    from PIL import Image

    from inference.encode import encode_mp4

    if kind == "image":
        Image.new("RGB", (90, 160), (200, 40, 40)).save(tmp_path / "first.png")
        source = "first.png"
    else:
        (tmp_path / "source.mp4").write_bytes(encode_mp4(np.full((17, 96, 160, 3), 90, np.uint8), 16))
        source = "source.mp4"
    result = reelbot("render", "a fox -len 1 -seed 3", f"--{kind}", source, "--model", "ltx-tiny", "--out", "o.mp4",
                     cwd=tmp_path, env={"REELBOT_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    assert probe_mp4((tmp_path / "o.mp4").read_bytes())["codec"] == "h264"


def test_render_edits_a_clip_keeping_its_length_fps_and_sound(tmp_path, models_dir):
    from PIL import Image

    from tests.test_edit import source_mp4

    (tmp_path / "in.mp4").write_bytes(source_mp4(frames=24, fps=12, sound="aac"))  # 2 s with a tone
    env = {"REELBOT_MODELS_DIR": str(models_dir)}
    result = reelbot("render", "make it snow", "--task", "edit", "--video", "in.mp4", "--model", "lucy-edit-tiny",
                     "--out", "e.mp4", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "random weights" in result.stdout and "edited: whole frame" in result.stdout
    info = probe_mp4((tmp_path / "e.mp4").read_bytes())
    assert info["fps"] == 12 and abs(info["frames"] - 24) <= 1 and info["width"] < info["height"]
    with av.open(str(tmp_path / "e.mp4")) as container:
        assert container.streams.audio, "the source's sound was dropped"

    # With a reference image: a reference edit, its mask found by the (tiny) segmenter.
    Image.new("RGB", (40, 60), (200, 0, 0)).save(tmp_path / "ref.png")
    result = reelbot("render", "replace the car with this one", "--task", "edit", "--video", "in.mp4", "--image",
                     "ref.png", "--model", "wan-vace-tiny", "--out", "r.mp4", cwd=tmp_path,
                     env={**env, "REELBOT_SEGMENTER": "clipseg-tiny"})
    assert result.returncode == 0, result.stderr
    assert "edited: the car (masked by clipseg-tiny" in result.stdout
    assert abs(probe_mp4((tmp_path / "r.mp4").read_bytes())["frames"] - 24) <= 1

    # A model that edits from words alone refuses the reference, naming those that take one.
    result = reelbot("render", "put this on him", "--task", "edit", "--video", "in.mp4", "--image", "ref.png",
                     "--model", "lucy-edit-tiny", "--out", "x.mp4", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "wan-vace-1.3b" in result.stderr and not (tmp_path / "x.mp4").exists()


def test_models_lists_the_edit_models(tmp_path):
    lines = {line.split()[0]: line for line in reelbot("models", cwd=tmp_path).stdout.splitlines()[1:]}
    for name in ("lucy-edit-tiny", "wan-vace-tiny", "lucy-edit-dev", "wan-vace-1.3b"):
        assert "edit" in lines[name].split()[2].split(",")
    assert "random weights" in lines["lucy-edit-tiny"] and "decart-ai/Lucy-Edit-Dev" in lines["lucy-edit-dev"]


def test_render_with_sound_lip_sync_and_typed_words(tmp_path, models_dir):
    """The issue's three commands: a clip with sound about as long as -len, a lip-sync as
    long as voice.wav whose sound is voice.wav, and one that speaks typed words."""
    from inference.audio import read
    from tests.sounds import sound_file, tone

    from PIL import Image

    env = {"REELBOT_MODELS_DIR": str(models_dir)}
    Image.new("RGB", (256, 256), (190, 150, 120)).save(tmp_path / "face.png")
    (tmp_path / "voice.wav").write_bytes(sound_file("wav", 2.2, 22050))
    runs = {
        "a.mp4": ("a man says hello -len 3",),
        "b.mp4": ("he speaks", "--task", "lip-sync", "--image", "face.png", "--audio", "voice.wav"),
        "c.mp4": ("he speaks", "--task", "lip-sync", "--image", "face.png", "--text", "hello there"),
    }
    for out, args in runs.items():
        result = reelbot("render", *args, "--model", "ltx2-tiny", "--out", out, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "sound at" in result.stdout and "random weights" in result.stdout
    a, b, c = (probe_mp4((tmp_path / name).read_bytes()) for name in runs)
    assert a["audio_codec"] == "aac" and abs(a["audio_seconds"] - 3) < 0.1 and abs(a["frames"] / a["fps"] - 3) < 0.1
    assert b["audio_rate"] == 22050 and abs(b["frames"] / b["fps"] - 2.2) < 1 / 24 + 1e-6
    heard = read((tmp_path / "b.mp4").read_bytes()).samples[0]
    voice = np.array(tone(2.2, 22050))
    assert np.corrcoef(heard[: len(voice)], voice)[0, 1] > 0.99  # voice.wav itself
    assert c["audio_codec"] == "aac" and c["audio_rate"] == 16000 and c["audio_seconds"] > 0.3

    refused = reelbot("render", "he speaks", "--task", "lip-sync", "--image", "face.png", "--model", "ltx2-tiny",
                      cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "--audio FILE or --text WORDS" in refused.stderr
