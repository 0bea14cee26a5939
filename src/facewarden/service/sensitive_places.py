"""Places marked sensitive stay sensitive when their camera is removed and added again.

SECURITY.md promise 13: removing a sensitive camera (a chapel, a clinic door)
and adding it again as an ordinary one must not lift its protection. Each
sensitive camera's place is remembered apart from the camera, in the meta
table, as keyed blind-index tokens: one of its location label (normalised:
case, spaces and punctuation do not matter) and, when it has coordinates,
one of them rounded to about 10 m. The tokens name no place without the
deployment's blind-index key. A camera added at a remembered place is
sensitive unless an admin explicitly says otherwise, which lifts the mark
(audited by the caller).
"""

from __future__ import annotations

from facewarden.privacy.crypto import Envelope
from facewarden.store.base import Reader, Transaction

__all__ = ["is_sensitive_place", "mark_sensitive_place", "place_tokens", "unmark_sensitive_place"]

_KEY = "sensitive_place:"
_KIND = "camera_place"


def place_tokens(
    envelope: Envelope, location: str, latitude: float | None, longitude: float | None
) -> tuple[str, ...]:
    """The blind-index tokens of a camera's place: its label, and its coordinates if any."""
    tokens = [envelope.blind_index(f"label {location}", kind=_KIND)]
    if latitude is not None and longitude is not None:
        north = f"{'S' if latitude < 0 else 'N'}{abs(round(latitude * 10_000))}"
        east = f"{'W' if longitude < 0 else 'E'}{abs(round(longitude * 10_000))}"
        tokens.append(envelope.blind_index(f"gps {north} {east}", kind=_KIND))
    return tuple(tokens)


def is_sensitive_place(reader: Reader, tokens: tuple[str, ...]) -> bool:
    """Whether any of ``tokens`` names a place marked sensitive."""
    return any(reader.get_meta(_KEY + token) == "1" for token in tokens)


def mark_sensitive_place(tx: Transaction, tokens: tuple[str, ...]) -> None:
    """Remember the place as sensitive."""
    for token in tokens:
        tx.set_meta(_KEY + token, "1")


def unmark_sensitive_place(tx: Transaction, tokens: tuple[str, ...]) -> None:
    """Forget the mark (an admin lifted it); tokens never marked are left alone."""
    for token in tokens:
        if tx.get_meta(_KEY + token) is not None:
            tx.set_meta(_KEY + token, "0")
