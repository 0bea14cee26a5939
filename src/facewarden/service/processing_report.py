"""The records-of-processing report (GDPR Art. 30; SECURITY.md promise 16), built live.

Built from what the deployment is configured to do now, not from a document
someone keeps up by hand: each watchlist's declared purpose, lawful basis and
size; each camera, whether it identifies or only counts, which watchlists it
checks and how long its sightings are kept; every retention period; the
categories of data held and how each is protected; who may do what (users
and API keys per role); the keys in use and the audit log's state.

It names no person and shows no secret: counts, declared texts, camera names
and locations (which the operator chose and which are not personal data),
never a camera's source URL, a subject, a user name or key material.
Producing it is audited.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from typing import Any

from facewarden.privacy.retention import HISTORY_REQUEST_RETENTION
from facewarden.service.audit import AuditLog
from facewarden.service.camera_places import open_place
from facewarden.service.context import Context
from facewarden.service.roles import ROLES
from facewarden.service.sightings import Sightings
from facewarden.store.postgres import is_postgres_url

__all__ = ["build_processing_report", "to_markdown"]

_CATEGORIES = (
    (
        "identity records",
        "name, ID number, birth date, sex, nationality, address, employer, notes, lawful basis",
        "AES-256-GCM per field under a per-subject data key, wrapped by a per-subject "
        "key-encryption key kept in the key directory and destroyed at erasure; "
        "ID numbers found through a keyed blind index",
    ),
    (
        "face templates",
        "128-d face embeddings",
        "secret per-deployment orthogonal transform, then AES-256-GCM; only with "
        'gallery_index = "pgvector" (PostgreSQL) a transformed, not encrypted, copy in '
        "face_vectors, left out of backups; never in an export",
    ),
    (
        "enrollment photos",
        "the photos faces were enrolled from, only when keep_enrollment_photos is set",
        "AES-256-GCM, EXIF stripped",
    ),
    (
        "sightings",
        "which watchlist subject was seen at which camera, when, best similarity, "
        "optional thumbnail",
        "expire per camera/watchlist retention; thumbnails AES-256-GCM",
    ),
    (
        "alert decisions and notes",
        "the security desk's decision about a sighting's alert (acknowledged, dismissed, "
        "escalated), who took it and when, the note typed with it and notes added after",
        "notes AES-256-GCM under the subject's data key; deleted with the sighting",
    ),
    (
        "location-history requests",
        "who asked for whose movements, how far back, the case reference and reason, "
        "who approved or refused it",
        "case reference and reason AES-256-GCM (the reason under the subject's data key); "
        f"deleted after {HISTORY_REQUEST_RETENTION.days} days or with the subject",
    ),
    (
        "crowd aggregates",
        "counts per camera and time bucket (faces, people, visitors, dwell, heatmap), "
        "occupancy alerts (a count that reached the threshold)",
        "anonymous by construction; counts below crowd_min_count suppressed in reports; "
        "deleted after crowd_retention_days",
    ),
    (
        "audit log",
        "who did what to which object, when, for what purpose (no personal values)",
        "HMAC hash chain; kept",
    ),
    (
        "key-directory ledgers",
        "kept outside the store so that a restore cannot undo them: the pseudonymous ids "
        "of subjects erased, restricted or whose record was corrected, with the corrected "
        "values, and the ids of faces removed (erasure and revocation ledgers); keyed "
        "tokens of erased people's import sources, so a re-run import skips them",
        "corrections AES-256-GCM under the subject's data key (unreadable once they are "
        "erased), padded; ledgers HMAC-chained; tokens HMAC-SHA256 under a key of their "
        "own, forgotten by deleting import-suppressions; kept",
    ),
)


def _days(value: int | None) -> str:
    return "kept until erased" if value is None else f"{value} days"


def build_processing_report(ctx: Context, audit: AuditLog) -> dict[str, Any]:
    """The report as plain data (audited as ``report.processing``)."""
    ctx.ensure_open()
    settings, store = ctx.settings, ctx.store
    sightings = Sightings(ctx, audit)
    watchlists = store.list_watchlists()
    cameras = store.list_cameras()
    names = {w.watchlist_id: w.name for w in watchlists}
    users = store.list_users()
    now = ctx.clock()
    keys = [
        k
        for k in store.list_api_keys()
        if k.revoked_at is None and (k.expires_at is None or k.expires_at > now)
    ]
    report: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "store": "PostgreSQL"
        if settings.database_url and is_postgres_url(settings.database_url)
        else "SQLite",
        "purposes": [
            {
                "watchlist": w.name,
                "purpose": ctx.watchlist_purpose(w),
                "lawful_basis": ctx.watchlist_basis(w),
                "false_match_rate": w.fmr,
                "subjects": store.count_members(w.watchlist_id),
                "created_at": w.created_at.isoformat(),
            }
            for w in watchlists
        ],
        "subjects": store.count_subjects(),
        "cameras": [
            {
                "camera": c.name,
                "location": open_place(ctx.freetext, c).label,
                "identifies": not c.sensitive and bool(c.watchlists),
                "sensitive": c.sensitive,
                "watchlists": [names.get(w, w) for w in c.watchlists],
                "sighting_retention_hours": {
                    names.get(w, w): sightings.retention(c, w) // timedelta(hours=1)
                    for w in c.watchlists
                },
                "keeps_thumbnails": c.keep_thumbnails,
            }
            for c in cameras
        ],
        "retention": {
            "sightings": f"{settings.sighting_retention_hours} hours (shorter per camera or "
            "watchlist where set; longer only at cameras where an admin raised it)",
            "subjects": _days(settings.subject_retention_days),
            "enrollment_photos": "not kept"
            if not settings.keep_enrollment_photos
            else _days(settings.photo_retention_days),
            "import_progress": _days(settings.import_progress_retention_days),
            "crowd_counts": _days(settings.crowd_retention_days),
            "history_requests": f"{HISTORY_REQUEST_RETENTION.days} days",
            "sessions": f"{settings.session_minutes} minutes (each deleted once expired)",
            "purge": "as facewarden serve or worker starts, then every "
            f"{settings.purge_interval_minutes:g} minutes while it runs"
            if settings.purge_interval_minutes is not None
            else "by `facewarden purge` (scheduled by the operator)",
            "crowd_counts_suppressed_below": settings.crowd_min_count,
        },
        "categories": [{"category": c, "data": d, "protection": p} for c, d, p in _CATEGORIES],
        "access": {
            "users_by_role": {role: 0 for role in ROLES}
            | dict(Counter(u.role for u in users if not u.disabled)),
            "api_keys_by_role": {role: 0 for role in ROLES} | dict(Counter(k.role for k in keys)),
            "location_history_needs_second_approver": settings.history_needs_approval,
            "server_address": settings.host,
            "tls": settings.tls,
        },
        "keys": {
            "master_keys": len(ctx.keyring.master_key_ids),
            "active_master_key": ctx.keyring.active_master_id,
            "template_key": ctx.keyring.template_key_id,
        },
    }
    last = store.last_audit()
    report["audit_log"] = {"entries": 0 if last is None else last.seq}
    audit.record(
        "report.processing",
        purpose="records of processing (GDPR Art. 30)",
        details={"watchlists": len(watchlists), "cameras": len(cameras)},
    )
    return report


# What starts Markdown or HTML inline (CommonMark lets any ASCII punctuation be
# escaped with a backslash): tags, images and links, emphasis, code, entities.
_MARKUP = re.compile(r"([\\`*_\[\]<>!|~&])")


def _cell(value: object) -> str:
    """A table cell of declared text, shown as typed, on one line.

    Watchlist purposes, camera names and places are typed by operators and
    read by the data-protection officer, whose viewer renders the Markdown:
    unescaped, ``<img src=x onerror=...>`` was HTML there, ``![](https://...)``
    an image fetched as the document opened, ``[text](url)`` a link anywhere,
    and a ``|`` a new column.
    """
    return " ".join(_MARKUP.sub(r"\\\1", str(value)).split())


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown document for the data-protection officer."""
    lines = [
        "# Records of processing",
        "",
        f"Generated {report['generated_at']} from the live configuration "
        f"({report['store']} store); {report['subjects']} subjects enrolled.",
        "",
        "## Purposes (watchlists)",
        "",
        "| watchlist | purpose | lawful basis | subjects | false match rate |",
        "|---|---|---|---:|---:|",
    ]
    lines += [
        f"| {_cell(p['watchlist'])} | {_cell(p['purpose'])} | {_cell(p['lawful_basis'])} | "
        f"{p['subjects']} | "
        f"{p['false_match_rate']:g} |"
        for p in report["purposes"]
    ]
    lines += [
        "",
        "## Cameras",
        "",
        "| camera | location | identifies | watchlists | sighting retention | thumbnails |",
        "|---|---|---|---|---|---|",
    ]
    for c in report["cameras"]:
        what = "yes" if c["identifies"] else ("no: sensitive" if c["sensitive"] else "no")
        kept = ", ".join(f"{w}: {h} h" for w, h in c["sighting_retention_hours"].items()) or "-"
        lines.append(
            f"| {_cell(c['camera'])} | {_cell(c['location'])} | {what} | "
            f"{_cell(', '.join(c['watchlists']) or '-')} | {_cell(kept)} | "
            f"{'yes' if c['keeps_thumbnails'] else 'no'} |"
        )
    lines += ["", "## Retention", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in report["retention"].items()]
    lines += ["", "## Data held and its protection", ""]
    lines += [
        f"- **{c['category']}** ({c['data']}): {c['protection']}" for c in report["categories"]
    ]
    access = report["access"]
    lines += ["", "## Access", ""]
    lines += [
        "- users by role: " + ", ".join(f"{r} {n}" for r, n in access["users_by_role"].items()),
        "- API keys by role: "
        + ", ".join(f"{r} {n}" for r, n in access["api_keys_by_role"].items()),
        "- a location history needs a second approver: "
        + ("yes" if access["location_history_needs_second_approver"] else "no"),
        f"- the server listens on {access['server_address']}"
        + (" with TLS" if access["tls"] else " (loopback only without TLS)"),
        "",
        "## Keys and audit",
        "",
        f"- master keys: {report['keys']['master_keys']} "
        f"(active {report['keys']['active_master_key']}); template key "
        f"{report['keys']['template_key']}",
        f"- audit log entries: {report['audit_log']['entries']}",
        "",
    ]
    return "\n".join(lines)
