"""`reelbot <command>`: each command imports only what its process needs (the bot never torch)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.catalog import Task
from core.settings import SettingsError, load_settings


def _settings():
    settings = load_settings()
    from core.logging import configure

    configure(settings.log_level, settings.log_format)
    return settings


def cmd_migrate(args) -> int:
    from core.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print("database is at the newest schema")
    return 0


def cmd_models(args) -> int:
    from core.catalog import MODELS, TINY_LABEL, Task

    settings = load_settings()
    rows = [("model", "family", "tasks", "sound", "weights", "")]
    for spec in MODELS.values():
        source = settings.model_sources.get(spec.name) or spec.hub_id or f"{settings.models_dir / spec.name} (built locally)"
        tasks = ",".join(task for task in Task if task in spec.tasks)
        rows.append((spec.name, spec.family, tasks, "sound" if spec.sound else "-", source,
                     TINY_LABEL if spec.tiny else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + ("  " + row[5] if row[5] else ""))
    return 0


def cmd_fetch_models(args) -> int:
    """Weights into the hub cache (HF_HOME) before any worker needs them, with progress bars:
    each model's and its effect and camera LoRAs'; run again after an interruption and it resumes."""
    from pathlib import Path

    from core.catalog import UnknownModel, get_model
    from inference import weights
    from worker.runtime import source_of

    settings = _settings()
    failed = 0
    for name in args.models.split(",") if args.models else settings.served_models:
        try:
            spec = get_model(name.strip())
        except UnknownModel as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        source = source_of(settings, spec)
        try:
            if source is None or Path(source).expanduser().is_dir():
                print(f"{spec.name}: nothing to fetch ({source or 'random weights, built locally on first use'})")
            else:
                download = weights.plan(source)
                print(f"{spec.name}: {download.describe()}", flush=True)
                print(f"{spec.name}: ready in {weights.fetch(download, bars=True)}")
        except weights.WeightsError as exc:
            print(f"{spec.name}: {exc}", file=sys.stderr)
            failed += 1
        failed += _fetch_adapters(settings, spec)
    return 1 if failed else 0


def _fetch_adapters(settings, spec) -> int:
    """A model's LoRA files into the hub cache, each at the commit its revision resolves to; the failures."""
    from pathlib import Path

    from core.catalog import split_source
    from inference import weights

    failed = 0
    for adapter in spec.adapters:
        source = settings.adapter_sources.get(spec.name, {}).get(adapter.name) or adapter.source
        label = f"{spec.name} {adapter.kind} {adapter.name}"
        if source is None or Path(source).expanduser().exists() or not split_source(source):
            print(f"{label}: nothing to fetch ({source or 'random weights, built locally on first use'})")
            continue
        try:
            file = weights.fetch_adapter(source, adapter.weight_name, bars=True)
        except weights.WeightsError as exc:
            print(f"{label}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{label}: {split_source(source)[0]}@{file.parent.name[:12]} ready in {file}", flush=True)
    return failed


def cmd_render(args) -> int:
    from reelbot.render import render_to_file

    return render_to_file(_settings(), args)


def cmd_worker(args) -> int:
    settings = _settings()
    if args.models:
        settings.models = args.models.split(",")
    if not settings.redis_url:
        raise SettingsError("bad setting REELBOT_REDIS_URL: the worker needs a Redis URL (or run `reelbot up`)")
    from worker.main import serve

    asyncio.run(serve(settings))
    return 0


def cmd_gallery(args) -> int:
    settings = _settings()
    if args.host:
        settings.gallery_host = args.host
    if args.port:
        settings.gallery_port = args.port
    from gallery.app import serve

    serve(settings)
    return 0


def cmd_exporter(args) -> int:
    settings = _settings()
    if not settings.redis_url:
        raise SettingsError("bad setting REELBOT_REDIS_URL: the exporter needs a Redis URL")
    from core.metrics import serve_exporter

    asyncio.run(serve_exporter(settings))
    return 0


def cmd_bot(args) -> int:
    settings = _settings()
    from bot.main import run

    run(settings, sync=args.sync, guild_id=args.guild)
    return 0


