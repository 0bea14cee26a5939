"""How loud a watchlist's alerts are, and how loud one alert was when it was raised.

Each watchlist has a severity (:data:`SEVERITIES`), kept in the meta table
and changed by an admin or operator at the desk
(:meth:`~facewarden.service.alert_desk.AlertDesk.set_severity`). A sighting
takes the watchlist's severity *when it is recorded* and keeps it
(``SightingRow.severity``): the desk shows each alert as loud as it was
raised, so changing a watchlist afterwards does not rewrite what the desk
saw. Sightings recorded before the column existed show the watchlist's
current severity (:func:`alert_severity`).
"""

from __future__ import annotations

from facewarden.store.base import Reader
from facewarden.store.cameras import SightingRow

__all__ = ["DEFAULT_SEVERITY", "SEVERITIES", "SEVERITY_KEY", "alert_severity", "watchlist_severity"]

SEVERITIES = ("alarm", "alert", "log")
"""How loud a watchlist's alerts are: a persistent alarm with sound, a toast, the list only."""
DEFAULT_SEVERITY = "alert"
SEVERITY_KEY = "alert_severity:"
"""Meta key prefix of a watchlist's severity (followed by the watchlist id)."""


def watchlist_severity(reader: Reader, watchlist_id: str) -> str:
    """How loud ``watchlist_id``'s alerts are now."""
    value = reader.get_meta(SEVERITY_KEY + watchlist_id)
    return value if value in SEVERITIES else DEFAULT_SEVERITY


def alert_severity(reader: Reader, row: SightingRow) -> str:
    """How loud the alert of sighting ``row`` was when raised (its watchlist's now, if not kept)."""
    if row.severity in SEVERITIES:
        return row.severity
    return watchlist_severity(reader, row.watchlist_id)
