"""The identity record of a subject, and how its fields are sealed for the store.

Every personal field is encrypted on its own with the subject's data key, its
associated data naming table ``subjects``, the subject id and the field, so
a ciphertext moved to another subject or field fails to decrypt. The ID
number is additionally reduced to a keyed blind-index token for exact lookup.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date

from facewarden.errors import FacewardenError, InvalidInputError
from facewarden.privacy.crypto import Envelope, WrappedKey, normalise_id_number
from facewarden.service.names import is_typed_text

__all__ = [
    "FIELD_NAMES",
    "RESTRICTION",
    "SubjectRecord",
    "id_index",
    "invalid_input",
    "new_id",
    "open_record",
    "seal_record",
]

TABLE = "subjects"
RESTRICTION = "restriction"
"""A field of a subject's row beside its record's: the sealed mark of a restriction of
processing (:mod:`facewarden.service.restriction`); never part of the record."""
ID_KIND = "id_number"
_LIMITS = {"notes": 4000, "address": 500, "sex": 32, "date_of_birth": 10}
_DEFAULT_LIMIT = 200


def invalid_input(message: str) -> FacewardenError:
    """The error for a malformed value supplied by the caller."""
    return InvalidInputError(message)


def new_id(prefix: str) -> str:
    """A random opaque id such as ``sub_3f9c0a1b2c3d4e5f``: 64 bits from the OS's CSPRNG."""
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class SubjectRecord:
    """What is known about a person, in plain text; only ever held in memory.

    Attributes:
        full_name: the person's name (required).
        lawful_basis: the legal ground or consent reference of the enrollment (required).
        id_number: national ID, passport or similar number; unique across subjects.
        date_of_birth: ``YYYY-MM-DD``.
        sex: as written on the identity document (``F``, ``M``, ``X``, ...).
        nationality: free text or an ISO 3166 code.
        address: postal address.
        employer: employer or organisation.
        notes: free-form notes.
    """

    full_name: str
    lawful_basis: str
    id_number: str | None = None
    date_of_birth: str | None = None
    sex: str | None = None
    nationality: str | None = None
    address: str | None = None
    employer: str | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise invalid_input(f"{f.name} must be text, got {type(value).__name__}")
            value = value.strip()
            object.__setattr__(self, f.name, value or None)
            limit = _LIMITS.get(f.name, _DEFAULT_LIMIT)
            if len(value) > limit:
                raise invalid_input(f"{f.name} is {len(value)} characters long; at most {limit}")
            if not is_typed_text(value, also="\n\t"):
                raise invalid_input(f"{f.name} holds control characters")
        for required in ("full_name", "lawful_basis"):
            if getattr(self, required) is None:
                raise invalid_input(f"{required} is required")
        if self.id_number is not None and not normalise_id_number(self.id_number):
            raise invalid_input("id_number has no letters or digits")
        if self.date_of_birth is not None:
            _check_date(self.date_of_birth)

    @classmethod
    def from_fields(cls, values: Mapping[str, str | None]) -> SubjectRecord:
        """A record from a mapping of field names (a JSON object, a CSV row).

        Raises:
            InvalidInputError: an unknown field, a missing required one, or an invalid value.
        """
        unknown = set(values) - set(FIELD_NAMES)
        if unknown:
            raise invalid_input(
                f"unknown field(s): {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(FIELD_NAMES)}"
            )
        missing = [name for name in ("full_name", "lawful_basis") if not values.get(name)]
        if missing:
            raise invalid_input(f"{' and '.join(missing)} required")
        return cls(**values)  # type: ignore[arg-type]

    def updated(self, changes: dict[str, str | None]) -> SubjectRecord:
        """A copy with ``changes`` applied (an empty string or None clears an optional field).

        Raises:
            InvalidInputError: an unknown field name, or the result is invalid.
        """
        unknown = set(changes) - set(FIELD_NAMES)
        if unknown:
            raise invalid_input(
                f"unknown field(s): {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(FIELD_NAMES)}"
            )
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, str | None]:
        """Every field, for JSON output."""
        return asdict(self)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SubjectRecord))


def _check_date(text: str) -> None:
    try:
        born = date.fromisoformat(text)
    except ValueError:
        raise invalid_input(f"date_of_birth {text!r} is not a date; use YYYY-MM-DD") from None
    if len(text) != 10 or born > date.today() or born.year < 1850:
        raise invalid_input(f"date_of_birth {text!r} is not a plausible YYYY-MM-DD date")


def id_index(envelope: Envelope, id_number: str | None) -> str | None:
    """The blind-index token of an ID number (None for none).

    Raises:
        InvalidInputError: the number has no letter or digit (nothing to look up).
    """
    if id_number is None:
        return None
    if not normalise_id_number(id_number):
        raise invalid_input("id_number has no letters or digits")
    return envelope.blind_index(id_number, kind=ID_KIND)


def seal_record(
    envelope: Envelope, data_key: WrappedKey, subject_id: str, record: SubjectRecord
) -> dict[str, bytes]:
    """Encrypt every present field of ``record``; absent fields are not stored at all."""
    return {
        name: envelope.encrypt_str(
            value, data_key=data_key, table=TABLE, row=subject_id, field=name
        )
        for name, value in record.to_dict().items()
        if value is not None
    }


def seal_changes(
    envelope: Envelope,
    data_key: WrappedKey,
    subject_id: str,
    old: SubjectRecord,
    new: SubjectRecord,
) -> dict[str, bytes | None]:
    """Ciphertexts for the fields that differ (None: delete the field)."""
    before, after = old.to_dict(), new.to_dict()
    changes: dict[str, bytes | None] = {}
    for name, value in after.items():
        if value == before[name]:
            continue
        changes[name] = (
            None
            if value is None
            else envelope.encrypt_str(
                value, data_key=data_key, table=TABLE, row=subject_id, field=name
            )
        )
    return changes


def open_record(
    envelope: Envelope, data_key: WrappedKey, subject_id: str, sealed: Mapping[str, bytes]
) -> SubjectRecord:
    """Decrypt a stored subject's fields back into a record.

    Raises:
        IntegrityError: a ciphertext was altered or moved from elsewhere.
        KeyMaterialError: the data key's master key is gone.
    """
    values = {
        name: envelope.decrypt_str(
            ciphertext, data_key=data_key, table=TABLE, row=subject_id, field=name
        )
        for name, ciphertext in sealed.items()
        if name in FIELD_NAMES
    }
    # Built without validation: stored data was validated on the way in, and a
    # record that no longer passes (a date now in the future?) must still be readable.
    record = object.__new__(SubjectRecord)
    for name in FIELD_NAMES:
        object.__setattr__(record, name, values.get(name))
    return record
