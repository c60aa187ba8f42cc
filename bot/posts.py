"""The clip post: an embed with the prompt, flags, seed, model, render time and author, the
MP4 attached (or a link when it is too big for the place it goes), and the buttons.

Every post carries `clip <id>` in its footer: delivery looks for it in a channel's recent
messages to recognise a post it already made before a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot import messages
from bot.buttons import view_of
from bot.commands.delete import DeleteButton
from bot.commands.edit import EditButton
from bot.commands.extend import ExtendButton
from bot.commands.remix import RemixButton
from bot.commands.retry import RetryButton
from bot.commands.upvote import UpvoteButton
from core.catalog import MODELS, AdapterKind
from core.flags import Flags, format_flags
from core.quality import CANDIDATE

FOOTER_PREFIX = "clip "
COLOR_DONE = discord.Color.blurple()
COLOR_FAILED = discord.Color.red()
COLOR_CANCELLED = discord.Color.light_grey()


# A clip the canary gave to the candidate model (REELBOT_CANARY) says so beside the model's name.
CANARY_NOTE = "canary: a model on trial here"
FLAGGED_NOTE = ("🔞 Flagged by the image-safety check: shown in this age-restricted channel only, "
                "and kept out of the galleries")


@dataclass
class Post:
    content: str | None
    embed: discord.Embed
    view: discord.ui.View | None
    video: bytes | None = None
    filename: str | None = None
    spoiler: bool = False  # a flagged clip's MP4 is behind Discord's spoiler cover

    def file(self) -> discord.File | None:
        if self.video is None:
            return None
        import io

        return discord.File(io.BytesIO(self.video), filename=self.filename, spoiler=self.spoiler)


def footer(clip_id: str) -> str:
    return f"{FOOTER_PREFIX}{clip_id}"


def is_post_of(message, clip_id: str) -> bool:
    """Whether a message (discord.Message) is a clip post for this clip."""
    return clip_ids_of(message).count(clip_id) > 0


def clip_ids_of(message) -> list[str]:
    """The clip ids in a message's embed footers (`clip <id>`), first embed first."""
    found = []
    for embed in getattr(message, "embeds", []):
        first = (embed.footer and embed.footer.text or "").split(" · ")[0]
        if first.startswith(FOOTER_PREFIX):
            found.append(first.removeprefix(FOOTER_PREFIX))
    return found


def flags_text(clip) -> str:
    try:
        return format_flags(Flags.from_dict(clip.flags or {}))
    except ValueError:
        return ""


def job_seconds(clip) -> float | None:
    timings = clip.timings or {}
    if not timings.get("total"):
        return None
    return max(0.0, timings["total"] - timings.get("queue_wait", 0.0))


def clip_embed(clip, *, video_url: str | None = None, attached: bool = True,
               asked_seconds: float | None = None) -> discord.Embed:
    """`asked_seconds`: the done post of a clip shorter than its -len (Outcome.asked_seconds)."""
    prompt = discord.utils.escape_markdown(clip.prompt) if clip.prompt else "*(no prompt)*"
    flags = flags_text(clip)
    description = f"**{prompt}**" + (f"\n{messages.code(flags)}" if flags else "")
    embed = discord.Embed(description=messages.truncate(description, 4000), color=COLOR_DONE)
    embed.add_field(name="Seed", value=f"`{clip.seed}`", inline=True)
    canary = f" · {CANARY_NOTE}" if getattr(clip, "canary", None) == CANDIDATE else ""
    embed.add_field(name="Model", value=messages.model_label(clip.model) + canary, inline=True)
    embed.add_field(name="Render time", value=messages.seconds_text(job_seconds(clip)), inline=True)
    if clip.duration and clip.width and clip.height:
        sound = " · 🔊 sound" if clip.sound else ""
        embed.add_field(name="Clip", inline=True,
                        value=f"{clip.duration:.1f} s · {clip.width}×{clip.height} · {clip.fps} fps{sound}")
    shortened = messages.shortened_note(asked_seconds, clip.duration, clip.model)
    if shortened:
        embed.add_field(name="Length", value=shortened, inline=False)
    if clip.author_id:
        embed.add_field(name="Author", value=f"<@{clip.author_id}>", inline=True)
    if clip.parent_id:
        relation = {"extend": "Extends", "edit": "Edit of"}.get(clip.task, "From")
        embed.add_field(name=relation, value=f"clip `{clip.parent_id}`", inline=True)
    if clip.edit_region:
        embed.add_field(name="Edited", value=messages.edit_region_text(clip.edit_region), inline=False)
    for name, value in made_with(clip):
        embed.add_field(name=name, value=value, inline=False)
    if video_url:
        embed.add_field(name="Video", value=f"[watch or download it]({video_url}) (too big to attach here)",
                        inline=False)
    elif not attached and clip.video_key:
        size = f" ({clip.video_bytes / 2**20:.1f} MB)" if clip.video_bytes else ""
        embed.add_field(name="Video", value=f"Too big to attach here{size}, and this Reelbot has no web address "
                                            "to link it from: `/show` it where bigger uploads are allowed.",
                        inline=False)
    if clip.flagged:
        embed.add_field(name="Safety", value=FLAGGED_NOTE, inline=False)
    note = (" · private" if clip.private else "") + (" · flagged" if clip.flagged else "")
    embed.set_footer(text=footer(clip.id) + note)
    return embed


