"""From what a member asked for to a queued render, or a refusal that says what to change.

Every command, button and dialog that makes a clip builds an `Order` (`order_for`) and
calls `place_order`, the one path to the queue. `submit` runs the checks cheapest first
and takes the member's quota last, so a refused request costs the member nothing; nothing
is written before every check has passed. Then the clip is recorded (the worker and /me
see it at once), its attachments are stored under its input keys, and it goes on the
queue of its model. Models and their tasks come from the deployment's catalog, not from
the workers online: a job for a model whose workers are starting waits on its queue.

`place_order` answers within Discord's 3 seconds (deferring privately first when
attachments must be downloaded and decoded), refuses privately, or shows the status
message, opens the thread on it and writes both ids into the clip record, so delivery
can find them after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime

import discord

from bot import asks, attachments, messages, records
from bot.answers import mark_received, observe_ack, reply_private, services_of
from bot.metrics import COMMANDS
from bot.status import Watched, cancel_view
from core import audit, quality, themes
from core.catalog import AdapterKind, Task, adapters_of, models_for_task
from core.contract import QueueTicket, Status, input_key, new_clip_id
from core.flags import FlagError, Flags, Request, parse_prompt
from core.jobs import new_job
from core.limits import Plan, Where
from core.logging import get_logger
from core.media import upload_limit
from core.moderation import find_banned
from core.queue import enqueue, standings

log = get_logger("bot")
THREAD_ARCHIVE_MINUTES = 1440
THREAD_ALREADY_CREATED = 160004


@dataclass
class Order:
    member_id: str
    member_name: str
    channel_id: str
    text: str  # the prompt with its flags, as typed
    task: Task = Task.TEXT_TO_VIDEO
    guild_id: str | None = None
    parent_channel_id: str | None = None  # a thread's channel, for the allowed-channels rule
    # name -> (discord.Attachment, "image" | "video" | "audio" | "face"): checked by decoding, stored
    # under input_key. A "face" is stored as "image" or "video", whichever the file turns out to be.
    attachments: dict[str, tuple[object, str]] = field(default_factory=dict)
    speech: str | None = None  # lip-sync: words to speak, stored as the "speech" input
    reuse_inputs: dict[str, str] = field(default_factory=dict)  # storage keys of an earlier clip's inputs
    parent_id: str | None = None
    model_hint: str | None = None  # the parent's model, when no -model is given
    prompt_required: bool = True
    example: str = "/create a fox running through snow -ar 16:9"
    max_bytes: int | None = None  # the upload limit where the clip will be posted
    drop_seed: bool = False  # Retry: same flags, new seed
    # The member's /settings fill flags the text leaves out; not for Retry, which re-runs
    # the clip's own flags and model whoever presses it.
    member_defaults: bool = True
    # Made in an age-restricted channel: the worker may post a clip its safety check flags.
    age_restricted: bool = False
    # Without a -model in the text, a model of the deployment that can do the task stands in
    # for a default that cannot (an edit's source may come from any model).
    any_capable: bool = False
    # Private whatever the flags say: made from a private clip (an edit of it).
    private: bool = False
    # A member's reaction this order is (core/quality.py): (the clip reacted to, Kind.RETRY …).
    reacting: tuple[str, str] | None = None
    requested_at: datetime | None = None  # when the member asked (the interaction's time)
    # The member's roles in the server (interactions carry them): their tier (core/limits.py).
    role_ids: tuple[str, ...] = ()


def age_restricted(channel) -> bool:
    """Discord's nsfw flag of the channel (a thread's is its parent's: discord.py's
    Thread.is_nsfw reads it there). DMs, and channels discord.py cannot tell, are not."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) and getattr(channel, "guild", None) is not None else False


def order_for(interaction: discord.Interaction, text: str, **fields) -> Order:
    """An order from this member, in this channel, for `text` (prompt and flags as typed)."""
    channel = interaction.channel
    parent_id = getattr(channel, "parent_id", None)
    return Order(
        member_id=str(interaction.user.id), member_name=interaction.user.name, text=text or "",
        channel_id=str(interaction.channel_id), guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        parent_channel_id=str(parent_id) if parent_id else None, max_bytes=interaction.filesize_limit,
        age_restricted=age_restricted(channel), requested_at=interaction.created_at,
        role_ids=role_ids(interaction.user), **fields,
    )


