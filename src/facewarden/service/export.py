"""A subject's export (GDPR Art. 15 and 20): everything held on them, decrypted, and who read it.

The export is JSON text, written a piece at a time (:func:`export_chunks`),
versioned by its ``format`` field, and described field by field in
``docs/subject-export.md``. It holds the record; each face (id, model,
date) with its photo if one is kept; the watchlists the subject is on with
their declared purposes and lawful bases; every sighting of them still kept
(camera, its place, the watchlist, when, the face crop if the camera keeps
one), each with the desk's decision and notes about its alert and the audit
entries about it (who recorded it, showed it, decided it); the
location-history requests about them; any restriction of processing in force
(:mod:`facewarden.service.restriction`); and every audit entry that names them.

It is read from one snapshot of the store (:meth:`Store.snapshot`), page
by page, so that a person seen 100 000 times is exported in bounded memory
and no writer waits meanwhile; what was committed after the export's own
audit entry is not part of it. A reader that may be slow (an HTTP client,
a pipe) gets it through :func:`facewarden.service.export_spool.spooled`, so
the snapshot is not held while it downloads.

What it leaves out, on purpose:

* templates (SECURITY.md promise 8): a protected template next to the photo
  it came from is a (photo, template) pair, and about a hundred such pairs
  estimate the deployment's secret transform; the template is derived data
  the person can always get again from their photo;
* other people: the export is built from this subject's rows only, and any
  other subject's id in an audit entry (an identification that matched
  several people in one photo, a listing) is left out or replaced by
  :data:`OTHER_SUBJECT`;
* typed text of the deployment (audit purposes, case references, the reason
  given for a location-history request): it may name others or an
  investigation, and is an admin's to read; it is marked
  (:data:`~facewarden.service.audit.REDACTED`), never silently dropped, so a
  data-protection officer sees that it exists. The desk's decisions and
  notes about the person's alerts are theirs and come in full;
* secrets: no key, wrapped key, blind-index token, sealed value or camera source.

Staff appear by their account names (who decided, who asked), as they do
in the audit entries the export has always carried.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from facewarden.errors import NotFoundError
from facewarden.privacy.audit import AuditEntry
from facewarden.privacy.crypto import WrappedKey
from facewarden.service.alert_notes import open_notes
from facewarden.service.audit import REDACTED, AuditLog, readable_entry
from facewarden.service.camera_places import open_place
from facewarden.service.context import Context
from facewarden.service.history_requests import request_decision
from facewarden.service.restriction import restriction_of
from facewarden.service.subjects import Subject, load_subject
from facewarden.store.base import Reader, SightingRow

__all__ = ["EXPORT_FORMAT", "OTHER_SUBJECT", "PAGE", "export_chunks"]

EXPORT_FORMAT = "facewarden-subject-export/3"
OTHER_SUBJECT = "(another person)"
"""What stands in an audit entry of the export where another subject's id was."""
PAGE = 500
"""Sightings (and audit entries) read per page: what the export holds in memory at once."""

_SUBJECT_ID = re.compile(r"sub_[0-9a-f]{16}")


def export_chunks(
    ctx: Context, subject_id: str, *, upto_seq: int, page: int = PAGE
) -> Iterator[str]:
    """The export of ``subject_id`` as JSON text, a piece at a time.

    The first piece (the record, faces, watchlists and history requests) is
    read when the first piece is asked for, the sightings and audit entries
    a page at a time after it. Audit entries after ``upto_seq`` (the
    export's own entry) are left out.

    Raises:
        NotFoundError: the subject is gone (erased since the export was audited).
    """
    with ctx.store.snapshot() as reader:
        row = reader.get_subject(subject_id)
        if row is None:
            raise NotFoundError(f"no subject {subject_id}")
        key = WrappedKey.from_bytes(row.wrapped_key)
        subject = load_subject(ctx, reader, subject_id)
        head = _head(ctx, subject)
        yield _dumps(head)[:-1] + ',\n"faces": ['
        # Faces per subject are not capped: their photos are read one at a time.
        yield from _items(_faces(ctx, reader, subject, key))
        rest = _rest(ctx, reader, subject)
        mark = restriction_of(ctx.envelope, row)
        rest["restriction"] = None if mark is None else mark.to_dict()
        yield "\n],\n" + _dumps(rest)[1:-1] + ',\n"sightings": ['
        yield from _items(_sightings(ctx, reader, subject_id, key, page))
        yield '\n],\n"audit": ['
        yield from _items(_audit_about(ctx, reader, subject_id, upto_seq, page))
        yield "\n]}\n"


