"""The purpose every access to a person is audited with, defaulted from the watchlists.

SECURITY.md promise 17: every read or write of personal data is audited with
its purpose. The caller's purpose (a case reference, a reason) comes first.
Without one, an access to a subject is recorded with the declared purposes
of the watchlists the subject is on (each watchlist declares one when it is
created, promise 14): that is why the deployment holds the person. A
subject on no watchlist, or an access that concerns no one subject, is
recorded with a marker that says no purpose was given, so that an auditor
can find every such access; none is ever recorded with an empty purpose.
"""

from __future__ import annotations

from facewarden.privacy.audit import MAX_FIELD
from facewarden.service.context import Context
from facewarden.store.base import Reader

__all__ = ["NONE_GIVEN", "for_subject", "given_or"]

NONE_GIVEN = "none given"
"""Ends every default purpose that no watchlist declared."""


def given_or(purpose: str, what: str) -> str:
    """The caller's purpose, or ``"<what> (none given)"``."""
    return purpose if purpose.strip() else f"{what} ({NONE_GIVEN})"


def for_subject(ctx: Context, reader: Reader, subject_id: str, purpose: str) -> str:
    """The purpose to audit an access to ``subject_id`` with.

    The caller's when given; else the declared purposes of the subject's
    watchlists (joined, cut to the audit field's length); else a marker
    that the subject is on no watchlist and no purpose was given.
    """
    if purpose.strip():
        return purpose
    declared = set()
    for watchlist_id in reader.watchlists_of(subject_id):
        row = reader.get_watchlist(watchlist_id)
        if row is not None:
            declared.add(ctx.watchlist_purpose(row))
    text = "; ".join(sorted(declared))
    if not text:
        return f"on no watchlist ({NONE_GIVEN})"
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 1] + "…"