def role_ids(user) -> tuple[str, ...]:
    """The ids of a guild member's roles (none for a user in DMs)."""
    return tuple(str(role.id) for role in getattr(user, "roles", ()) or ())


@dataclass(frozen=True)
class Queued:
    clip_id: str
    model: str
    prompt: str
    private: bool
    position: int | None  # 1 + the clips ahead of it now
    eta_seconds: float | None  # the low end: the work ahead at the current rate
    waiting: bool = False  # no worker online for the model right now
    entered: themes.Entering | None = None  # -theme: the entry made with the clip
    eta_high: float | None = None  # plus what other active servers may still put ahead
    lane: str = "fast"
    moved: str | None = None  # moved to relax: whose fast time was spent ("member" | "server")

    @property
    def status_text(self) -> str:
        return messages.status_queued(self.position, self.eta_seconds, self.waiting, eta_high=self.eta_high,
                                      lane=self.lane, moved=self.moved)


@dataclass(frozen=True)
class Refused:
    message: str
    # for metrics: banned, flags, prompt, model, task, sound, banned_term, attachment, limit, paused, channel, queue
    reason: str


async def submit(services, order: Order) -> Queued | Refused:
    settings = services.settings
    guild, member = await records.guild_and_member(services.store, order.guild_id, order.member_id)
    if member is not None and member.banned_here:
        return Refused("You can't make clips on this server: its managers have blocked you.", "banned")
    if guild is not None and guild.paused:
        return Refused("Making clips is paused on this server by its managers. Try again later.", "paused")
    if guild is not None and guild.allowed_channel_ids:
        here = {order.channel_id, order.parent_channel_id} - {None}
        if not here & set(guild.allowed_channel_ids):
            shown = ", ".join(f"<#{cid}>" for cid in guild.allowed_channel_ids[:10])
            return Refused(f"Reelbot makes clips only in {shown} on this server.", "channel")

    catalog = services.catalog
    parsed = parse_prompt(order.text, max_prompt_chars=settings.max_prompt_chars, models=list(catalog),
                          effects=list(adapters_of(AdapterKind.EFFECT, catalog.values())))
    if isinstance(parsed, FlagError):
        return Refused(str(parsed), "flags")
    if not parsed.prompt and order.prompt_required:
        return Refused(messages.empty_prompt(order.example), "prompt")
    defaults = records.defaults_of(member) if order.member_defaults else Flags()
    flags = parsed.flags.merged_over(defaults)
    if order.drop_seed:
        flags = flags.model_copy(update={"seed": None})
    if order.private:
        flags = flags.model_copy(update={"private": True})

    pictures = _pictures(order)
    model, arm = flags.model or order.model_hint, None
    if model is None:  # names no model: the default, or the canary's candidate for members in its share
        model, arm = quality.canary_choice(settings.canary_split, order.member_id, settings.model,
                                           lambda name: _able(catalog, order, flags, pictures, name))
    if (order.any_capable or asks.beyond_task(flags, pictures)) and parsed.flags.model is None:
        model = _capable(catalog, order, model, flags, pictures)
    if model not in catalog:
        from_settings = parsed.flags.model is None and defaults.model is not None
        return Refused(messages.model_not_served(model, list(catalog), from_settings), "model")
    if order.task not in catalog[model].tasks:
        capable = [spec.name for spec in models_for_task(order.task, catalog.values())]
        return Refused(messages.task_refused(model, order.task.value, capable), "task")
    if _with_reference(order) and not catalog[model].edit_references:
        capable = [spec.name for spec in catalog.values() if spec.edit_references]
        return Refused(messages.reference_refused(model, capable), "task")
    if flags.sound and not catalog[model].sound:
        capable = [spec.name for spec in catalog.values() if spec.sound and order.task in spec.tasks]
        return Refused(messages.sound_refused(model, capable), "sound")
    lacking = asks.lacks(catalog[model], order.task, flags, pictures)
    if lacking:
        return Refused(asks.refusal(lacking, model, order.task, flags, pictures, catalog.values()), lacking)

    terms = list(settings.banned_terms) + list(guild.banned_terms if guild else [])
    term = find_banned(" ".join(filter(None, (parsed.prompt, flags.neg, order.speech))), terms) if terms else None
    if term:
        async with services.store.session.begin() as s:
            await audit.record(s, audit.Action.REFUSED_PROMPT, guild_id=order.guild_id, member_id=order.member_id,
                               actor=order.member_id, reason=f"blocked term: {term}", prompt=order.text)
        return Refused(messages.banned_term(term), "banned_term")

    theme = None
    if flags.theme:
        theme = await themes.entry_check(services.store.session, guild_id=order.guild_id,
                                         channel_ids=(order.channel_id, order.parent_channel_id),
                                         member_id=order.member_id, private=flags.private)
        if isinstance(theme, str):
            return Refused(theme, "theme")
        flags = flags.model_copy(update={"theme": False})  # an entry, not a way to render: Retry won't re-enter

    media = {}
    for name, (attachment, kind) in order.attachments.items():
        checked = await attachments.fetch(attachment, kind, services.media)
        if isinstance(checked, attachments.MediaError):
            return Refused(checked.message, "attachment")
        media[checked.kind if kind == "face" else name] = checked
    return await _record_and_queue(services, order, Request(prompt=parsed.prompt, flags=flags), model, media,
                                   Plan.of(guild), tiered=guild is not None and bool(guild.has_tiers), theme=theme,
                                   arm=arm)


