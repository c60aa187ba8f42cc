import io
import json
import subprocess
import sys

import pytest

from core.logging import configure, get_logger, scrub
from core.settings import SettingsError, load_settings


def test_defaults_and_lists(monkeypatch):
    monkeypatch.setenv("REELBOT_MODELS", "ltx-tiny, ltx-video")
    monkeypatch.setenv("REELBOT_BANNED_TERMS", '["gore", "nsfw"]')
    settings = load_settings()
    assert settings.served_models == ["ltx-tiny", "ltx-video"]
    assert settings.banned_terms == ["gore", "nsfw"]
    assert settings.attachment_size_limit == 10 * 1024 * 1024


@pytest.mark.parametrize("name,value", [
    ("REELBOT_JOBS_IN_FLIGHT", "many"),
    ("REELBOT_STORAGE_URL", "ftp://x"),
    ("REELBOT_MODELS", "[broken"),
    ("REELBOT_LOG_FORMAT", "xml"),
])
def test_bad_setting_is_one_line_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert name in err.value.line and "\n" not in err.value.line


def test_cli_bad_setting_exits_with_one_line():
    env = {"REELBOT_JOBS_IN_FLIGHT": "many", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "reelbot", "migrate"], env=env, capture_output=True, text=True,
                          cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "REELBOT_JOBS_IN_FLIGHT" in proc.stderr and "Traceback" not in proc.stderr


def test_secrets_never_reach_logs():
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde.abcdefghijklmnopqrstuvwxyz0123456"
    buf = io.StringIO()
    configure("INFO", "json", stream=buf)
    log = get_logger("t", clip_id="c1")
    log.info("connecting", discord_token=token, password="hunter2",
             url="https://bucket.s3/clips/c1/clip.mp4?X-Amz-Credential=AKIA&X-Amz-Signature=0123abcd&X-Amz-Expires=60",
             db="postgresql://reelbot:s3cret@db:5432/reelbot", note=f"header Bot {token}",
             hub="401 for hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345 on Wan-AI/Wan2.1",
             redis="redis+sentinel://:rpass1@10.0.0.1:26379,10.0.0.2:26379/reelbot/0?sentinel_password=spass2")
    line = json.loads(buf.getvalue().splitlines()[-1])
    text = buf.getvalue()
    for secret in (token, "hunter2", "0123abcd", "s3cret", "AKIA", "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
                   "rpass1", "spass2"):
        assert secret not in text
    assert line["clip_id"] == "c1" and line["event"] == "connecting"


def test_scrub_keeps_ordinary_text():
    assert scrub("a fox running through snow") == "a fox running through snow"


def test_library_logs_are_json_lines_too_and_scrubbed():
    import logging

    buf = io.StringIO()
    configure("INFO", "json", stream=buf)
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde.abcdefghijklmnopqrstuvwxyz0123456"
    logging.getLogger("discord.gateway").warning("Shard ID %s has stopped responding (token %s)", 0, token)
    logging.getLogger("aiohttp.access").warning("GET /clips/x 200")
    try:
        raise ConnectionError("Connection closed by server.")
    except ConnectionError:
        logging.getLogger("arq.worker").error("job %s failed", "c1", exc_info=True)
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [(e["logger"], e["level"]) for e in lines] == [("discord.gateway", "warning"), ("aiohttp.access", "warning"),
                                                         ("arq.worker", "error")]
    assert lines[0]["event"].startswith("Shard ID 0 has stopped responding") and token not in buf.getvalue()
    assert lines[2]["event"] == "job c1 failed" and "ConnectionError" in lines[2]["exception"]
    assert all("timestamp" in e for e in lines)


def test_a_sentinel_url_names_its_sentinels_service_and_database():
    from core.sentinel import parse

    target = parse("redis+sentinel://:pw@10.0.0.1:26379,[::1]:26380/reelbot/2?sentinel_password=s")
    assert target.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert (target.service, target.db, target.password, target.sentinel_password) == ("reelbot", 2, "pw", "s")
    assert parse("redis://127.0.0.1:6379/0") is None
    for bad in ("redis+sentinel:///reelbot", "redis+sentinel://h:1", "redis+sentinel://h/reelbot",
                "redis+sentinel://h:1/reelbot/x"):
        with pytest.raises(ValueError):
            parse(bad)
    with pytest.raises(SettingsError, match="REELBOT_REDIS_URL"):
        load_settings(redis_url="redis+sentinel://h:1")
