"""What the workers serve right now, from their presence in Redis (worker/presence.py).

The bot never imports the model registry: a model's tasks are what the workers that
serve it announce. Read at most once a second, since every command asks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.queue import workers_online


@dataclass(frozen=True)
class Online:
    tasks: dict[str, frozenset[str]] = field(default_factory=dict)  # model -> tasks
    workers: dict[str, int] = field(default_factory=dict)  # model -> workers serving it

    @property
    def models(self) -> list[str]:
        return sorted(self.tasks)

    def capable(self, task: str) -> list[str]:
        return [model for model in self.models if task in self.tasks[model]]


def summarise(entries: list[dict]) -> Online:
    tasks: dict[str, set[str]] = {}
    workers: dict[str, int] = {}
    for entry in entries:
        models = entry.get("models")
        if not isinstance(models, dict):
            continue  # a malformed announcement must not break every command
        for model, model_tasks in models.items():
            tasks.setdefault(str(model), set()).update(str(t) for t in (model_tasks or []))
            workers[str(model)] = workers.get(str(model), 0) + 1
    return Online({m: frozenset(t) for m, t in tasks.items()}, workers)


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

    def eta(self, model: str, position: int | None, workers: int) -> float:
        """Seconds until a clip at `position` (1 = next) is done."""
        per_clip = self.per_model.get(model, self.DEFAULT_S)
        ahead = max(1, position or 1)
        return per_clip * ahead / max(1, workers)
