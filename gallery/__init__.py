"""The web gallery (`reelbot gallery`): public clips sorted top or new, clip pages with
their lineage, member pages, search, a JSON feed, unfurl tags, /healthz and /metrics.

The queries live in `core.listings`, shared with the bot's /gallery command."""
