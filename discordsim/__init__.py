"""discordsim: a local server speaking Discord's REST API v10 and gateway, for tests and an offline sandbox.

    from discordsim import DiscordSim, Violation
    sim = await DiscordSim(token="sim-token").start()
    discord.http.Route.BASE = sim.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sim.gateway_url)

See README.md in this folder for the whole API, the rules it enforces and the faults it injects.
"""

from .interactions import Response, SimInteraction
from .model import Attachment, Channel, Guild, Member, Message, Role, Thread, User, Violation
from .sim import DiscordSim

__all__ = [
    "Attachment", "Channel", "DiscordSim", "Guild", "Member", "Message", "Response", "Role",
    "SimInteraction", "Thread", "User", "Violation",
]