def _head(ctx: Context, subject: Subject) -> dict[str, object]:
    return {
        "format": EXPORT_FORMAT,
        "exported_at": ctx.clock().isoformat(),
        "subject_id": subject.subject_id,
        "record": subject.record.to_dict(),
        "created_at": subject.created_at.isoformat(),
        "updated_at": subject.updated_at.isoformat(),
    }


def _faces(
    ctx: Context, reader: Reader, subject: Subject, key: WrappedKey
) -> Iterator[dict[str, object]]:
    for face in subject.faces:
        photo = reader.get_photo(face.face_id)
        yield {
            "face_id": face.face_id,
            "model": face.model,
            "created_at": face.created_at.isoformat(),
            "photo_jpeg_base64": None
            if photo is None
            else _b64(
                ctx.envelope.decrypt(
                    photo.ciphertext, data_key=key, table="photos", row=face.face_id, field="jpeg"
                )
            ),
        }


def _rest(ctx: Context, reader: Reader, subject: Subject) -> dict[str, object]:
    watchlists = [_watchlist(ctx, reader, watchlist_id, {}) for watchlist_id in subject.watchlists]
    return {
        "watchlists": [w for w in watchlists if w is not None],
        "history_requests": _history_requests(reader, subject.subject_id),
    }


def _watchlist(
    ctx: Context, reader: Reader, watchlist_id: str, seen: dict[str, dict[str, object] | None]
) -> dict[str, object] | None:
    """A watchlist with its declared purpose and basis (None: deleted); ``seen`` caches."""
    if watchlist_id not in seen:
        wl = reader.get_watchlist(watchlist_id)
        seen[watchlist_id] = (
            None
            if wl is None
            else {
                "watchlist_id": wl.watchlist_id,
                "name": wl.name,
                "purpose": ctx.watchlist_purpose(wl),
                "lawful_basis": ctx.watchlist_basis(wl),
            }
        )
    return seen[watchlist_id]


def _history_requests(reader: Reader, subject_id: str) -> list[dict[str, object]]:
    """The location-history requests about the subject, their typed text marked."""
    requests: list[dict[str, object]] = []
    for row in reader.history_requests_of(subject_id):
        note = reader.history_note(row.request_id)
        status, by, at = request_decision(row, note)
        requests.append(
            {
                "request_id": row.request_id,
                "hours": row.hours,
                "requested_by": row.requested_by,
                "requested_at": row.created_at.isoformat(),
                "status": status,
                "decided_by": by,
                "decided_at": None if at is None else at.isoformat(),
                "case_reference": REDACTED,
                "reason": None if note is None or note.reason is None else REDACTED,
            }
        )
    return requests


