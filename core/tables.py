"""The SQL schema: clips, members, votes and per-server settings (SQLAlchemy 2 declarative)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
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

    video_key: Mapped[str | None] = mapped_column(String(200))
    poster_key: Mapped[str | None] = mapped_column(String(200))
    video_bytes: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[int | None] = mapped_column(Integer)
    num_frames: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    # An edit: the thing its mask covered, or "whole frame" (inference/masks.py). 0009.
    edit_region: Mapped[str | None] = mapped_column(String(200))

    private: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
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
    )


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100))
    defaults: Mapped[dict] = mapped_column(JSON, default=dict)  # flags from /settings
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


class GuildSettings(Base):
    __tablename__ = "guild_settings"

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    banned_terms: Mapped[list] = mapped_column(JSON, default=list)
    gallery_channel_id: Mapped[str | None] = mapped_column(String(32))
    allowed_channel_ids: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
