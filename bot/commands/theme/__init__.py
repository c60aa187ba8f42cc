"""Themes in Discord: `/theme` for members, `/admin theme start|end` for server managers (the
Admin cog hands those to this one with `bot.get_cog("Theme")`), and the closer.

The closer runs in every bot process; one of them leads (core/leader.py: a redis-py Lock,
so shard processes never close or post twice). The leader sleeps until the next theme's end
(or a few seconds, to see themes other processes started), closes what is due
(core/themes.close freezes the votes as they stood at the end, whenever it runs), then
posts each closed theme's result once: in the server's showcase channel (`/admin
gallery-channel`), else where the theme was announced. "Once" survives a crash at any
point: the post carries `theme <id>` in its footer and a nonce, a per-theme lock keeps two
posters apart, and before posting the channel's recent messages are searched for a result
an earlier attempt made but never recorded. A bot that was down at the end time finishes
the job when it comes back.
"""

from bot.commands.theme._cog import Themes

__all__ = ["Themes"]
