"""`reelbot up` / `reelbot sandbox` refusing to start, in one line, before it starts anything."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def up(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("REELBOT_")}
    return subprocess.run([sys.executable, "-m", "reelbot", command], cwd=cwd, env={**full, **env},
                          capture_output=True, text=True, timeout=120)


def test_a_taken_sandbox_port_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = up("sandbox", tmp_path, REELBOT_SANDBOX_PORT=str(port), REELBOT_DEVICE="cpu")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"bad setting REELBOT_SANDBOX_PORT: 127.0.0.1:{port} is in use; is another "
                                     "`reelbot up` running? Set another port")
    assert not (tmp_path / ".reelbot").exists()  # nothing was started


def test_an_unknown_model_is_one_line_before_anything_starts(tmp_path):
    result = up("up", tmp_path, REELBOT_MODELS="nope", REELBOT_DEVICE="cpu")
    assert result.returncode == 2
    assert result.stderr.startswith("bad setting REELBOT_MODELS: unknown model 'nope'; known models: ")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / ".reelbot").exists()


def test_without_a_gpu_the_default_is_the_tiny_model_and_nothing_is_downloaded(monkeypatch):
    from core.settings import load_settings
    from reelbot.up import plan_models

    for name in ("REELBOT_MODEL", "REELBOT_MODELS"):
        monkeypatch.delenv(name, raising=False)
    plan = plan_models(load_settings(device="cpu"))
    # The tiny edit model and the tiny LTX-2 (sound, lip-sync) too.
    assert plan.served == ["ltx-tiny", "lucy-edit-tiny", "ltx2-tiny"] and plan.all_tiny
    assert plan.env == {"REELBOT_MODEL": "ltx-tiny", "REELBOT_MODELS": "ltx-tiny,lucy-edit-tiny,ltx2-tiny",
                        "HF_HUB_OFFLINE": "1"}
    assert all("noise" in line and "nothing to download" in line for line in plan.lines)


def test_with_a_gpu_the_configured_model_and_where_its_download_goes(monkeypatch, tmp_path):
    from core.settings import load_settings
    from reelbot.up import plan_models

    for name in ("REELBOT_MODEL", "REELBOT_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    plan = plan_models(load_settings(device="cuda"))
    assert plan.served == ["ltx-video"] and not plan.all_tiny and plan.env == {}
    [line] = plan.lines
    assert line == (f"ltx-video: the first start downloads Lightricks/LTX-Video-0.9.5 (about 14 GiB) into "
                    f"{tmp_path}; later starts load it from there")
    (tmp_path / "models--Lightricks--LTX-Video-0.9.5").mkdir()
    assert plan_models(load_settings(device="cuda")).lines == [f"ltx-video (Lightricks/LTX-Video-0.9.5, in {tmp_path})"]
