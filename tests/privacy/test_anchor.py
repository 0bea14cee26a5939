"""The signed audit head on disk: forward only, two slots, MACed, beside the keys."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest

from facewarden.errors import IntegrityError
from facewarden.privacy.anchor import ANCHOR_NAME, Anchor, HeadAnchor
from facewarden.privacy.keys import KeyRing


def _hash() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing.open(tmp_path / "keys", create=True)


@pytest.fixture
def anchor(keyring: KeyRing) -> HeadAnchor:
    return HeadAnchor(keyring.path, keyring.audit_key)


def _yes(_: Anchor) -> bool:
    return True


def test_it_moves_forward_only_and_the_key_directory_still_loads(
    anchor: HeadAnchor, keyring: KeyRing
) -> None:
    assert anchor.read() is None
    first, second = _hash(), _hash()
    anchor.note(3, first)
    assert anchor.flush(_yes)
    anchor.note(5, second)
    assert anchor.flush(_yes)
    assert anchor.read() == Anchor(5, second)
    # Another process (another HeadAnchor) holding an older head cannot move it back.
    other = HeadAnchor(keyring.path, keyring.audit_key)
    other.note(4, _hash())
    assert not other.flush(_yes)
    assert anchor.read() == Anchor(5, second)
    assert stat.S_IMODE(os.stat(anchor.path).st_mode) == 0o600
    keyring.reload()  # the key ring's mode checks accept the anchor's files


def test_it_stays_put_when_the_log_no_longer_holds_the_signed_entry(anchor: HeadAnchor) -> None:
    anchor.note(2, _hash())
    anchor.flush(_yes)
    anchor.note(9, _hash())
    assert not anchor.flush(lambda current: current.seq != 2)
    assert anchor.read() is not None and anchor.read().seq == 2  # type: ignore[union-attr]


def test_a_torn_slot_falls_back_to_the_previous_head(anchor: HeadAnchor) -> None:
    older, newer = _hash(), _hash()
    anchor.note(7, older)
    anchor.flush(_yes)
    anchor.note(8, newer)
    anchor.flush(_yes)
    raw = bytearray(anchor.path.read_bytes())
    slot = raw.find(newer.encode()) // 256
    raw[slot * 256 + 10 : slot * 256 + 40] = b"\0" * 30  # a write cut short by a crash
    anchor.path.write_bytes(bytes(raw))
    assert anchor.read() == Anchor(7, older)


def test_a_head_forged_without_the_key_is_refused(anchor: HeadAnchor, keyring: KeyRing) -> None:
    anchor.note(4, _hash())
    anchor.flush(_yes)
    forger = HeadAnchor(keyring.path, secrets.token_bytes(32))
    forger.replace(Anchor(1, _hash()))
    with pytest.raises(IntegrityError, match="fails its MAC"):
        anchor.read()
    (keyring.path / ANCHOR_NAME).write_bytes(b"{}")
    with pytest.raises(IntegrityError, match="fails its MAC"):
        anchor.read()


def test_replace_moves_it_back_on_purpose(anchor: HeadAnchor) -> None:
    anchor.note(6, _hash())
    anchor.flush(_yes)
    restored = Anchor(3, _hash())
    assert anchor.replace(restored)
    assert anchor.read() == restored
