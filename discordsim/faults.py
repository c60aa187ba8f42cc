"""Fault injection on REST routes: 5xx (before or after the write), slow answers, 429s.

A rule matches a request by method (or "*") and a regex searched in the path under the API
base (e.g. r"^/channels/\\d+/messages$"); it fires `times` times, then retires.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(eq=False)
class Fault:
    kind: str  # "fail" | "slow" | "rate_limit"
    method: str
    pattern: re.Pattern[str]
    times: int
    status: int = 500
    after_write: bool = True
    seconds: float = 0.0
    retry_after: float = 0.5
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method == method) and self.pattern.search(path) is not None


@dataclasses.dataclass
class FaultHit:
    """One time a fault fired: what the bot asked for and what it got instead."""

    kind: str
    method: str
    path: str
    status: int | None
    after_write: bool


class Faults:
    def __init__(self) -> None:
        self.rules: list[Fault] = []
        self.log: list[FaultHit] = []

    def add(self, kind: str, method: str, path_regex: str, times: int, **options: object) -> Fault:
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = Fault(kind, method.upper(), re.compile(path_regex), times, **options)  # type: ignore[arg-type]
        self.rules.append(fault)
        return fault

    def take(self, kind: str, method: str, path: str) -> Fault | None:
        """The first live rule of this kind matching the request, counted as fired."""
        for fault in self.rules:
            if fault.kind == kind and fault.matches(method, path):
                fault.fired += 1
                if fault.fired >= fault.times:
                    self.rules.remove(fault)
                status = fault.status if kind == "fail" else (429 if kind == "rate_limit" else None)
                self.log.append(FaultHit(kind, method, path, status, fault.after_write))
                return fault
        return None

    def clear(self) -> None:
        self.rules.clear()
