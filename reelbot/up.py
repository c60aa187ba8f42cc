"""`reelbot up`: the whole stack on one machine with embedded defaults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.migrate import upgrade
from core.settings import Settings, SettingsError
from worker.gpus import pin_workers


def _spawn(command: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reelbot", command], env=env)


def up(settings: Settings, args) -> int:
    children: list[tuple[str, subprocess.Popen]] = []
    env = dict(os.environ)
    redis_url = settings.redis_url
    if not redis_url:
        from reelbot.local import start_redis

        try:
            proc, redis_url = start_redis(Path(".reelbot/redis").resolve())
        except FileNotFoundError as exc:
            raise SettingsError(f"bad setting REELBOT_REDIS_URL: unset, and {exc}") from None
        children.append(("redis", proc))
        env["REELBOT_REDIS_URL"] = redis_url

    upgrade(settings.database_url)
    plan = [("redis", redis_url), ("database", settings.database_url.split("@")[-1]),
            ("media", settings.storage_url), ("models", ",".join(settings.served_models))]
    for i, (worker_env, where) in enumerate(pin_workers(args.workers, env)):  # worker i on GPU i
        children.append((f"worker {i + 1}", _spawn("worker", worker_env)))
        plan.append((f"worker {i + 1}", where))
    children.append(("gallery", _spawn("gallery", env)))
    plan.append(("gallery", f"http://{settings.gallery_host}:{settings.gallery_port}/"))
    if settings.discord_token:
        children.append(("bot", _spawn("bot", env)))
    else:
        plan.append(("bot", "not started: REELBOT_DISCORD_TOKEN is unset"))

    for name, value in plan:
        print(f"  {name:<10} {value}")
    for name, proc in children:
        print(f"  {name:<10} pid {proc.pid}")
    print("reelbot is up; Ctrl-C stops everything")

    def _stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        while all(proc.poll() is None for _, proc in children):
            time.sleep(0.5)
        dead = [name for name, proc in children if proc.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 0
    # One at a time, newest first: workers finish their job while Redis is still up.
    for _name, proc in reversed(children):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=settings.stop_grace_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
    return code
