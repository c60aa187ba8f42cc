"""The SQL schema: clips, members, votes, members' reactions, per-server settings, per-server
bans, reports, role tiers, the moderation audit log and themes with their entries (SQLAlchemy 2
declarative)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Clip(Base):
    __tablename__ = "clips"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("clips.id", ondelete="SET NULL"), index=True)
    author_id: Mapped[str | None] = mapped_column(String(32), index=True)
    author_name: Mapped[str | None] = mapped_column(String(100))
    # Where the clip lives in Discord; kept here (not in memory) so delivery resumes after a restart.
    guild_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    thread_id: Mapped[str | None] = mapped_column(String(32))
    status_message_id: Mapped[str | None] = mapped_column(String(32))
    result_message_id: Mapped[str | None] = mapped_column(String(32))

    task: Mapped[str] = mapped_column(String(20))
    prompt: Mapped[str] = mapped_column(Text)
    flags: Mapped[dict] = mapped_column(JSON, default=dict)
    seed: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(64))

    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(100))
    timings: Mapped[dict | None] = mapped_column(JSON)
    gpu_seconds: Mapped[float | None] = mapped_column(Float)  # timings' "gpu", a column so usage sums it in SQL
    # How it was made and measured (core.contract.Quality; worker/quality.py), and the parts
    # `reelbot quality` groups and counts by as columns of their own. 0009.
    quality: Mapped[dict | None] = mapped_column(JSON)
    revision: Mapped[str | None] = mapped_column(String(100))  # the weights the worker loaded
    knobs: Mapped[str | None] = mapped_column(String(200))  # the speed knobs that were on, as "k=v,k=v"
    broken: Mapped[str | None] = mapped_column(String(20))  # its first render was black, frozen, non-finite
    canary: Mapped[str | None] = mapped_column(String(12))  # REELBOT_CANARY's arm: candidate | control
    # When the member asked (the interaction's time) and when the clip was posted: what they waited.
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The lane it was queued in, "fast" or "relax" (after a spent fast budget moved it), 0010:
    # fast clips' GPU seconds are what fast budgets and `reelbot usage` count.
    lane: Mapped[str | None] = mapped_column(String(8))

    video_key: Mapped[str | None] = mapped_column(String(200))
    poster_key: Mapped[str | None] = mapped_column(String(200))
    video_bytes: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[int | None] = mapped_column(Integer)
    num_frames: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    # An edit: the thing its mask covered, or "whole frame" (inference/masks.py). 0006.
    edit_region: Mapped[str | None] = mapped_column(String(200))
    # The MP4 has a sound track (the gallery marks it; migration 0007). Set from the outcome.
    sound: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    private: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The image-safety check flagged the clip (worker/safety.py): posted only in an
    # age-restricted channel, and never public (galleries, showcase). 0005.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    # The showcase channel post (core/showcase.py): claimed once when votes reach the threshold.
    showcased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    showcase_message_id: Mapped[str | None] = mapped_column(String(32))
    # The job's inputs ({"image": "inputs/<id>/image.png"}) for Retry/Remix, and the upload limit of
    # the place it is posted to (the MP4 is attached when it fits, linked otherwise). Bot, 0003.
    input_keys: Mapped[dict | None] = mapped_column(JSON)
    max_bytes: Mapped[int | None] = mapped_column(BigInteger)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The gallery's two orders, ending in id as core/listings does: a page walks the
        # index and stops after one page, also from a (…, id) cursor (migration 0004).
        Index("ix_clips_gallery_new", "private", "deleted", "status", "created_at", "id"),
        Index("ix_clips_gallery_top", "private", "deleted", "status", "vote_count", "created_at", "id"),
        # A member's gallery page and a clip's remixes; led by the selective column so that
        # SQLite, which has no statistics, prefers them to the gallery indexes above.
        Index("ix_clips_gallery_member", "author_id", "private", "deleted", "status", "created_at", "id"),
        Index("ix_clips_gallery_remixes", "parent_id", "private", "deleted", "status", "created_at", "id"),
        Index("ix_clips_author_created", "author_id", "created_at"),
        Index("ix_clips_model_created", "model", "created_at"),  # `reelbot quality`, model medians
        # A server's fast time today and `reelbot usage --guild` (0010).
        Index("ix_clips_guild_created", "guild_id", "created_at"),
    )


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100))
    defaults: Mapped[dict] = mapped_column(JSON, default=dict)  # flags from /settings
    # The operator-wide ban (`reelbot ban`): no clips in any server, hidden from the web
    # gallery. A server's own ban is a GuildBan row.
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    ban_reason: Mapped[str | None] = mapped_column(Text)
    usage_day: Mapped[date | None] = mapped_column(Date)
    jobs_today: Mapped[int] = mapped_column(Integer, default=0)
    last_job_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clips_made: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Vote(Base):
    __tablename__ = "votes"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Reaction(Base):
    """A member's reaction to a clip, a quality signal (core/quality.py): retry, redo (a new
    clip with nearly the same prompt soon after), delete (by its author), report, upvote,
    remix, extend, edit. One row per clip, kind and member; an upvote taken back is removed."""

    __tablename__ = "reactions"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    made_clip_id: Mapped[str | None] = mapped_column(String(32))  # the retry, redo, remix … it made
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GuildSettings(Base):
    __tablename__ = "guild_settings"

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    banned_terms: Mapped[list] = mapped_column(JSON, default=list)
    gallery_channel_id: Mapped[str | None] = mapped_column(String(32))
    allowed_channel_ids: Mapped[list] = mapped_column(JSON, default=list)
    mod_channel_id: Mapped[str | None] = mapped_column(String(32))  # where reports go (/admin mod-channel), 0005
    # The operator's plan for the server (`reelbot server-plan`, 0010): its weight in the fair
    # queue, and the fast GPU hours its members may use a day together (None: no cap).
    weight: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    fast_gpu_hours_per_day: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Tier(Base):
    """What a role gives its members in one server (`/admin tier`, core/limits.py): a member
    gets the best of their roles' tiers; a limit a tier leaves unset (None) is the server's
    default. The server's own id is its @everyone role, so a tier on it changes the defaults."""

    __tablename__ = "tiers"

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role_name: Mapped[str | None] = mapped_column(String(100))
    in_flight: Mapped[int | None] = mapped_column(Integer)
    per_day: Mapped[int | None] = mapped_column(Integer)
    fast_minutes: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(8), default="normal")  # normal | high
    set_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class GuildBan(Base):
    """A server manager's `/admin ban`: no clips in that server only (core/bans.py)."""

    __tablename__ = "guild_bans"

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    banned_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Report(Base):
    """Members' reports of one clip (core/reports.py): one row and one moderator message per
    clip, however many members report it; `count` is the number of distinct reporters."""

    __tablename__ = "reports"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), primary_key=True)
    guild_id: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(12), default="open")  # open | deleted | dismissed
    count: Mapped[int] = mapped_column(Integer, default=0)
    # The moderators' message: claimed (posting_since) before it is sent, so two reports at
    # once post it once; its id recorded after.
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[str | None] = mapped_column(String(32))
    posting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Reporter(Base):
    __tablename__ = "reporters"

    clip_id: Mapped[str] = mapped_column(ForeignKey("reports.clip_id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """One moderation decision (core/audit.py). `actor` is who decided: a member's id, or
    "operator" (the command line), or "safety-check" (the worker's classifier)."""

    __tablename__ = "audit_log"

    # BIGINT on PostgreSQL; SQLite's autoincrementing key must be INTEGER.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    guild_id: Mapped[str | None] = mapped_column(String(32))  # None: operator-wide or a DM
    action: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[str | None] = mapped_column(String(32))  # whom it is about
    actor: Mapped[str | None] = mapped_column(String(32))
    clip_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str | None] = mapped_column(Text)  # the member's own words, when a prompt is concerned
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_audit_guild_created", "guild_id", "created_at"),
        Index("ix_audit_member_created", "member_id", "created_at"),
        Index("ix_audit_created", "created_at"),
    )


class Theme(Base):
    """A server's theme (core/themes.py): members enter clips with -theme until `ends_at`; then it
    is closed (its entries' votes frozen) and its result posted once."""

    __tablename__ = "themes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    guild_id: Mapped[str] = mapped_column(String(32))
    words: Mapped[str] = mapped_column(Text)
    channel_id: Mapped[str | None] = mapped_column(String(32))  # entries only here (and its threads); None: anywhere
    announce_channel_id: Mapped[str | None] = mapped_column(String(32))  # announced here; the result's fallback
    max_entries: Mapped[int] = mapped_column(Integer)  # per member
    winners: Mapped[int] = mapped_column(Integer)  # entries the result names
    started_by: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # an early end moves it to that moment
    # The server's id while the theme runs, NULL once closed: the unique index makes "one theme
    # at a time per server" hold however many managers start one at once.
    running_in: Mapped[str | None] = mapped_column(String(32), unique=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(32))  # who ended it early; None: its time ran out
    # The result post: recorded once posted (or given up on, with no message id).
    result_channel_id: Mapped[str | None] = mapped_column(String(32))
    result_message_id: Mapped[str | None] = mapped_column(String(32))
    result_posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_themes_guild_started", "guild_id", "started_at"),
        Index("ix_themes_started", "started_at"),
        Index("ix_themes_unfinished", "result_posted_at", "ends_at"),  # what the closer looks for
    )


class ThemeEntry(Base):
    """A clip entered in a theme with -theme. Deleting the clip withdraws it (every count and
    ranking reads only clips that are not deleted)."""

    __tablename__ = "theme_entries"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), primary_key=True)
    theme_id: Mapped[str] = mapped_column(ForeignKey("themes.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(String(32))  # the clip's author
    final_votes: Mapped[int | None] = mapped_column(Integer)  # frozen when the theme closes
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_theme_entries_theme_member", "theme_id", "member_id"),)