def _able(catalog: dict, order: Order, flags: Flags, pictures: int, model: str) -> bool:
    """Whether `model` passes the catalog's checks for this order (task, reference, sound, and
    the effect, LoRA move, loop or keyframes it asks for)."""
    spec = catalog.get(model)
    return (spec is not None and order.task in spec.tasks and (spec.edit_references or not _with_reference(order))
            and (spec.sound or not flags.sound) and asks.lacks(spec, order.task, flags, pictures) is None)


def _with_reference(order: Order) -> bool:
    """An edit that puts in a picture (attached now, or reused by Retry and Remix)."""
    return "reference" in order.attachments or "reference" in order.reuse_inputs


def _pictures(order: Order) -> int:
    """How many pictures a keyframes order holds: first, last and the ones between."""
    names = set(order.attachments) | set(order.reuse_inputs)
    return 2 + sum(name.startswith("between") for name in names) if order.task == Task.KEYFRAMES else 0


def _capable(catalog: dict, order: Order, model: str, flags: Flags, pictures: int) -> str:
    """`model` if it can do the order, else the first model of the catalog that can."""
    if _able(catalog, order, flags, pictures, model):
        return model
    return next((name for name in catalog if _able(catalog, order, flags, pictures, name)), model)


async def _record_and_queue(services, order: Order, request: Request, model: str, media: dict,
                            plan: Plan, tiered: bool = True, theme=None, arm: str | None = None) -> Queued | Refused:
    clip_id = new_clip_id()
    # -theme: the entry is written with the clip's record, or neither is (core/themes.py).
    entering = themes.Entering(theme.id, clip_id, order.member_id) if theme is not None else None
    keys = dict(order.reuse_inputs)
    for name, item in media.items():
        keys[name] = input_key(clip_id, f"{name}.{item.ext}")
    if order.speech:
        keys["speech"] = input_key(clip_id, "speech.txt")
    # The upload limit goes to the worker, which re-encodes the clip to fit it when it can (and
    # keeps it whole when it cannot: it is linked then), and stays with the clip for posting.
    # A -private clip goes to a DM, which is never age-restricted.
    job = new_job(request, model=model, task=order.task, member_id=order.member_id, parent_clip_id=order.parent_id,
                  input_keys=keys, clip_id=clip_id, age_restricted=order.age_restricted and not request.flags.private,
                  max_bytes=upload_limit(services.settings, order.max_bytes, request.flags.private))
    record = dict(
        id=clip_id, parent_id=order.parent_id, author_id=order.member_id, author_name=order.member_name[:100],
        guild_id=order.guild_id, channel_id=order.channel_id, task=order.task.value, prompt=job.prompt,
        flags=job.flags, seed=job.seed, model=model, status=Status.QUEUED.value, private=request.flags.private,
        input_keys=keys, max_bytes=order.max_bytes, canary=arm, requested_at=order.requested_at,
    )
    # The member's quota (their tier's) and the clip's record in one commit: a refused request
    # writes nothing, and a counted job always has its record (the worker and /me see it at once).
    where = Where(order.guild_id, order.role_ids, request.flags.lane or "fast", plan, tiered)
    try:
        grant = await records.take_and_record(services.store, services.limits, order.member_id,
                                              order.member_name, record, where, also=entering)
    except themes.EntryRefused as refused:
        return Refused(str(refused), "theme")
    if grant is None:
        refusal = await services.limits.explain(order.member_id, where=where)
        return Refused(refusal.message, "limit")
    job = job.model_copy(update={"ticket": QueueTicket(
        guild_id=order.guild_id, lane=grant.lane, priority=grant.limits.priority, weight=grant.weight,
        cost_s=services.eta.cost(model, request.flags))})
    # The status message must exist before delivery may post: delivery waits for this.
    services.setups[clip_id] = asyncio.Event()
    try:
        for name, item in media.items():
            await asyncio.to_thread(services.storage.put, keys[name], item.data, item.content_type)
        if order.speech:
            await asyncio.to_thread(services.storage.put, keys["speech"], order.speech.encode(),
                                    "text/plain; charset=utf-8")
        if not await enqueue(services.redis, job, services.policy, settle=False):  # settled by `standings` below
            raise RuntimeError(f"clip id {clip_id} already on the queue")
    except Exception:
        log.exception("could not queue a clip", clip_id=clip_id, member_id=order.member_id)
        services.setups.pop(clip_id, None)
        await services.store.transition(clip_id, Status.FAILED, error="Reelbot couldn't queue this clip.")
        await services.limits.release(order.member_id)
        return Refused("Reelbot couldn't queue your clip just now, so nothing was used up. Please try again.",
                       "queue")
    standing = (await standings(services.redis, model, [clip_id], typical_s=services.eta.per_clip(model),
                                policy=services.policy))[clip_id]
    place = None if standing.ahead is None else standing.ahead + 1
    workers = (await services.workers.get()).workers.get(model, 0)
    low, high = services.eta.eta_range(model, place, standing.more, workers) if workers else (None, None)
    log.info("clip queued", clip_id=clip_id, member_id=order.member_id, model=model, task=order.task.value,
             position=place, workers=workers, lane=grant.lane, moved=grant.moved)
    return Queued(clip_id, model, request.prompt, request.flags.private, place, low, waiting=not workers,
                  eta_high=high, lane=grant.lane, moved=grant.moved, entered=entering)


