"""The bot's Prometheus metrics (the /metrics endpoint that serves them is deploy's, issue 6)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter(
    "reelbot_bot_commands_total", "Commands, buttons and modals handled, by name and outcome",
    ["command", "outcome"],  # outcome: queued, refused, ok, error, draining
)
ACK_SECONDS = Histogram(
    "reelbot_bot_ack_seconds", "Time from receiving an interaction to its first response",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)
DELIVERY_SECONDS = Histogram(
    "reelbot_bot_delivery_seconds", "Time from a job's outcome to its post in Discord",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
OUTCOMES_PENDING = Gauge(
    "reelbot_bot_outcomes_pending", "Outcomes read from the stream but not yet posted and acked",
)
