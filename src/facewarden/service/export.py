"""A subject's export (GDPR Art. 15 and 20): everything held, decrypted, and who accessed it.

The shape is plain JSON-ready data, versioned by its ``format`` field:
the record, each face (id, model, date) with its photo if one is kept (JPEG,
base64), the watchlists the subject is on with their declared purposes and
lawful bases, and every audit entry that names the subject.

No export carries a template (SECURITY.md promise 8): a protected template
next to the photo it came from is a (photo, template) pair, and about a
hundred such pairs estimate the deployment's secret transform by least
squares, which unlocks every template of a stolen database. The template is
derived data the person can always get again from their photo; format 2
says so by leaving it out.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from facewarden.privacy.crypto import WrappedKey
from facewarden.service.audit import AuditLog, readable_entry
from facewarden.service.context import Context
from facewarden.store.base import Reader

if TYPE_CHECKING:
    from facewarden.service.registry import Subject

__all__ = ["EXPORT_FORMAT", "build_export"]

EXPORT_FORMAT = "facewarden-subject-export/2"


def build_export(ctx: Context, reader: Reader, subject: Subject) -> dict[str, object]:
    """The export of ``subject`` read through ``reader``, inside the audited transaction."""
    row = reader.get_subject(subject.subject_id)
    if row is None:  # the caller loaded it in the same transaction
        raise RuntimeError(f"{subject.subject_id} vanished during its export")
    key = WrappedKey.from_bytes(row.wrapped_key)
    photos = {
        p.face_id: ctx.envelope.decrypt(
            p.ciphertext, data_key=key, table="photos", row=p.face_id, field="jpeg"
        )
        for p in reader.photos_of(subject.subject_id)
    }
    faces = []
    for face in reader.faces_of(subject.subject_id):
        photo = photos.get(face.face_id)
        faces.append(
            {
                "face_id": face.face_id,
                "model": face.model,
                "created_at": face.created_at.isoformat(),
                "photo_jpeg_base64": None if photo is None else _b64(photo),
            }
        )
    watchlists = []
    for watchlist_id in subject.watchlists:
        wl = reader.get_watchlist(watchlist_id)
        if wl is not None:
            watchlists.append(
                {
                    "watchlist_id": wl.watchlist_id,
                    "name": wl.name,
                    "purpose": ctx.watchlist_purpose(wl),
                    "lawful_basis": ctx.watchlist_basis(wl),
                }
            )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": ctx.clock().isoformat(),
        "subject_id": subject.subject_id,
        "record": subject.record.to_dict(),
        "created_at": subject.created_at.isoformat(),
        "updated_at": subject.updated_at.isoformat(),
        "faces": faces,
        "watchlists": watchlists,
        # Who accessed it, when and how; typed text (purposes, case references)
        # may name others and is an admin's to read: marked, not shown.
        "audit": [
            AuditLog.redacted(readable_entry(ctx, entry)).to_record()
            for entry in reader.audit_about(subject.subject_id)
        ],
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
