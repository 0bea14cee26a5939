"""Names people type for things (watchlists, cameras): one spelling per name.

The same name typed on two systems can arrive as different code points: "Café"
is one character ``é`` from most keyboards (NFC) and ``e`` plus a combining
accent from others (NFD, macOS file names). Unnormalised, they made two
watchlists that look alike, and the one an operator picked was a matter of
keyboard. Names are stored and looked up in NFC, without surrounding spaces.
Case is kept and counts (``gate`` and ``GATE`` are two watchlists, as before).

Text people type is printable (:func:`is_typed_text`), with one exception:
the zero-width joiner and non-joiner, format characters that Persian (``علی‌پور``),
Indic scripts and emoji sequences need inside a word. Outside a word they join
nothing and could only make two names that look alike differ, so they are
allowed only between two visible characters.
"""

from __future__ import annotations

import unicodedata

__all__ = ["JOINERS", "canonical_name", "is_typed_text"]

JOINERS = "\u200c\u200d"
"""The zero-width non-joiner and joiner (see the module docstring)."""


def canonical_name(text: str) -> str:
    """``text`` as a name is stored and looked up: NFC, stripped."""
    return unicodedata.normalize("NFC", text).strip()


def is_typed_text(text: str, *, also: str = "") -> bool:
    """Whether ``text`` holds only printable characters (and those in ``also``), or a
    zero-width (non-)joiner between two visible characters."""
    for i, char in enumerate(text):
        if char.isprintable() or char in also:
            continue
        if char not in JOINERS or i == 0 or i == len(text) - 1:
            return False
        if not (_visible(text[i - 1]) and _visible(text[i + 1])):
            return False
    return True


def _visible(char: str) -> bool:
    return char.isprintable() and not char.isspace()
