"""`reelbot up` and `reelbot sandbox`: the whole stack on one machine with embedded defaults.

Children: a redis-server (when REELBOT_REDIS_URL is unset), the workers, the gallery and the
bot. With no REELBOT_DISCORD_TOKEN (or as `reelbot sandbox`) the sandbox runs in this process:
the local Discord (discordsim) and its page, seeded with a server, channels and members, and
the real `reelbot bot` connected to it. Without a GPU the default model is the tiny test one.

`up` supervises its children: one that exits is started again after a backoff (1 s, doubling
to 30 s, back to 1 s once it has run a minute) and the restart is printed; only a bad setting
(exit code 2) stops everything, since a restart would fail the same way. Ctrl-C or SIGTERM
stops the workers first (each finishes its clip or hands it back to the queue), then the bot
(it posts what it has in hand), the gallery, the sandbox and Redis last. A second Ctrl-C kills.
Children log to .reelbot/logs/; the last lines are printed when one stops unexpectedly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from redis.exceptions import RedisError

from core.catalog import split_source
from core.contract import WORKERS_KEY
from core.logging import scrub
from core.migrate import upgrade_async
from core.queue import lazy_pool
from core.settings import Settings, SettingsError
from reelbot.local import FIRST_BACKOFF_S, Child, exit_text, free_port, gpu_available, hub_cache, redis_command, wait_for_port
from worker.gpus import pin_workers

STATE_DIR = Path(".reelbot")
BACKOFF_MAX_S = 30.0
STEADY_S = 60.0  # a child that ran this long starts again at the first backoff
BAD_SETTING = 2  # what `reelbot` exits with on a bad setting
# On one machine Ctrl-C should stop everything within seconds: a worker hands its clip back
# to the queue after this (unless REELBOT_STOP_GRACE_SECONDS says otherwise), the bot drains this long.
LOCAL_STOP_GRACE_S = 10
LOCAL_BOT_DRAIN_S = 5
TINY_DEFAULT = "ltx-tiny"
# Served beside it without a GPU, so ✏️ Edit and /edit, and sound (-sound, /lipsync), work in
# the sandbox too.
TINY_EDIT = "lucy-edit-tiny"
TINY_SOUND = "ltx2-tiny"
SANDBOX_GUILD = "Reelbot sandbox"
SANDBOX_SECOND_GUILD = "Second server"  # fairness between servers is there to try (the page switches servers)
SANDBOX_CHANNELS = ("general", "showcase")


def say(name: str, value: str) -> None:
    print(f"  {name:<10} {value}", flush=True)


# ---- models -------------------------------------------------------------------------------

@dataclasses.dataclass
class ModelPlan:
    served: list[str]
    env: dict[str, str]
    lines: list[str]

    @property
    def all_tiny(self) -> bool:
        from core.catalog import MODELS

        return all(MODELS[name].tiny for name in self.served)


def plan_models(settings: Settings) -> ModelPlan:
    """What the workers serve. Unset, a machine without a GPU gets the tiny test model (no
    download, noise out) and one with a GPU the configured model; the lines say which, and
    for a real model how big its first download is and where it goes."""
    from core.catalog import MODELS, UnknownModel

    chosen = {"model", "models"} & settings.model_fields_set
    gpu = gpu_available(settings.device)
    env: dict[str, str] = {}
    served = settings.served_models
    if not chosen and not gpu:
        served = [TINY_DEFAULT, TINY_EDIT, TINY_SOUND]
        env["REELBOT_MODEL"] = TINY_DEFAULT
        env["REELBOT_MODELS"] = ",".join(served)
    lines = []
    for name in served:
        spec = MODELS.get(name)
        if spec is None:
            variable = "REELBOT_MODELS" if "models" in chosen else "REELBOT_MODEL"
            raise SettingsError(f"bad setting {variable}: {UnknownModel(name)}")
        if spec.tiny:
            why = "" if chosen else "no GPU here, so "
            lines.append(f"{name}: {why}the test model with random weights, every clip is noise, not a picture "
                         f"(built in {settings.models_dir}, nothing to download)")
        else:
            lines.append(_download_line(settings, spec) + ("" if gpu else "; no GPU found: on the CPU a clip "
                                                                              "takes hours"))
    if all(MODELS[n].tiny for n in served):
        env.setdefault("HF_HUB_OFFLINE", "1")  # nothing a tiny model needs comes from the hub
    return ModelPlan(served, env, lines)


def _download_line(settings: Settings, spec) -> str:
    source = settings.model_sources.get(spec.name) or spec.hub_id
    if source and Path(source).expanduser().exists():
        return f"{spec.name} from {source}"
    repo = (split_source(source) or (source, None))[0]  # the cache folder has no revision in its name
    cache = hub_cache()
    if (cache / f"models--{repo.replace('/', '--')}").exists():
        return f"{spec.name} ({repo}, in {cache})"
    return (f"{spec.name}: the first start downloads {repo} (about {spec.weights_gib:.0f} GiB) into {cache}; "
            "later starts load it from there")


# ---- the sandbox --------------------------------------------------------------------------

def welcome_lines(plan: ModelPlan) -> tuple[str, ...]:
    lines = [
        "This is a Discord server on your own machine: Reelbot is connected to it exactly as it would be to "
        "Discord, and nothing leaves this computer.",
        "Type `/create a red fox running through snow -ar 9:16` and press Enter. The status message shows the "
        "queue and the progress; the clip arrives in a thread under it, with Retry, Remix, Extend, Edit, 👍 "
        "and Delete buttons.",
        "Bottom left, act as **alice** (an ordinary member), **mod** (can delete anyone's clips) or **admin** "
        "(can run `/admin`). `/help` lists the flags. Anything Discord would refuse from the bot shows in the "
        "panel on the right.",
        "As **admin**, start a sample theme: type `/admin theme start foxes in the snow` and pick a `duration` "
        "(1m ends it soon). Members then enter clips by adding `-theme` to a prompt, vote with 👍, and `/theme` "
        "shows the leaders; at the end the top entries are posted here.",
    ]
    if plan.all_tiny:
        lines.append(f"Clips come from **{', '.join(plan.served)}**, test models with random weights (this "
                     "machine has no GPU): they are noise, not pictures.")
    else:
        lines.extend(f"Model {line}." for line in plan.lines)  # a first download is slow: say so
    return tuple(lines)


async def open_sandbox(settings: Settings, plan: ModelPlan, gallery_url: str):
    from discordsim import DiscordSim
    from discordsim.sandbox import SandboxPage, seed, seed_like

    sim = DiscordSim(token=secrets.token_urlsafe(32), host="127.0.0.1", port=settings.sandbox_port,
                     bot_name="Reelbot")
    guild = seed(sim, SANDBOX_GUILD, SANDBOX_CHANNELS, upload_limit=settings.attachment_size_limit)
    second = seed_like(sim, guild, SANDBOX_SECOND_GUILD)
    notice = None
    if plan.all_tiny:
        have = "has" if len(plan.served) == 1 else "have"
        notice = (f"Noise from a test model: {', '.join(plan.served)} {have} random weights, so this clip is not "
                  "a picture.")
    page = SandboxPage(sim, guild, title="Reelbot sandbox", video_notice=notice, welcome=welcome_lines(plan),
                       links=(("Web gallery", gallery_url),), more=(second,))
    try:
        await sim.start()
    except OSError:
        raise SettingsError(f"bad setting REELBOT_SANDBOX_PORT: 127.0.0.1:{settings.sandbox_port} is in use; "
                            "is another `reelbot up` running? Set another port") from None
    return sim, page


# ---- up -----------------------------------------------------------------------------------

class Up:
    def __init__(self, settings: Settings, workers: int, sandbox: bool):
        self.settings = settings
        self.workers = workers
        self.sandbox = sandbox
        self.children: list[Child] = []
        self.sim = None
        self.page = None
        self.stopping = asyncio.Event()
        self.hurry = False
        self.fatal: str | None = None
        self.redis = None  # to see the workers announce themselves
        self.ready: set[int] = set()

    def _signal(self) -> None:
        if self.stopping.is_set():
            self.hurry = True  # a second Ctrl-C: kill what is left
        self.stopping.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._signal)
        try:
            await self._start()
            if not self.stopping.is_set():
                await self._supervise()
        finally:
            await self._stop()
        if self.fatal:
            print(f"stopped: {self.fatal}", file=sys.stderr, flush=True)
            return 1
        return 0

    def _env(self, plan: ModelPlan) -> dict[str, str]:
        env = {**os.environ, **plan.env}
        if "stop_grace_seconds" not in self.settings.model_fields_set:
            env["REELBOT_STOP_GRACE_SECONDS"] = str(LOCAL_STOP_GRACE_S)
        if "bot_drain_seconds" not in self.settings.model_fields_set:
            env["REELBOT_BOT_DRAIN_SECONDS"] = str(LOCAL_BOT_DRAIN_S)
        return env

    def _spawn(self, name: str, kind: str, command: list[str], env: dict[str, str]) -> Child:
        child = Child(name, kind, [sys.executable, "-m", "reelbot", *command], env,
                      STATE_DIR.resolve() / "logs" / f"{name.replace(' ', '-')}.log")
        child.start()
        self.children.append(child)
        return child

    async def _start(self) -> None:
        settings = self.settings
        plan = plan_models(settings)
        env = self._env(plan)
        gallery_url = settings.gallery_url or f"http://{settings.gallery_host}:{settings.gallery_port}/"
        if self.sandbox:
            self.sim, self.page = await open_sandbox(settings, plan, gallery_url)
            say("sandbox", f"{self.page.url}  <- open this in a browser: a Discord server on this machine, "
                           "with Reelbot in it")
            env.update(REELBOT_DISCORD_TOKEN=self.sim.token, REELBOT_DISCORD_API_BASE=self.sim.api_base,
                       REELBOT_DISCORD_GATEWAY_URL=self.sim.gateway_url)
            env.pop("REELBOT_DISCORD_SHARD_COUNT", None)
            env.pop("REELBOT_DISCORD_SHARD_IDS", None)
            env.setdefault("REELBOT_GALLERY_URL", gallery_url.rstrip("/"))
        redis_url = settings.redis_url
        if not redis_url:
            port = free_port()
            try:
                argv = redis_command((STATE_DIR / "redis").resolve(), port)
            except FileNotFoundError as exc:
                raise SettingsError(f"bad setting REELBOT_REDIS_URL: unset, and {exc}") from None
            redis = Child("redis", "redis", argv)
            redis.start()
            self.children.append(redis)
            await asyncio.to_thread(wait_for_port, port, 15.0, redis.proc)
            redis_url = f"redis://127.0.0.1:{port}/0"
            env["REELBOT_REDIS_URL"] = redis_url
        await upgrade_async(settings.database_url)
        self.redis = lazy_pool(redis_url)

        say("redis", scrub(redis_url))
        say("database", settings.database_url.split("@")[-1])
        say("media", settings.storage_url)
        for i, line in enumerate(plan.lines):
            say("models" if i == 0 else "", line)
        say("gallery", gallery_url)
        for i, (worker_env, where) in enumerate(pin_workers(self.workers, env)):  # worker i on GPU i
            say(f"worker {i + 1}", where)
            self._spawn(f"worker {i + 1}", "worker", ["worker"], worker_env)
        self._spawn("gallery", "gallery", ["gallery"], env)
        # In the sandbox the bot registers its commands at every start (globally: DMs too); on
        # Discord that is `reelbot sync-commands`, once.
        self._spawn("bot", "bot", ["bot", "--sync"] if self.sandbox else ["bot"], env)
        for child in self.children:
            say(child.name, f"pid {child.proc.pid}" + (f", log {_shown(child.log)}" if child.log else ""))
        print("reelbot is up; Ctrl-C stops everything", flush=True)

    async def _supervise(self) -> None:
        online = False
        seen_online = False
        while not self.stopping.is_set():
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is None and not child.alive:
                    code = child.proc.returncode
                    if code == BAD_SETTING:
                        tail = child.tail(1)
                        self.fatal = f"{child.name} has a bad setting: {tail[-1] if tail else exit_text(code)}"
                        return
                    if now - child.started_at >= STEADY_S:
                        child.backoff = FIRST_BACKOFF_S
                    child.restart_at = now + child.backoff
                    print(f"{child.name} stopped unexpectedly ({exit_text(code)}); restarting in "
                          f"{child.backoff:.0f} s", flush=True)
                    for line in child.tail():
                        print(f"  | {line}", flush=True)
                    child.backoff = min(child.backoff * 2, BACKOFF_MAX_S)
                elif child.restart_at is not None and now >= child.restart_at:
                    child.restart_at = None
                    child.start()
                    print(f"{child.name} restarted (pid {child.proc.pid})", flush=True)
            await self._report_ready()
            if self.page is not None:
                now_online = self.page.view.bot_online() and bool(self.sim.commands())
                if now_online and not online:
                    again = "back " if seen_online else ""
                    print(f"Reelbot is {again}online in the sandbox: {self.page.url}", flush=True)
                    seen_online = True
                online = now_online
            try:
                await asyncio.wait_for(self.stopping.wait(), 0.2)
            except asyncio.TimeoutError:
                pass

    async def _report_ready(self) -> None:
        """A line when a worker (started or restarted) has loaded its models and takes jobs."""
        waiting = {c.proc.pid: c for c in self.children if c.kind == "worker" and c.alive and c.proc.pid not in self.ready}
        if not waiting:
            return
        try:
            entries = [json.loads(v) for v in (await self.redis.hgetall(WORKERS_KEY)).values()]
        except (RedisError, OSError, ValueError):
            return
        for entry in entries:
            suffix = str(entry.get("id", "")).rsplit(":", 1)[-1]  # worker ids are host:pid
            pid = int(suffix) if suffix.isdigit() else None
            if pid in waiting:
                self.ready.add(pid)
                print(f"{waiting[pid].name} ready: serves {', '.join(entry.get('models') or {})}", flush=True)

    async def _stop(self) -> None:
        if not self.children and self.sim is None:
            return
        for child in self.children:
            child.restart_at = None
        workers = [c for c in self.children if c.kind == "worker"]
        gallery = [c for c in self.children if c.kind == "gallery"]
        grace = self.settings.stop_grace_seconds if "stop_grace_seconds" in self.settings.model_fields_set \
            else LOCAL_STOP_GRACE_S
        if any(c.alive for c in workers):
            print(f"stopping: each worker finishes its clip or hands it back to the queue (up to {grace} s)",
                  flush=True)
        # The bot stays up meanwhile, to post what the workers finish.
        await self._terminate(workers + gallery, grace + 15)
        await self._terminate([c for c in self.children if c.kind == "bot"], LOCAL_BOT_DRAIN_S + 10)
        if self.sim is not None:
            await self.sim.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self._terminate([c for c in self.children if c.kind == "redis"], 10)
        print("stopped everything", flush=True)

    async def _terminate(self, children: list[Child], timeout: float) -> None:
        for child in children:
            if child.alive:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(c.alive for c in children):
            if self.hurry or time.monotonic() > deadline:
                for child in children:
                    if child.alive:
                        child.proc.kill()
                        print(f"{child.name} killed", flush=True)
            await asyncio.sleep(0.05)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def up(settings: Settings, args, *, sandbox: bool | None = None) -> int:
    """Blocking. `sandbox`: None decides by the token (none set: the sandbox)."""
    if sandbox is None:
        sandbox = not (settings.discord_token and settings.discord_token.get_secret_value().strip())
    return asyncio.run(Up(settings, args.workers, sandbox).run())
