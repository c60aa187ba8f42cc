"""Which workers are online right now, from their presence in Redis (worker/presence.py).

Only for `/queue`, ETAs and the "waiting for a worker" status line: what members may ask
for is the deployment's catalog (services.catalog), so a job for a model whose workers are
starting or scaled to zero is queued all the same. Read at most once a second, since every
command asks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.queue import workers_online


@dataclass(frozen=True)
class Online:
    workers: dict[str, int] = field(default_factory=dict)  # model -> workers serving it


def summarise(entries: list[dict]) -> Online:
    workers: dict[str, int] = {}
    for entry in entries:
        models = entry.get("models")
        if not isinstance(models, dict):
            continue  # a malformed announcement must not break every command
        for model in models:
            workers[str(model)] = workers.get(str(model), 0) + 1
    return Online(workers)


class OnlineWorkers:
    def __init__(self, redis, max_age_s: float = 1.0):
        self.redis = redis
        self.max_age_s = max_age_s
        self._cached: Online | None = None
        self._at = 0.0

    async def get(self) -> Online:
        now = time.monotonic()
        if self._cached is None or now - self._at > self.max_age_s:
            self._cached = summarise(await workers_online(self.redis))
            self._at = now
        return self._cached


class EtaBook:
    """Seconds a worker spends per clip, per model: a moving average of recent clips."""

    DEFAULT_S = 30.0
    WEIGHT = 0.2

    def __init__(self):
        self.per_model: dict[str, float] = {}

    def seed(self, samples: dict[str, list[float]]) -> None:
        for model, values in samples.items():
            if values:
                self.per_model[model] = sorted(values)[len(values) // 2]

    def record(self, model: str, seconds: float) -> None:
        if seconds <= 0:
            return
        old = self.per_model.get(model)
        self.per_model[model] = seconds if old is None else old + self.WEIGHT * (seconds - old)

    def per_clip(self, model: str) -> float:
        return self.per_model.get(model, self.DEFAULT_S)

    def eta(self, model: str, position: int | None, workers: int) -> float:
        """Seconds until a clip at `position` (1 = next) is done."""
        ahead = max(1, position or 1)
        return self.per_clip(model) * ahead / max(1, workers)

    def eta_range(self, model: str, position: int | None, more: int, workers: int) -> tuple[float, float]:
        """(low, high): the work ahead now at the current rate, and that plus the `more` clips
        other active servers may still put ahead under the fair order."""
        return self.eta(model, position, workers), self.eta(model, (position or 1) + max(0, more), workers)

    def cost(self, model: str, flags) -> float:
        """A clip's estimated GPU seconds, its weight in the fair order: the model's seconds per
        clip, scaled by the length asked against the model's own."""
        from core.catalog import MODELS

        spec = MODELS.get(model)
        scale = 1.0
        if spec is not None and flags.length:
            scale = min(4.0, max(0.25, flags.length / spec.default_seconds))
        return self.per_clip(model) * scale
