"""Typed free text sealed like a personal field: bound to its place, opened only with the key."""

from __future__ import annotations

import secrets

import pytest

from facewarden.errors import IntegrityError
from facewarden.privacy.freetext import PREFIX, SEALED_MAX, FreeText

PLACE = {"table": "audit_log", "row": "7", "field": "purpose"}


@pytest.fixture
def text() -> FreeText:
    return FreeText(secrets.token_bytes(32))


def test_round_trip_hides_the_text_and_never_repeats(text: FreeText) -> None:
    typed = "case 2026/117: Jane Ünal at gate 3"
    sealed = text.seal(typed, **PLACE)
    assert sealed.startswith(PREFIX) and "Jane" not in sealed and sealed.isprintable()
    assert text.seal(typed, **PLACE) != sealed  # random nonce: equal text, unequal seal
    assert text.open(sealed, **PLACE) == typed
    assert len(text.seal("😀" * 500, **PLACE)) <= SEALED_MAX


def test_empty_stays_visible_and_legacy_plain_text_passes(text: FreeText) -> None:
    assert text.seal("", **PLACE) == ""
    assert text.open("written before sealing", **PLACE) == "written before sealing"


@pytest.mark.parametrize(
    "moved",
    [
        {"table": "audit_log", "row": "8", "field": "purpose"},
        {"table": "audit_log", "row": "7", "field": "details.note"},
        {"table": "history_requests", "row": "7", "field": "purpose"},
    ],
    ids=["other-row", "other-field", "other-table"],
)
def test_a_sealed_value_moved_elsewhere_fails(text: FreeText, moved: dict[str, str]) -> None:
    sealed = text.seal("C-1", **PLACE)
    with pytest.raises(IntegrityError, match="failed authentication"):
        text.open(sealed, **moved)


def test_an_altered_value_or_another_key_fails(text: FreeText) -> None:
    sealed = text.seal("C-1", **PLACE)
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    with pytest.raises(IntegrityError):
        text.open(flipped, **PLACE)
    with pytest.raises(IntegrityError):
        text.open(sealed[:12], **PLACE)
    with pytest.raises(IntegrityError, match="failed authentication"):
        FreeText(secrets.token_bytes(32)).open(sealed, **PLACE)