def cmd_sync_commands(args) -> int:
    settings = _settings()
    from bot.main import sync_commands

    names = asyncio.run(sync_commands(settings, args.guild))
    scope = f"server {args.guild} (at once)" if args.guild else "every server (Discord may take up to an hour)"
    print(f"synced {len(names)} commands for {scope}: {', '.join('/' + n for n in names)}")
    return 0


def cmd_ban(args) -> int:
    from reelbot.moderation import ban

    return ban(_settings(), args.user_id, args.reason)


def cmd_unban(args) -> int:
    from reelbot.moderation import unban

    return unban(_settings(), args.user_id, args.reason)


def cmd_audit(args) -> int:
    from reelbot.moderation import print_audit

    return print_audit(_settings(), args.guild, args.member, args.since, args.limit)


def cmd_quality(args) -> int:
    from reelbot.quality import run

    return run(_settings(), args.since, args.model, args.html, args.canary)


def cmd_usage(args) -> int:
    from reelbot.usage import print_usage

    return print_usage(_settings(), args.since, args.guild)


def cmd_server_plan(args) -> int:
    from reelbot.usage import server_plan

    return server_plan(_settings(), args.guild_id, args.weight, args.fast_gpu_hours_per_day, args.no_fast_cap)


def cmd_up(args) -> int:
    from reelbot.up import up

    return up(_settings(), args)


def cmd_sandbox(args) -> int:
    from reelbot.up import up

    return up(_settings(), args, sandbox=True)


def _number(value: str, low: float, strict: bool) -> float:
    import math

    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < low or (strict and number == low) or number > 1e6:
        raise argparse.ArgumentTypeError(f"{value!r}: a number {'above' if strict else 'from'} {low:g}")
    return number


def _positive(value: str) -> float:
    return _number(value, 0, strict=True)


