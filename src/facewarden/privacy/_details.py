"""What may go into an audit entry's details: nothing personal, nothing biometric.

The audit log must itself be safe to hand to an auditor, so its free-form
part is limited to short ids, counts and a few scores. Anything that could
carry a name, an address, free text or an embedding is refused at the door;
typed text (a note, a reason) enters only sealed, through
``AuditLog.append(note=...)`` (see :mod:`facewarden.privacy.freetext`).
Re-exported by :mod:`facewarden.privacy.audit`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from facewarden.privacy.freetext import PREFIX as SEALED_PREFIX
from facewarden.privacy.freetext import SEALED_MAX

MAX_TEXT = 64
MAX_DETAIL_KEYS = 32
MAX_LIST_ITEMS = 256
MAX_FLOAT_ITEMS = 8
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

DetailItem = str | int | float | bool
DetailValue = DetailItem | None | tuple[DetailItem, ...]
"""A detail value: a short scalar, or a short tuple of ids (lists are stored as tuples)."""


def check_details(details: Mapping[str, object]) -> dict[str, DetailValue]:
    """Refuse detail values that could carry personal or biometric data.

    Allowed: up to 32 keys (``snake_case``), each a bool, int, finite float,
    ``None``, a string of at most 64 characters, or a flat list of at most 256
    such ids/numbers; a list holding floats may have at most 8 (a few scores,
    never an embedding).

    Returns:
        the details with lists turned into tuples, ready for an entry.

    Raises:
        ValueError: naming the offending key; nested structures, long strings,
            bytes, arrays and long float lists are refused.
    """
    if not isinstance(details, Mapping):
        raise ValueError(f"audit details must be a mapping, got {type(details).__name__}")
    if len(details) > MAX_DETAIL_KEYS:
        raise ValueError(f"audit details hold {len(details)} keys; at most {MAX_DETAIL_KEYS}")
    clean: dict[str, DetailValue] = {}
    for key, value in details.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError(f"audit detail key {key!r} is not snake_case of at most 64 chars")
        if value is None:
            clean[key] = None
        elif isinstance(value, list | tuple):
            items = tuple(_check_item(key, item) for item in value)
            limit = MAX_FLOAT_ITEMS if any(type(i) is float for i in items) else MAX_LIST_ITEMS
            if len(items) > limit:
                raise ValueError(
                    f"audit detail {key!r} is a list of {len(items)} items (limit {limit}); "
                    "embeddings and bulk data never go into the audit log"
                )
            clean[key] = items
        else:
            clean[key] = _check_item(key, value)
    return clean


def _check_item(key: str, value: object) -> DetailItem:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"audit detail {key!r} is not a finite number")
        return float(value)
    if isinstance(value, str):
        if value.startswith(SEALED_PREFIX) and len(value) <= SEALED_MAX:
            return value  # typed text, sealed by the audit service (privacy.freetext)
        if len(value) > MAX_TEXT:
            raise ValueError(
                f"audit detail {key!r} is a {len(value)}-char string (limit {MAX_TEXT}); "
                "free text may hold personal data: log an id instead"
            )
        return value
    raise ValueError(
        f"audit detail {key!r} holds a {type(value).__name__}; only short scalars and flat "
        "lists of ids are allowed"
    )
