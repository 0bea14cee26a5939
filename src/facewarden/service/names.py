"""Names people type for things (watchlists, cameras): one spelling per name.

The same name typed on two systems can arrive as different code points: "Café"
is one character ``é`` from most keyboards (NFC) and ``e`` plus a combining
accent from others (NFD, macOS file names). Unnormalised, they made two
watchlists that look alike, and the one an operator picked was a matter of
keyboard. Names are stored and looked up in NFC, without surrounding spaces.
Case is kept and counts (``gate`` and ``GATE`` are two watchlists, as before).
"""

from __future__ import annotations

import unicodedata

__all__ = ["canonical_name"]


def canonical_name(text: str) -> str:
    """``text`` as a name is stored and looked up: NFC, stripped."""
    return unicodedata.normalize("NFC", text).strip()
