"""Notes added to an alert after its decision: append-only, sealed, audited.

A decision is final, and so is the note typed with it; what is learnt later
("confirmed with the guard on site", a report's number) is added as a note
of its own, by whoever works the desk, with who and when. Notes are never
edited or deleted one by one: they hang off the decision and go with the
alert's sighting (expiry, the subject's erasure). Each is sealed with the
subject's data key, its associated data naming the note, like the
decision's note (promise 6), and each addition is audited (``alert.note``,
without its text). An alert holds at most :data:`NOTES_PER_ALERT` notes of
at most :data:`NOTE_LIMIT` characters.
"""

from __future__ import annotations

from datetime import datetime

from facewarden.errors import InvalidInputError
from facewarden.privacy.crypto import Envelope, WrappedKey
from facewarden.service.alert_desk_results import AlertNote
from facewarden.service.records import new_id
from facewarden.store.base import Reader
from facewarden.store.desk import AlertNoteRow

__all__ = [
    "NOTES_PER_ALERT",
    "NOTE_LIMIT",
    "note_text",
    "open_note",
    "open_notes",
    "sealed_note",
]

NOTE_LIMIT = 500
"""Characters in one note (the decision's and each added one)."""
NOTES_PER_ALERT = 20
"""Notes one alert holds at most after its decision: a desk's follow-up, not a chat."""
_TABLE = "alert_notes"


def note_text(note: str | None, *, required: bool) -> str:
    """The note as kept: stripped; refused when too long, or empty where one is required.

    Raises:
        InvalidInputError: longer than :data:`NOTE_LIMIT`, or empty and ``required``.
    """
    text = (note or "").strip()
    if len(text) > NOTE_LIMIT:
        raise InvalidInputError(f"a note has at most {NOTE_LIMIT} characters")
    if required and not text:
        raise InvalidInputError("the note is empty: type what was learnt")
    return text


def sealed_note(
    envelope: Envelope, key: WrappedKey, sighting_id: str, written_by: str, at: datetime, text: str
) -> AlertNoteRow:
    """A new note's row, its text sealed with the subject's data key."""
    note_id = new_id("note")
    sealed = envelope.encrypt_str(text, data_key=key, table=_TABLE, row=note_id, field="note")
    return AlertNoteRow(note_id, sighting_id, written_by, at, sealed)


def open_note(envelope: Envelope, key: WrappedKey, row: AlertNoteRow) -> AlertNote:
    """One note as read at the desk."""
    text = envelope.decrypt_str(row.note, data_key=key, table=_TABLE, row=row.note_id, field="note")
    return AlertNote(row.written_by, row.written_at, text)


def open_notes(
    envelope: Envelope, reader: Reader, sighting_id: str, key: WrappedKey
) -> tuple[AlertNote, ...]:
    """The notes added to an alert after its decision, oldest first."""
    return tuple(open_note(envelope, key, r) for r in reader.alert_notes(sighting_id))
