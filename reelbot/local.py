"""This machine, for `reelbot up` and the tests: free loopback ports, a redis-server, whether
a GPU can render, and child processes that can be restarted and stop when their parent does."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

FIRST_BACKOFF_S = 1.0
_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # not Linux: children simply outlive a killed parent
    _libc = None


def die_with_parent() -> None:
    """preexec_fn: the kernel sends the child SIGTERM when its parent dies, even by SIGKILL,
    so a killed `reelbot up` leaves no worker rendering for nobody. (Linux ties this to the
    thread that started the child: start children from the main thread only.)"""
    if _libc is not None and hasattr(_libc, "prctl"):
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def redis_command(data_dir: Path, port: int, appendonly: bool = True) -> list[str]:
    """redis-server bound to loopback, its data in data_dir."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    data_dir.mkdir(parents=True, exist_ok=True)
    return [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir), "--save", "",
            "--appendonly", "yes" if appendonly else "no", "--protected-mode", "yes"]


def start_redis(data_dir: Path, port: int | None = None, appendonly: bool = True) -> tuple[subprocess.Popen, str]:
    """Start redis-server bound to loopback; returns the process and its URL."""
    port = port or free_port()
    proc = subprocess.Popen(redis_command(data_dir, port, appendonly), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_port(port, proc=proc)
    return proc, f"redis://127.0.0.1:{port}/0"


def gpu_available(device: str = "auto") -> bool:
    """Whether a worker here would render on a GPU: REELBOT_DEVICE when it names one, else a
    card is present and the installed torch can use it (asked in a subprocess, so this process
    never imports torch; skipped when there is no card at all)."""
    if device == "cpu":
        return False
    if device.startswith("cuda"):
        return True
    if not any(Path("/dev").glob("nvidia[0-9]*")) and not Path("/dev/kfd").exists():
        return False
    try:
        probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                               capture_output=True, text=True, timeout=120, env={**os.environ, "CUDA_MODULE_LOADING": "LAZY"})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.stdout.strip().endswith("True")


def hub_cache() -> Path:
    """Where Hugging Face downloads go (huggingface_hub's rule)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


@dataclasses.dataclass(eq=False)
class Child:
    """One supervised process, started again (same command, same log) when it exits."""

    name: str
    kind: str  # redis, worker, gallery or bot: the order they stop in
    argv: list[str]
    env: dict[str, str] | None = None
    log: Path | None = None  # None: output discarded
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF_S  # before the next restart; `up` doubles it
    restart_at: float | None = None
    _log_from: int = 0

    def start(self) -> None:
        out = subprocess.DEVNULL
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            out = open(self.log, "ab")
            self._log_from = out.tell()
        try:
            # Its own process group: the terminal's Ctrl-C reaches `up` only, which stops the
            # children in order. die_with_parent: a killed `up` still takes them down.
            self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, process_group=0, preexec_fn=die_with_parent)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 8) -> list[str]:
        """The last lines this run of the child wrote to its log."""
        if self.log is None or not self.log.exists():
            return []
        with open(self.log, "rb") as f:
            f.seek(self._log_from)
            text = f.read()[-8192:].decode(errors="replace")
        return [line for line in text.splitlines() if line.strip()][-lines:]


def exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
