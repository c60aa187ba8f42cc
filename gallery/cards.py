"""A clip as the gallery shows it: the same fields for the HTML pages and the JSON feed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from pydantic import ValidationError

from core.flags import Flags, Request, format_flags
from core.tables import Clip
from gallery.media import MediaUrls
from core.catalog import MODELS, TINY_LABEL

PROMPT_TITLE_CHARS = 90  # page titles and unfurl titles
# How a clip with a parent was made from it, as its lineage says; any other task is a remix.
MADE_AS = {"extend": "extension", "edit": "edit"}


@dataclass(frozen=True)
class ClipCard:
    id: str
    prompt: str
    flags: str  # canonical flag text, without seed and model (shown on their own)
    seed: int
    model: str
    model_note: str | None  # "random weights — …" for the tiny test models
    author_id: str | None
    author_name: str
    votes: int
    created_at: str  # ISO 8601, UTC
    width: int | None
    height: int | None
    duration: float | None
    sound: bool  # the MP4 has a sound track: the player's volume control matters
    page_url: str
    embed_url: str
    video_url: str | None
    poster_url: str | None
    remix_command: str  # what to paste in Discord to make a variation
    task: str
    made_as: str | None  # with a parent: "remix", "extension" or "edit" of it
    edit_region: str | None  # an edit: what it was allowed to change (a phrase, or "whole frame")

    @property
    def title(self) -> str:
        prompt = self.prompt or "untitled clip"
        return prompt if len(prompt) <= PROMPT_TITLE_CHARS else prompt[: PROMPT_TITLE_CHARS - 1] + "…"

    @property
    def created_date(self) -> str:
        return self.created_at[:10]

    def as_json(self) -> dict:
        return asdict(self)


def _flags(clip: Clip) -> Flags:
    try:
        return Flags.from_dict(clip.flags or {})
    except (ValidationError, TypeError):
        return Flags()  # a row written by an older bot: show the prompt, not an error


def remix_command(clip: Clip, flags: Flags) -> str:
    """`/create prompt: …` with the clip's flags, seed and model: pasted in Discord it makes
    this clip again, and editing the prompt part makes a variation of it. An edit's is
    `/edit clip: <its source> prompt: …`."""
    again = flags.model_copy(update=dict(seed=clip.seed, model=clip.model, private=False))
    text = Request(prompt=clip.prompt, flags=again).to_text()
    if clip.task == "edit":
        return f"/edit clip: {clip.parent_id or clip.id} prompt: {text}"
    return "/create prompt: " + text


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def card(clip: Clip, media: MediaUrls, base: str) -> ClipCard:
    """`base` is the gallery's scheme://host: every URL in a card is absolute, so the
    feed and the unfurl tags can be used off-site."""
    flags = _flags(clip)
    spec = MODELS.get(clip.model)
    return ClipCard(
        id=clip.id,
        prompt=clip.prompt,
        flags=format_flags(flags.model_copy(update=dict(seed=None, model=None, private=False))),
        seed=clip.seed,
        model=clip.model,
        model_note=TINY_LABEL if spec is not None and spec.tiny else None,
        author_id=clip.author_id,
        author_name=clip.author_name or "someone",
        votes=clip.vote_count,
        created_at=_iso(clip.created_at),
        width=clip.width,
        height=clip.height,
        duration=round(clip.duration, 2) if clip.duration else None,
        sound=bool(clip.sound),
        page_url=f"{base}/clips/{quote(clip.id, safe='')}",
        embed_url=f"{base}/clips/{quote(clip.id, safe='')}/embed",
        video_url=media.url(clip.video_key, base),
        poster_url=media.url(clip.poster_key, base),
        remix_command=remix_command(clip, flags),
        task=clip.task,
        made_as=MADE_AS.get(clip.task, "remix") if clip.parent_id else None,
        edit_region=clip.edit_region,
    )
