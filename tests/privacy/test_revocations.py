"""The revocation ledger on a real key directory: what it records, hides and detects."""

from __future__ import annotations

import os
import stat

import pytest

from facewarden.errors import IntegrityError, KeyMaterialError
from facewarden.privacy import KeyRing
from facewarden.privacy.revocations import REVOCATIONS
from facewarden.service.credentials import hash_password

KEY_ID = "0123456789abcdef"
OLD_HASH = hash_password("the passphrase it replaced")


@pytest.fixture
def recorded(keyring: KeyRing) -> tuple[KeyRing, str]:
    """A ledger holding one record of each kind; the password hash it seals."""
    new_hash = hash_password("a brand new passphrase")
    ledger = keyring.revocations
    ledger.revoke_key(KEY_ID)
    ledger.disable_user("bob.example")
    ledger.change_password("alice.example", OLD_HASH, new_hash)
    return keyring, new_hash


def test_records_come_back_in_order_with_the_sealed_hash_opened(
    recorded: tuple[KeyRing, str],
) -> None:
    keyring, new_hash = recorded
    # Another process (a fresh key ring on the same directory) reads what this one wrote.
    ledger = KeyRing.open(keyring.path).revocations
    records, end = ledger.since(0)
    assert end == ledger.end() > 0
    assert [(r.kind, r.target) for r in records] == [
        ("key", KEY_ID),
        ("user", ledger.account("bob.example")),
        ("password", ledger.account("alice.example")),
    ]
    assert records[2].password_hash == new_hash
    account = ledger.account("alice.example")
    assert records[2].retired == ledger.fingerprint(account, OLD_HASH)
    assert records[2].retired != ledger.fingerprint(account, new_hash)
    assert records[0].password_hash is None and records[-1].end == end
    # From an offset on: the records after it only; past the end (an older ledger): all.
    assert ledger.since(records[0].end)[0] == records[1:]
    assert ledger.since(end)[0] == []
    assert ledger.since(end + 1000)[0] == records


def test_the_file_is_private_and_holds_no_username_and_no_hash(
    recorded: tuple[KeyRing, str],
) -> None:
    keyring, new_hash = recorded
    path = keyring.path / REVOCATIONS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert b"alice" not in data and b"bob" not in data
    for stored in (new_hash, OLD_HASH):
        salt_and_digest = stored.rsplit("$", 2)[-2:]
        assert not any(part.encode() in data for part in salt_and_digest)
    assert b"argon2" not in data
    # Another deployment names the same user differently (the pseudonym is keyed).
    other = KeyRing.open(keyring.path.parent / "other-keys", create=True)
    assert other.revocations.account("alice.example") != keyring.revocations.account(
        "alice.example"
    )


def _lines(keyring: KeyRing) -> list[bytes]:
    return (keyring.path / REVOCATIONS).read_bytes().splitlines(keepends=True)


def _write(keyring: KeyRing, lines: list[bytes]) -> None:
    (keyring.path / REVOCATIONS).write_bytes(b"".join(lines))


@pytest.mark.parametrize("how", ["alter", "forge", "remove-middle", "swap", "reseal"])
def test_tampering_anywhere_is_detected(recorded: tuple[KeyRing, str], how: str) -> None:
    keyring, _ = recorded
    lines = _lines(keyring)
    if how == "alter":  # point the revocation at another key
        lines[0] = lines[0].replace(KEY_ID.encode(), b"fedcba9876543210")
    elif how == "forge":  # a line in the right shape, without the key to MAC it
        lines.append(b"key fedcba9876543210 - " + b"0" * 64 + b"\n")
    elif how == "remove-middle":
        del lines[1]
    elif how == "swap":
        lines[0], lines[1] = lines[1], lines[0]
    else:  # another retired fingerprint under a valid-looking line: the MAC covers it
        kind, target, value, mac = lines[2].split(b" ")
        lines[2] = b" ".join([kind, target, b"0" * 32 + value[32:], mac])
    _write(keyring, lines)
    with pytest.raises(IntegrityError, match="revocation ledger"):
        keyring.revocations.since(0)


def test_a_line_torn_by_a_crash_is_never_read_and_is_cut_by_the_next_append(
    recorded: tuple[KeyRing, str],
) -> None:
    keyring, _ = recorded
    ledger = keyring.revocations
    whole = ledger.end()
    with open(keyring.path / REVOCATIONS, "ab") as handle:
        handle.write(b"key fedcba98765")  # a crash in the middle of a write
    records, end = ledger.since(0)
    assert len(records) == 3 and end == whole
    ledger.revoke_key("fedcba9876543210")
    records, end = ledger.since(0)
    assert [r.target for r in records][-1] == "fedcba9876543210"
    assert end == ledger.end()


def test_a_ledger_readable_by_others_is_refused(recorded: tuple[KeyRing, str]) -> None:
    keyring, _ = recorded
    os.chmod(keyring.path / REVOCATIONS, 0o644)
    with pytest.raises(KeyMaterialError, match="chmod 600"):
        keyring.revocations.since(0)


def test_restrictions_and_their_lifts_are_recorded_by_the_subject_id(keyring: KeyRing) -> None:
    ledger = keyring.revocations
    ledger.restrict_subject("sub_0123456789abcdef")
    ledger.lift_restriction("sub_0123456789abcdef")
    ledger.restrict_subject("legacy:42")  # any id the erasure ledger takes
    records, _ = KeyRing.open(keyring.path).revocations.since(0)
    assert [(r.kind, r.target) for r in records] == [
        ("restrict", "sub_0123456789abcdef"),
        ("lift", "sub_0123456789abcdef"),
        ("restrict", "legacy:42"),
    ]
    with pytest.raises(ValueError, match="subject id"):
        ledger.restrict_subject("two words")  # would break the line's fields
