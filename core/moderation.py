"""Banned terms: a configurable list that blocks prompts.

Matching is case-, accent- and width-insensitive and on word boundaries, so "Nudé",
"ＮＵＤＥ" and "nude!" all match the term "nude", while "denuded" does not. Invisible
characters (zero-width spaces, soft hyphens) are dropped first: they cannot hide a word.
A term may be several words ("blood bath"); any run of spaces or punctuation-free
whitespace between them matches.

Pure: no I/O. The bot joins the server's list (`/admin terms`) with the operator's
(`REELBOT_BANNED_TERMS`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

MAX_TERM_CHARS = 100


def fold(text: str) -> str:
    """Text reduced to what matching compares: NFKC, case-folded, accents and invisibles removed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    # Mn: combining accents; Cf: format characters (zero-width space/joiner, soft hyphen, bidi marks).
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Cf"))
    return unicodedata.normalize("NFC", kept)


def clean_term(term: str) -> str | None:
    """A term as stored: folded, single-spaced; None when nothing matchable is left."""
    if not isinstance(term, str):
        return None
    folded = " ".join(fold(term).split())
    if not folded or len(folded) > MAX_TERM_CHARS or not any(ch.isalnum() for ch in folded):
        return None
    return folded


@lru_cache(maxsize=256)
def _pattern(terms: tuple[str, ...]) -> re.Pattern | None:
    parts = []
    for term in terms:
        words = [re.escape(word) for word in term.split()]
        # \w-lookarounds instead of \b: a term may start or end with punctuation ("c++").
        parts.append(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")
    if not parts:
        return None
    # Longest first, so "blood bath" is reported rather than "blood" when both are banned.
    parts.sort(key=len, reverse=True)
    return re.compile("|".join(parts))


def find_banned(text: str, terms: Iterable[str]) -> str | None:
    """The first banned term found in `text` (as stored, folded), or None."""
    cleaned = tuple(sorted({t for t in (clean_term(term) for term in terms) if t}))
    pattern = _pattern(cleaned)
    if pattern is None or not text:
        return None
    match = pattern.search(fold(text))
    if match is None:
        return None
    found = " ".join(match.group().split())
    return found