async def _reacted(services, order: Order, clip_id: str, prompt: str) -> None:
    """The member's reaction this clip is: to the clip it retries, remixes, extends or edits,
    or a redo of one of theirs (core/quality.py). A fault here never costs the clip."""
    sessions = services.store.session
    try:
        if order.reacting:
            await quality.react(sessions, order.reacting[0], quality.Kind(order.reacting[1]), order.member_id,
                                made_clip_id=clip_id)
        elif order.parent_id is None:
            await quality.note_redo(sessions, clip_id, order.member_id, prompt, order.task.value)
    except Exception:  # noqa: BLE001
        log.exception("could not record a reaction", clip_id=clip_id)


def inputs_of(clip) -> dict[str, str]:
    """The storage keys an earlier clip read, for Retry and Remix."""
    return dict(clip.input_keys or {})


def text_of(clip, drop_seed: bool = False, without: dict | None = None) -> str:
    """The prompt and flags of a clip as a member could type them again; `without`: flags to
    set back to "not given" (e.g. {"loop": False} for an extend)."""
    try:
        flags = Flags.from_dict(clip.flags or {})
    except ValueError:
        flags = Flags()
    if drop_seed:
        flags = flags.model_copy(update={"seed": None})
    return Request(prompt=clip.prompt or "", flags=flags.model_copy(update=without or {})).to_text()