def _not_negative(value: str) -> float:
    return _number(value, 0, strict=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelbot", description="Reelbot: AI video creation in Discord.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(run=cmd_migrate)
    sub.add_parser("models", help="list the models, their tasks and weights").set_defaults(run=cmd_models)

    fetch = sub.add_parser("fetch-models", help="download model weights (and their effect and camera LoRAs) into the "
                           "cache, with progress bars "
                           "(resumable; pinned revisions)")
    fetch.add_argument("--models", help="comma-separated models (default REELBOT_MODELS)")
    fetch.set_defaults(run=cmd_fetch_models)

    render = sub.add_parser("render", help="render one clip in this process, with a progress bar")
    render.add_argument("prompt", help='the prompt with its flags, e.g. "a fox in snow -ar 9:16 -seed 7"')
    render.add_argument("--image", help="first frame (image-to-video); with --task edit: a reference to put in; "
                        "with --task lip-sync: the face")
    render.add_argument("--video", help="video to restyle (video-to-video) or to edit (--task edit); with --task "
                        "lip-sync: the face")
    render.add_argument("--task", choices=[task.value for task in Task],
                        help="what to do (default: from the inputs: video-to-video, image-to-video or text-to-video)")
    render.add_argument("--audio", help="with --task lip-sync: what the face says (WAV, MP3, M4A, OGG, FLAC)")
    render.add_argument("--text", help="with --task lip-sync: words to say instead, through text-to-speech")
    render.add_argument("--model", help="model name (see `reelbot models`)")
    render.add_argument("--out", default="clip.mp4", help="where to write the MP4")
    render.set_defaults(run=cmd_render)

    worker = sub.add_parser("worker", help="serve renders from the queue")
    worker.add_argument("--models", help="comma-separated models to serve (default REELBOT_MODELS)")
    worker.set_defaults(run=cmd_worker)

    gallery = sub.add_parser("gallery", help="serve the web gallery of public clips")
    gallery.add_argument("--host", help="address to listen on (default REELBOT_GALLERY_HOST)")
    gallery.add_argument("--port", type=int, help="port to listen on (default REELBOT_GALLERY_PORT)")
    gallery.set_defaults(run=cmd_gallery)

    sub.add_parser("exporter", help="queue depth and oldest wait per model, for Prometheus and KEDA "
                   "(deploy/README.md)").set_defaults(run=cmd_exporter)

    bot = sub.add_parser("bot", help="run the Discord bot")
    bot.add_argument("--sync", action="store_true", help="register the slash commands first (see sync-commands)")
    bot.add_argument("--guild", type=int, help="with --sync: register them for this server only")
    bot.set_defaults(run=cmd_bot)

    sync = sub.add_parser("sync-commands", help="register the slash commands with Discord, then exit")
    sync.add_argument("--guild", type=int, help="one server's id: instant, for testing (default: global)")
    sync.set_defaults(run=cmd_sync_commands)

    from reelbot.moderation import line_count, since, snowflake  # argument types

    ban = sub.add_parser("ban", help="ban a member from every server (and the web gallery); /admin ban is per server")
    ban.add_argument("user_id", type=snowflake, help="the member's Discord user id")
    ban.add_argument("--reason", help="why (kept in the audit log)")
    ban.set_defaults(run=cmd_ban)
    unban = sub.add_parser("unban", help="lift an operator's ban (servers' own bans stay)")
    unban.add_argument("user_id", type=snowflake, help="the member's Discord user id")
    unban.add_argument("--reason", help="why (kept in the audit log)")
    unban.set_defaults(run=cmd_unban)
    audit = sub.add_parser("audit", help="print moderation decisions, oldest first")
    audit.add_argument("--guild", type=snowflake, help="one server's id (default: every server, and the operator's)")
    audit.add_argument("--member", type=snowflake, help="decisions about one member")
    audit.add_argument("--since", type=since, help="a span (30m, 12h, 7d, 2w) or a date (2026-11-20); default: all")
    audit.add_argument("--limit", type=line_count, default=500, help="at most this many, the newest (default 500)")
    audit.set_defaults(run=cmd_audit)

    quality = sub.add_parser("quality", help="quality per model, revision and speed knobs: failures, broken clips, "
                             "members' reactions, signals, render time; -motion calibration; the canary's verdict")
    quality.add_argument("--since", type=since, help="a span (30m, 12h, 7d, 2w) or a date (2026-11-20); default: all")
    quality.add_argument("--model", help="one model only")
    quality.add_argument("--html", metavar="REPORT.html", help="also write the report with charts to this file")
    quality.add_argument("--canary", action="store_true",
                         help="compare the canary's candidate with the default model (REELBOT_CANARY): "
                         "promote, hold or roll back")
    quality.set_defaults(run=cmd_quality)
    usage = sub.add_parser("usage", help="GPU time per server, member and model (clips, GPU hours, fast vs relax)")
    usage.add_argument("--since", type=since, help="a span (30m, 12h, 7d, 2w) or a date (2026-11-20); default: all")
    usage.add_argument("--guild", type=snowflake, help="one server's id (default: every server)")
    usage.set_defaults(run=cmd_usage)
    plan = sub.add_parser("server-plan", help="a server's weight in the fair queue and its fast GPU hours a day "
                          "(no option: print them)")
    plan.add_argument("guild_id", type=snowflake, help="the server's id")
    plan.add_argument("--weight", type=_positive, help="its share of the GPUs against other servers (default 1)")
    plan.add_argument("--fast-gpu-hours-per-day", type=_not_negative,
                      help="fast GPU hours its members may use a day together; spent, clips go to the relax lane")
    plan.add_argument("--no-fast-cap", action="store_true", help="no cap on the server's fast GPU hours")
    plan.set_defaults(run=cmd_server_plan)

    up = sub.add_parser("up", help="the whole stack on this machine (the sandbox when no Discord token is set)")
    up.add_argument("--workers", type=int, default=1, help="worker processes to start")
    up.set_defaults(run=cmd_up)

    sandbox = sub.add_parser("sandbox", help="the whole stack with a local Discord in the browser instead of "
                             "Discord (REELBOT_SANDBOX_PORT, default 8765)")
    sandbox.add_argument("--workers", type=int, default=1, help="worker processes to start")
    sandbox.set_defaults(run=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SettingsError as exc:
        print(exc.line, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
