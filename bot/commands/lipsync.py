"""/lipsync face [audio] [text] [prompt]: the face speaks the member's sound file, or typed
words through text-to-speech. The clip is as long as the sound (up to 10 s), and its sound
is the member's own track (or the spoken words), not the model's."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import reply_private
from bot.metrics import COMMANDS
from bot.orders import order_for, place_order
from core.catalog import Task

# About 20 s of speech: generous, since how long words take is only known once spoken
# (the worker refuses words past 10 s in plain words).
SPEECH_MAX = 300
EXAMPLE = "/lipsync face: (a picture) audio: (a recording) prompt: a woman talking to the camera"


class LipSync(commands.Cog):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(name="lipsync", description="Make a face speak a sound file or typed words")
    @app_commands.describe(face="A picture or a video of the face (PNG, JPEG, WebP, or MP4, WebM, MOV)",
                           audio="What it says: a WAV, MP3, M4A, OGG or FLAC file, up to 10 s",
                           text="Or words for it to say, spoken by a synthetic voice",
                           prompt="The scene, and flags, e.g. a man in a studio, smiling -ar 1:1")
    async def lipsync(self, interaction: discord.Interaction, face: discord.Attachment,
                      audio: discord.Attachment | None = None,
                      text: app_commands.Range[str, 1, SPEECH_MAX] | None = None,
                      prompt: app_commands.Range[str, 0, 6000] | None = None) -> None:
        words = " ".join(text.split()) if text else None
        refusal = None
        if (audio is None) == (words is None):
            refusal = ("Give the face something to say: attach an `audio` file or type `text` — one of the two, "
                       "not both.")
        elif words is not None and not any(char.isalpha() for char in words):
            refusal = "The `text` has no words in it for the voice to say: write them in letters."
        if refusal:
            COMMANDS.labels("lipsync", "refused").inc()
            await reply_private(interaction, refusal)
            return
        attachments = {"face": (face, "face")} | ({"audio": (audio, "audio")} if audio is not None else {})
        # Without -model, a model of the deployment that lip-syncs stands in for a default that can't.
        order = order_for(interaction, prompt or "", task=Task.LIP_SYNC, attachments=attachments, speech=words,
                          prompt_required=False, example=EXAMPLE, any_capable=True)
        await place_order(interaction, order, "lipsync")
