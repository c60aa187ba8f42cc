"""Finding a clip from what a member pastes: its id, or a link to its message."""

from __future__ import annotations

import re

from bot import records
from bot.buttons import CLIP_ID
from bot.messages import code, truncate

MESSAGE_LINK = re.compile(r"https?://(?:[\w-]+\.)?discord(?:app)?\.com/channels/(?:\d+|@me)/(\d+)/(\d+)")


async def find_clip(store, reference: str):
    reference = (reference or "").strip()
    link = MESSAGE_LINK.search(reference)
    if link:
        return await records.clip_by_message(store, link.group(2))
    if re.fullmatch(CLIP_ID, reference):
        return await store.get(reference)
    if reference.isdigit() and len(reference) <= 20:
        return await records.clip_by_message(store, reference)
    return None


def not_found(reference: str) -> str:
    return (f"No clip found for {code(truncate(reference, 80))}: paste the clip id from the footer of its post "
            "(`clip …`), or a link to its message.")
