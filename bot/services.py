"""What the bot process holds for its life: connections, limits, the deployment's model
catalog, and the loops (status board, delivery) and the showcase that the client makes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from arq.connections import ArqRedis

from bot.attachments import MediaLimits
from bot.workers import EtaBook, OnlineWorkers
from core.backoff import Backoff
from core.catalog import ModelSpec
from core.clips import ClipStore
from core.fair import Policy
from core.limits import Limits, MemberLimits
from core.queue import connect
from core.settings import Settings
from core.storage import Storage, storage_from_settings


@dataclass
class Services:
    settings: Settings
    redis: ArqRedis
    store: ClipStore
    storage: Storage
    limits: MemberLimits
    media: MediaLimits
    workers: OnlineWorkers
    # The deployment's models by name: what members may ask for, whether or not a worker is online.
    catalog: dict[str, ModelSpec] = field(default_factory=dict)
    eta: EtaBook = field(default_factory=EtaBook)
    policy: Policy = field(default_factory=Policy)  # the fair order's lane and priority offsets
    board: object = None  # bot.status.StatusBoard, made by the client
    delivery: object = None  # bot.delivery.Delivery, made by the client
    showcase: object = None  # bot.showcase.Showcase, made by the client
    # clip id -> set once its status message and thread are recorded (delivery waits for it)
    setups: dict[str, asyncio.Event] = field(default_factory=dict)
    draining: bool = False
    # Redis reachable? The loops wait an outage out through it, /readyz reports it.
    redis_health: Backoff = field(default_factory=lambda: Backoff("redis"))

    @classmethod
    async def open(cls, settings: Settings) -> "Services":
        from bot import records

        catalog = settings.deployment()  # a model no catalog knows stops the bot here, in one line
        redis = await connect(settings.redis_url)
        store = ClipStore.from_url(settings.database_url)
        services = cls(settings=settings, redis=redis, store=store, storage=storage_from_settings(settings),
                       limits=MemberLimits(store.session, Limits.from_settings(settings)),
                       media=MediaLimits.from_settings(settings), workers=OnlineWorkers(redis), catalog=catalog,
                       policy=Policy.from_settings(settings))
        services.eta.seed(await records.recent_job_seconds(store))
        return services

    async def close(self) -> None:
        await self.redis.close(close_connection_pool=True)
        await self.store.close()