def _sightings(
    ctx: Context, reader: Reader, subject_id: str, key: WrappedKey, page: int
) -> Iterator[dict[str, object]]:
    cameras: dict[str, dict[str, object]] = {}
    watchlists: dict[str, dict[str, object] | None] = {}
    after = None
    while rows := reader.sightings_page(subject_id, after=after, limit=page):
        ids = [r.sighting_id for r in rows]
        decisions = reader.alert_decisions(ids)
        entries: dict[str, list[dict[str, Any]]] = {}
        for entry in reader.audit_of(ids):
            entries.setdefault(entry.object_id, []).append(_entry(ctx, entry, subject_id))
        for row in rows:
            decision = decisions.get(row.sighting_id)
            yield {
                "sighting_id": row.sighting_id,
                "camera": _camera(ctx, reader, row.camera_id, cameras),
                "watchlist": _watchlist(ctx, reader, row.watchlist_id, watchlists)
                or {"watchlist_id": row.watchlist_id},
                "first_seen": row.first_seen.isoformat(),
                "last_seen": row.last_seen.isoformat(),
                "best_similarity": round(row.best_similarity, 4),
                "severity": row.severity,
                "expires_at": row.expires_at.isoformat(),
                "face_crop_jpeg_base64": _crop(ctx, row, key),
                "decision": None
                if decision is None
                else {
                    "decision": decision.decision,
                    "decided_by": decision.decided_by,
                    "decided_at": decision.decided_at.isoformat(),
                    "note": None
                    if decision.note is None
                    else ctx.envelope.decrypt_str(
                        decision.note,
                        data_key=key,
                        table="alert_decisions",
                        row=row.sighting_id,
                        field="note",
                    ),
                },
                "notes": [
                    {
                        "written_by": n.written_by,
                        "written_at": n.written_at.isoformat(),
                        "note": n.note,
                    }
                    for n in (
                        open_notes(ctx.envelope, reader, row.sighting_id, key) if decision else ()
                    )
                ],
                "audit": entries.get(row.sighting_id, []),
            }
        after = (rows[-1].last_seen, rows[-1].sighting_id)


def _camera(
    ctx: Context, reader: Reader, camera_id: str, seen: dict[str, dict[str, object]]
) -> dict[str, object]:
    """The camera's name and place (its sealed place opened); ``seen`` caches."""
    if camera_id not in seen:
        row = reader.get_camera(camera_id)
        if row is None:  # a sighting goes with its camera: not in one snapshot
            seen[camera_id] = {"camera_id": camera_id}
        else:
            place = open_place(ctx.freetext, row)
            seen[camera_id] = {
                "camera_id": camera_id,
                "name": row.name,
                "location": place.label,
                "latitude": place.latitude,
                "longitude": place.longitude,
            }
    return seen[camera_id]


def _crop(ctx: Context, row: SightingRow, key: WrappedKey) -> str | None:
    if row.thumbnail is None:
        return None
    return _b64(
        ctx.envelope.decrypt(
            row.thumbnail, data_key=key, table="sightings", row=row.sighting_id, field="thumbnail"
        )
    )


def _audit_about(
    ctx: Context, reader: Reader, subject_id: str, upto_seq: int, page: int
) -> Iterator[dict[str, Any]]:
    after = 0
    while found := reader.audit_about(subject_id, after_seq=after, limit=page):
        for entry in found:
            if entry.seq > upto_seq:
                return
            yield _entry(ctx, entry, subject_id)
        after = found[-1].seq


def _entry(ctx: Context, entry: AuditEntry, subject_id: str) -> dict[str, Any]:
    """An audit entry as the subject may read it: typed text marked, other people left out."""
    record = AuditLog.redacted(readable_entry(ctx, entry)).to_record()
    record["object_id"] = _theirs(record["object_id"], subject_id)
    details = record["details"]
    if isinstance(details, Mapping):
        record["details"] = {k: _theirs(v, subject_id) for k, v in details.items()}
    return record


def _theirs(value: Any, subject_id: str) -> Any:
    """``value`` with other subjects' ids left out of lists and replaced elsewhere."""

    def other(item: Any) -> bool:
        return isinstance(item, str) and item != subject_id and bool(_SUBJECT_ID.fullmatch(item))

    if other(value):
        return OTHER_SUBJECT
    if isinstance(value, list | tuple):
        return [_theirs(v, subject_id) for v in value if not other(v)]
    if isinstance(value, Mapping):
        return {k: _theirs(v, subject_id) for k, v in value.items()}
    return value


def _items(items: Iterator[Any]) -> Iterator[str]:
    """JSON array items, one a line, with the commas between them."""
    separator = "\n"
    for item in items:
        yield separator + _dumps(item)
        separator = ",\n"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