def made_with(clip) -> list[tuple[str, str]]:
    """(field, text) for the clip's effect and camera move: the effect's LoRA and trigger words,
    and whether the move went through a camera LoRA or the prompt's words (from the catalog, the
    data the worker renders from). Also what "Clip details" shows."""
    try:
        flags = Flags.from_dict(clip.flags or {})
    except ValueError:
        return []
    spec, lines = MODELS.get(clip.model), []
    effect = spec.adapter(AdapterKind.EFFECT, flags.effect) if spec and flags.effect else None
    if flags.effect:
        lines.append(("Effect", messages.effect_text(flags.effect, effect.trigger, effect.strength) if effect
                      else flags.effect))
    if flags.camera:
        lora = spec is not None and spec.adapter(AdapterKind.CAMERA, flags.camera, clip.task) is not None
        lines.append(("Camera", messages.camera_text(flags.camera, lora)))
    return lines


def _mention(clip, mention: bool) -> str | None:
    return f"<@{clip.author_id}>" if mention and clip.author_id else None


def clip_view(clip_id: str, votes: int = 0) -> discord.ui.View:
    """The buttons of a finished clip (PRODUCT.md, "Buttons on a finished clip")."""
    return view_of(RetryButton(clip_id), RemixButton(clip_id), ExtendButton(clip_id), EditButton(clip_id),
                   UpvoteButton(clip_id, votes), DeleteButton(clip_id))


def result_post(clip, *, video: bytes | None, video_url: str | None, mention: bool,
                asked_seconds: float | None = None) -> Post:
    embed = clip_embed(clip, video_url=None if video is not None else video_url, attached=video is not None,
                       asked_seconds=asked_seconds)
    return Post(_mention(clip, mention), embed, clip_view(clip.id, clip.vote_count or 0),
                video=video, filename=f"{clip.id}.mp4" if video is not None else None, spoiler=bool(clip.flagged))


def failed_post(clip, reason: str | None, *, mention: bool) -> Post:
    text = reason or "The render failed. Please try again."
    embed = discord.Embed(title="This clip couldn't be made",
                          description=f"{text}\n\n{_prompt_line(clip)}", color=COLOR_FAILED)
    embed.set_footer(text=footer(clip.id))
    return Post(_mention(clip, mention), embed, view_of(RetryButton(clip.id)))  # a failed clip can only be retried


def withheld_post(clip, reason: str | None) -> Post:
    """The private notice of a clip the image-safety check kept from an ordinary channel."""
    text = reason or "The image-safety check flagged this clip, so it was not posted."
    embed = discord.Embed(title="Your clip wasn't posted", description=f"{text}\n\n{_prompt_line(clip)}",
                          color=COLOR_FAILED)
    embed.set_footer(text=footer(clip.id))
    return Post(None, embed, None)


def cancelled_post(clip) -> Post:
    embed = discord.Embed(title="Cancelled", description=_prompt_line(clip), color=COLOR_CANCELLED)
    embed.set_footer(text=footer(clip.id))
    return Post(None, embed, None)


def _prompt_line(clip) -> str:
    prompt = discord.utils.escape_markdown(clip.prompt) if clip.prompt else "(no prompt)"
    return messages.truncate(f"Prompt: {prompt}", 3000)
