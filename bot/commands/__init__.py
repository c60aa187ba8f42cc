"""One cog per command (discord.py's cogs): the client adds every one in COGS."""

from bot.commands.admin import Admin
from bot.commands.animate import Animate
from bot.commands.cancel import Cancel
from bot.commands.create import Create
from bot.commands.extend import Extend
from bot.commands.gallery import Gallery
from bot.commands.help import Help
from bot.commands.keyframes import Keyframes
from bot.commands.me import Me
from bot.commands.queue import Queue
from bot.commands.settings import Settings
from bot.commands.show import Show

COGS = (Create, Animate, Extend, Keyframes, Cancel, Queue, Me, Settings, Show, Gallery, Help, Admin)