async def place_order(interaction: discord.Interaction, order: Order, command: str) -> Queued | None:
    services = services_of(interaction)
    mark_received(interaction)
    deferred = bool(order.attachments)
    if deferred:
        # Downloading and decoding may take longer than Discord's 3 s: answer privately now.
        await interaction.response.defer(ephemeral=True, thinking=True)
        observe_ack(interaction)
    result = await submit(services, order)
    if isinstance(result, Refused):
        COMMANDS.labels(command, "refused").inc()
        log.info("request refused", command=command, reason=result.reason, member_id=order.member_id)
        if deferred:
            await interaction.edit_original_response(content=messages.truncate(result.message, messages.CONTENT_MAX))
        else:
            await reply_private(interaction, result.message)
        return None
    try:
        await show_queued(interaction, result, deferred)
    finally:
        setup = services.setups.get(result.clip_id)
        if setup is not None:
            setup.set()
    COMMANDS.labels(command, "queued").inc()
    if result.entered is not None:
        with contextlib.suppress(discord.HTTPException):  # the clip is entered and queued either way
            await interaction.followup.send(await _entered_note(services, result.entered), ephemeral=True)
    await _reacted(services, order, result.clip_id, result.prompt)  # after the answer: not on the 3 s path
    return result


async def _entered_note(services, entered: themes.Entering) -> str:
    """The private word that a clip entered the theme."""
    async with services.store.session() as s:
        theme = await themes.get(s, entered.theme_id)
    return messages.theme_entered(theme.words, entered.number or 1, theme.max_entries, theme.ends_at)


async def show_queued(interaction: discord.Interaction, queued: Queued, deferred: bool) -> None:
    services = services_of(interaction)
    text, view = queued.status_text, cancel_view(queued.clip_id)
    if queued.private:
        if deferred:
            await interaction.edit_original_response(content=text, view=view)
        else:
            await interaction.response.send_message(text, view=view, ephemeral=True)
            observe_ack(interaction)
        services.board.watch(Watched(queued.clip_id, queued.model, interaction=interaction, text=text,
                                     position=queued.position, lane=queued.lane, moved=queued.moved))
        return
    if deferred:
        message = await interaction.channel.send(text, view=view)
        await interaction.edit_original_response(content=f"Your clip is queued: {message.jump_url}")
    else:
        callback = await interaction.response.send_message(text, view=view)
        observe_ack(interaction)
        message = callback.resource
        if not isinstance(message, discord.InteractionMessage):
            message = await interaction.original_response()
    thread_id = await _open_thread(interaction, message, queued)
    await records.set_status_message(services.store, queued.clip_id, str(message.id), thread_id)
    services.board.watch(Watched(queued.clip_id, queued.model, message.channel.id, message.id, text=text,
                                 position=queued.position, lane=queued.lane, moved=queued.moved))


async def _open_thread(interaction: discord.Interaction, message: discord.Message, queued: Queued) -> str | None:
    # In DMs and inside threads the clip is posted where the command was typed.
    channel_type = getattr(interaction.channel, "type", None)
    if channel_type not in (discord.ChannelType.text, discord.ChannelType.news):
        return None
    try:
        thread = await message.create_thread(name=messages.thread_name(queued.prompt, queued.clip_id),
                                             auto_archive_duration=THREAD_ARCHIVE_MINUTES)
    except discord.HTTPException as exc:
        if exc.code == THREAD_ALREADY_CREATED:
            # Our own request was saved before Discord failed it, and discord.py tried again.
            # A thread started on a message has the message's id.
            return str(message.id)
        log.warning("could not open a thread; the clip will be posted in the channel",
                    clip_id=queued.clip_id, status=exc.status)
        return None
    return str(thread.id)
