"""Configuration: every knob is a `REELBOT_` environment variable (or a line in `.env`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from core import sentinel


class SettingsError(SystemExit):
    """A bad setting: carries one line that names the variable, never a traceback."""

    def __init__(self, line: str):
        super().__init__(line)
        self.line = line


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELBOT_", env_file=".env", extra="ignore")

    # Discord
    discord_token: SecretStr | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    # Sharding (bot/client.py): unset, one process runs every shard Discord recommends. Several
    # processes: the same shard_count everywhere and each its own shard_ids (and bot_consumer).
    discord_shard_count: int | None = Field(None, ge=1)
    discord_shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    # Shared state. redis_url unset means "reelbot up" starts its own redis-server.
    redis_url: str | None = None
    database_url: str = "sqlite:///reelbot.db"
    storage_url: str = "file://./media"
    s3_endpoint_url: str | None = None
    public_base_url: str | None = None
    presign_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)

    # Models
    model: str = "ltx-video"
    # What a worker serves (default: REELBOT_MODEL).
    models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The deployment's models, for the bot, gallery, CLI and exporter: what members may ask for
    # whether or not a worker is online (workers may be starting or scaled to zero).
    # Default: REELBOT_MODELS, with REELBOT_MODEL always included.
    catalog: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where weights come from, per model: a local folder or a hub id, "owner/name@revision" to pin
    # a commit (default: the catalog's pinned hub id). Fetched by `reelbot fetch-models` or the worker.
    model_sources: dict[str, str] = Field(default_factory=dict)
    # Denoising steps per model, overriding the registry's default (fewer: faster, rougher).
    model_steps: dict[str, int] = Field(default_factory=dict)
    models_dir: Path = Path.home() / ".cache" / "reelbot" / "models"
    # Encoded clips waiting for storage (worker/spool.py), under models_dir: at most this many bytes.
    spool_max_bytes: int = Field(2 * 1024**3, ge=0)
    device: str = "auto"
    # A worker without a GPU refuses full-size models (tens of GB, hours per clip) unless this is set.
    allow_cpu: bool = False
    # Speed knobs per model ("*": every model) over defaults for the card's memory, e.g.
    # {"ltx-video": {"dtype": "bf16", "compile": true, "cache": "first-block"}}; see inference/knobs.py.
    knobs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Where a model's effect and camera LoRAs (the catalog's adapters) come from, over the catalog's
    # hub sources: adapter name → folder, .safetensors file or "owner/name@commit", e.g.
    # {"wan-i2v-14b": {"squish": "/loras/squish_18.safetensors"}}; see inference/adapters.py.
    adapter_sources: dict[str, dict[str, str]] = Field(default_factory=dict)
    # A text-promptable segmentation model (CLIPSeg: a hub id such as CIDAS/clipseg-rd64-refined,
    # a folder, or clipseg-tiny) that masks what an edit's instruction names; unset, masked
    # edits (VACE) change the whole frame. See inference/masks.py.
    segmenter: str | None = None
    # Prompt adherence (worker/quality.py): a transformers CLIP-style model (hub id, folder, or
    # clip-tiny: random weights built locally) that scores sampled frames of every clip against
    # its prompt, on the worker's device. Unset: that signal is not measured.
    adherence_model: str | None = None
    # A candidate model on trial, "MODEL:PERCENT": that share of members (sticky, by a hash of
    # their id) get it for clips that name no -model (core/quality.py canary_model).
    canary: str | None = None
    # The voice of `/lipsync text:`: a transformers text-to-speech checkpoint (hub id or folder).
    # Unset: facebook/mms-tts-eng, or the tiny random-weight voice for tiny models.
    tts_model: str | None = None

    # Worker
    job_timeout: int = Field(3600, ge=10, description="seconds a single render may take")
    heartbeat_seconds: float = Field(3.0, gt=0, le=60)
    # A dead worker's job is picked up again within lease_seconds (core.queue.renew_lease, RenderWorker).
    lease_seconds: float = Field(15.0, gt=1, le=300)
    max_tries: int = Field(3, ge=1, le=20)
    # arq polls the queue; this is the pick-up latency an idle worker adds to every job.
    poll_seconds: float = Field(0.05, gt=0, le=5)
    stop_grace_seconds: int = Field(900, ge=0, description="on SIGTERM, wait this long for the job in hand")
    # Throughput (worker/admission.py): lease the next job while the GPU finishes this one, when
    # its remaining denoising is due within pipeline_ahead_seconds (or it is past its last step).
    # Unset: on with a GPU; off on a CPU, where the model already keeps every core busy.
    pipelining: bool | None = None
    pipeline_ahead_seconds: float = Field(1.0, ge=0, le=60)
    # H.264 encoder (inference/encode.py): auto = NVENC when a probe at start finds it working.
    encoder: str = Field("auto", pattern="^(auto|libx264|h264_nvenc)$")
    # With compile on, these aspect ratios are compiled at start at each model's default length
    # (worker/runtime.py), and torch's compile cache is kept under models_dir across restarts.
    warm_up: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["16:9", "9:16", "1:1"])

    # Limits
    attachment_size_limit: int = Field(10 * 1024 * 1024, ge=1024)
    max_prompt_chars: int = Field(1500, ge=1, le=6000)
    jobs_in_flight: int = Field(2, ge=1)
    jobs_per_day: int = Field(50, ge=1)
    cooldown_seconds: float = Field(5.0, ge=0)
    # Fast GPU time a member may use a day in a server, in minutes (unset: no cap); a role's
    # tier (/admin tier) may give more. Spent, their clips go to the relax lane (core/limits.py).
    fast_minutes_per_day: int | None = Field(None, ge=0)
    # The fair queue (core/fair.py): a relax clip lets fast clips arriving after it go first
    # for this many clips' worth of work, then runs; a priority:high tier's clip starts this
    # many clips' worth ahead of its fair place.
    relax_behind_clips: float = Field(8.0, ge=0, le=1000)
    priority_head_start_clips: float = Field(2.0, ge=0, le=100)
    banned_terms: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Attachments, checked by decoding them (bot/attachments.py); PRODUCT.md's limits.
    image_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    image_max_side: int = Field(4096, ge=64)
    video_max_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    video_max_seconds: float = Field(10.0, gt=0)
    audio_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    audio_max_seconds: float = Field(10.0, gt=0, le=10)  # a lip-synced clip is as long as its track

    # Image safety (core/safety.py, worker/safety.py): a transformers image-classification
    # model that the worker runs on attachments before a render and on frames sampled across
    # every finished clip. Off: nothing is checked (and /help says so).
    safety_check: bool = True
    # A hub id or a local folder; unset: a test classifier on a worker serving only tiny test
    # models, else core.safety.DEFAULT_CLASSIFIER (core.safety.classifier).
    safety_model: str | None = None
    # An image is flagged when the scores of its unsafe labels add up to this or more.
    safety_threshold: float = Field(0.5, ge=0, le=1)
    safety_labels: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["nsfw"], min_length=1)
    safety_frames: int = Field(8, ge=1, le=64)  # sampled across a clip or an attached video

    # Bot (bot/). The consumer name must stay the same across restarts of one bot process,
    # so it re-reads the outcomes it had not finished posting; give each shard process its own.
    bot_consumer: str = Field("bot", pattern=r"^[\w.:-]{1,64}$")
    # Status messages are edited with progress no more often than this.
    progress_edit_seconds: float = Field(3.0, ge=0.5, le=60)
    # On SIGTERM the bot stops taking commands and finishes the posts in hand for up to this long.
    bot_drain_seconds: float = Field(30.0, ge=0, le=600)

    # Galleries (issue 5). gallery_url is the web gallery's public address: link unfurls
    # (og:video) need absolute URLs and the bot links to it; unset, pages use the request's host.
    gallery_host: str = "127.0.0.1"
    gallery_port: int = Field(8080, ge=1, le=65535)
    gallery_url: str | None = None
    # `reelbot up` with no Discord token (and `reelbot sandbox`): the local Discord's page, on loopback.
    sandbox_port: int = Field(8765, ge=1, le=65535)
    # Upvotes that post a clip to the showcase channel (core/showcase.py).
    showcase_votes: int = Field(5, ge=1)

    # The reconciler in `reelbot exporter` (core/reconcile.py): every reconcile_seconds (0: never)
    # it finds unfinished clips with no arq job, and queues again those younger than
    # requeue_within_seconds; older ones are reported failed to the member.
    reconcile_seconds: float = Field(30.0, ge=0)
    requeue_within_seconds: float = Field(3600.0, ge=0)

    # Metrics and health: /metrics, /livez, /readyz (worker, `reelbot exporter`). Unset: the
    # worker serves none (several local workers would fight over one port); deploy/ sets both.
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    # Logs
    log_level: str = "INFO"
    log_format: str = Field("auto", pattern="^(auto|json|console)$")

    @field_validator("models", "catalog", "banned_terms", "discord_shard_ids", "warm_up", "safety_labels",
                     mode="before")
    @classmethod
    def _comma_list(cls, value):
        # Accept "a,b" as well as a JSON list: operators type both.
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]

    @field_validator("warm_up")
    @classmethod
    def _aspects(cls, value: list[str]) -> list[str]:
        for aspect in value:
            width, _, height = aspect.partition(":")
            if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
                raise ValueError(f"{aspect!r} is not an aspect ratio W:H (e.g. 16:9)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if sentinel.parse(value) is None and value.partition("://")[0] not in ("redis", "rediss", "unix"):
            raise ValueError("use redis://, rediss://, unix:// or redis+sentinel://host:port[,host:port]/service[/db]")
        return value

    @field_validator("canary")
    @classmethod
    def _canary_share(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        model, _, percent = value.partition(":")
        try:
            share = float(percent.strip().rstrip("%"))
        except ValueError:
            share = -1.0
        if not model.strip() or not 0 < share <= 100:
            raise ValueError("must be MODEL:PERCENT, a model and a share above 0 and at most 100, e.g. ltx-2:10")
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_scheme(cls, value: str) -> str:
        if not value.startswith(("file://", "s3://")):
            raise ValueError("must start with file:// or s3://")
        return value

    @property
    def served_models(self) -> list[str]:
        return self.models or [self.model]

    @property
    def catalog_models(self) -> list[str]:
        names = self.catalog or self.served_models
        names = names if self.model in names else [self.model, *names]
        trial = self.canary_split
        return names if trial is None or trial[0] in names else [*names, trial[0]]

    @property
    def canary_split(self) -> tuple[str, float] | None:
        """REELBOT_CANARY as (model, percent), or None when no canary runs."""
        if not self.canary:
            return None
        model, _, percent = self.canary.partition(":")
        return model.strip(), float(percent.strip().rstrip("%"))

    def deployment(self):
        """The catalog's specs of this deployment's models; a name no catalog knows is a bad setting."""
        from core.catalog import UnknownModel, deployment

        trial = self.canary_split
        try:
            if trial is not None:
                deployment([trial[0]])
            return deployment(self.catalog_models)
        except UnknownModel as exc:
            variable = "REELBOT_CATALOG" if self.catalog else "REELBOT_MODELS or REELBOT_MODEL"
            variable = "REELBOT_CANARY" if trial is not None and trial[0] in str(exc) else variable
            raise SettingsError(f"bad setting {variable}: {exc}") from None


def load_settings(**overrides) -> Settings:
    """Settings from the environment; a bad value exits with one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "REELBOT_" + "_".join(str(p) for p in first["loc"] if isinstance(p, str)).upper()
        raise SettingsError(f"bad setting {name}: {first['msg']}") from None
    except _SourceError as exc:
        raise SettingsError(f"bad setting: {exc}") from None
