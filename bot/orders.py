"""From what a member asked for to a queued render, or a refusal that says what to change.

Every command and button that makes a clip builds an `Order` and calls `submit`. The
checks run cheapest first and the member's quota is taken last, so a refused request
costs the member nothing; nothing is written before every check has passed. Then the
clip is recorded (the worker and /me see it at once), its attachments are stored under
its input keys, and it goes on the queue of its model.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from core.contract import Status, input_key, new_clip_id
from core.catalog import Task
from core.flags import FlagError, Flags, Request, parse_prompt
from core.jobs import new_job
from core.logging import get_logger
from core.moderation import find_banned
from core.queue import enqueue, position
from bot import attachments, messages, records

log = get_logger("bot")


@dataclass
class Order:
    member_id: str
    member_name: str
    channel_id: str
    text: str  # the prompt with its flags, as typed
    task: Task = Task.TEXT_TO_VIDEO
    guild_id: str | None = None
    parent_channel_id: str | None = None  # a thread's channel, for the allowed-channels rule
    # name -> (discord.Attachment, "image" | "video"): checked by decoding, stored under input_key
    attachments: dict[str, tuple[object, str]] = field(default_factory=dict)
    reuse_inputs: dict[str, str] = field(default_factory=dict)  # storage keys of an earlier clip's inputs
    parent_id: str | None = None
    model_hint: str | None = None  # the parent's model, when no -model is given
    prompt_required: bool = True
    example: str = "/create a fox running through snow -ar 16:9"
    max_bytes: int | None = None  # the upload limit where the clip will be posted
    drop_seed: bool = False  # Retry: same flags, new seed


@dataclass(frozen=True)
class Queued:
    clip_id: str
    model: str
    prompt: str
    private: bool
    position: int | None
    eta_seconds: float | None

    @property
    def status_text(self) -> str:
        return messages.status_queued(self.position, self.eta_seconds)


@dataclass(frozen=True)
class Refused:
    message: str
    reason: str  # for metrics: flags, prompt, model, task, banned_term, attachment, limit, paused, channel, queue


async def submit(services, order: Order) -> Queued | Refused:
    settings = services.settings
    guild, member = await records.guild_and_member(services.store, order.guild_id, order.member_id)
    if guild is not None and guild.paused:
        return Refused("Making clips is paused on this server by its managers. Try again later.", "paused")
    if guild is not None and guild.allowed_channel_ids:
        here = {order.channel_id, order.parent_channel_id} - {None}
        if not here & set(guild.allowed_channel_ids):
            shown = ", ".join(f"<#{cid}>" for cid in guild.allowed_channel_ids[:10])
            return Refused(f"Reelbot makes clips only in {shown} on this server.", "channel")

    online = await services.workers.get()
    parsed = parse_prompt(order.text, max_prompt_chars=settings.max_prompt_chars, models=online.models)
    if isinstance(parsed, FlagError):
        return Refused(str(parsed), "flags")
    if not parsed.prompt and order.prompt_required:
        return Refused(messages.empty_prompt(order.example), "prompt")
    defaults = records.defaults_of(member)
    flags = parsed.flags.merged_over(defaults)
    if order.drop_seed:
        flags = flags.model_copy(update={"seed": None})

    model = flags.model or order.model_hint or settings.model
    if model not in online.tasks:
        from_settings = parsed.flags.model is None and defaults.model is not None
        return Refused(messages.no_worker(model, online.models, from_settings), "model")
    if order.task.value not in online.tasks[model]:
        return Refused(messages.task_refused(model, order.task.value, online.capable(order.task.value)), "task")

    terms = list(settings.banned_terms) + list(guild.banned_terms if guild else [])
    term = find_banned(" ".join(filter(None, (parsed.prompt, flags.neg))), terms) if terms else None
    if term:
        return Refused(messages.banned_term(term), "banned_term")

    media = {}
    for name, (attachment, kind) in order.attachments.items():
        checked = await attachments.fetch(attachment, kind, services.media)
        if isinstance(checked, attachments.MediaError):
            return Refused(checked.message, "attachment")
        media[name] = checked
    return await _record_and_queue(services, order, Request(prompt=parsed.prompt, flags=flags), model, media)


async def _record_and_queue(services, order: Order, request: Request, model: str, media: dict) -> Queued | Refused:
    clip_id = new_clip_id()
    keys = dict(order.reuse_inputs)
    for name, item in media.items():
        keys[name] = input_key(clip_id, f"{name}.{item.ext}")
    # The upload limit stays with the clip (attach or link when posting) and is not handed to
    # the worker: a worker that cannot squeeze a clip under it fails the job, and a link is
    # better than no clip.
    job = new_job(request, model=model, task=order.task, member_id=order.member_id, parent_clip_id=order.parent_id,
                  input_keys=keys, clip_id=clip_id)
    record = dict(
        id=clip_id, parent_id=order.parent_id, author_id=order.member_id, author_name=order.member_name[:100],
        guild_id=order.guild_id, channel_id=order.channel_id, task=order.task.value, prompt=job.prompt,
        flags=job.flags, seed=job.seed, model=model, status=Status.QUEUED.value, private=request.flags.private,
        input_keys=keys, max_bytes=order.max_bytes,
    )
    # The member's quota and the clip's record in one commit: a refused request writes nothing,
    # and a counted job always has its record (the worker and /me see it at once).
    if not await records.take_and_record(services.store, services.limits, order.member_id, order.member_name, record):
        refusal = await services.limits.explain(order.member_id)
        return Refused(refusal.message, "limit")
    # The status message must exist before delivery may post: delivery waits for this.
    services.setups[clip_id] = asyncio.Event()
    try:
        for name, item in media.items():
            await asyncio.to_thread(services.storage.put, keys[name], item.data, item.content_type)
        if not await enqueue(services.redis, job):
            raise RuntimeError(f"clip id {clip_id} already on the queue")
    except Exception:
        log.exception("could not queue a clip", clip_id=clip_id, member_id=order.member_id)
        services.setups.pop(clip_id, None)
        await services.store.transition(clip_id, Status.FAILED, error="Reelbot couldn't queue this clip.")
        await services.limits.release(order.member_id)
        return Refused("Reelbot couldn't queue your clip just now, so nothing was used up. Please try again.",
                       "queue")
    place = await position(services.redis, clip_id, model)
    online = await services.workers.get()
    eta = services.eta.eta(model, place, online.workers.get(model, 1))
    log.info("clip queued", clip_id=clip_id, member_id=order.member_id, model=model, task=order.task.value,
             position=place)
    return Queued(clip_id, model, request.prompt, request.flags.private, place, eta)


def inputs_of(clip) -> dict[str, str]:
    """The storage keys an earlier clip read, for Retry and Remix."""
    return dict(clip.input_keys or {})


def text_of(clip, drop_seed: bool = False) -> str:
    """The prompt and flags of a clip as a member could type them again."""
    try:
        flags = Flags.from_dict(clip.flags or {})
    except ValueError:
        flags = Flags()
    if drop_seed:
        flags = flags.model_copy(update={"seed": None})
    return Request(prompt=clip.prompt or "", flags=flags).to_text()
