"""Per-subject key-encryption keys and the erasure ledger, on a real key directory."""

from __future__ import annotations

import os
import stat
import time

import pytest

from facewarden.errors import KeyMaterialError
from facewarden.privacy import Envelope, KeyRing
from facewarden.privacy._subjectkeys import _RECHECK_SECONDS, LEDGER, SUBJECT_KEYS, bucket_of

WHERE = {"table": "subjects", "row": "sub_00000000000000aa", "field": "full_name"}


def test_a_subject_key_wraps_the_data_key_and_its_destruction_is_final(
    keyring: KeyRing, envelope: Envelope
) -> None:
    key = envelope.new_subject_data_key("sub_00000000000000aa")
    assert key.master_key_id == "sk-sub_00000000000000aa"
    sealed = envelope.encrypt_str("Example Person", data_key=key, **WHERE)
    # Another process (a fresh key ring on the same directory) reads it, then erases it.
    other = KeyRing.open(keyring.path)
    assert Envelope(other).decrypt_str(sealed, data_key=key, **WHERE) == "Example Person"
    assert other.destroy_subject_keys(["sub_00000000000000aa"]) == 1
    # The destroying process is refused at once; this one within the recheck time
    # (its cached data key or not).
    with pytest.raises(KeyMaterialError, match="erased"):
        Envelope(other).decrypt_str(sealed, data_key=key, **WHERE)
    time.sleep(_RECHECK_SECONDS + 0.1)
    with pytest.raises(KeyMaterialError, match="erased"):
        envelope.decrypt_str(sealed, data_key=key, **WHERE)
    assert not keyring.has_subject_key("sub_00000000000000aa")
    assert other.destroy_subject_keys(["sub_00000000000000aa"]) == 0  # idempotent


def test_bucket_files_are_private_encrypted_and_bounded(keyring: KeyRing) -> None:
    ids = [f"sub_{i:016x}" for i in range(300)]
    keyring.new_subject_keys(ids)
    folder = keyring.path / SUBJECT_KEYS
    files = sorted(folder.iterdir())
    assert len(files) == len({bucket_of(f"sk-{s}") for s in ids}) <= 4096
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = path.read_bytes()
        assert b"sub_" not in data  # ids and keys only inside the ciphertext
        assert len(data) < 1024  # a few entries per bucket at this size
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    with pytest.raises(KeyMaterialError, match="exists"):
        keyring.new_subject_keys([ids[0]])


def test_master_rotation_reencrypts_the_subject_keys(keyring: KeyRing, envelope: Envelope) -> None:
    key = envelope.new_subject_data_key("sub_00000000000000aa")
    sealed = envelope.encrypt_str("Example Person", data_key=key, **WHERE)
    old = keyring.active_master_id
    new = keyring.add_master_key()
    assert keyring.subject_key_usage() == {old: 1}
    assert keyring.rewrap_subject_keys() == 1
    assert keyring.subject_key_usage() == {new: 1}
    keyring.destroy_master_key(old)
    fresh = Envelope(KeyRing.open(keyring.path))
    assert fresh.decrypt_str(sealed, data_key=key, **WHERE) == "Example Person"
    assert envelope.rewrap(key) is key  # the data key's wrapping does not change


def test_the_ledger_survives_a_torn_line_and_tells_what_is_left_to_destroy(
    keyring: KeyRing,
) -> None:
    keyring.new_subject_keys(["sub_00000000000000aa", "sub_00000000000000bb"])
    end = keyring.record_erasure("sub_00000000000000aa")
    with open(keyring.path / LEDGER, "ab") as ledger:
        ledger.write(b"sub_000000")  # a crash in the middle of the next line
    assert keyring.erasures_since(0) == (["sub_00000000000000aa"], end)
    assert keyring.destroy_erased_keys() == 1
    assert keyring.destroy_erased_keys() == 0
    assert keyring.has_subject_key("sub_00000000000000bb")
    end = keyring.record_erasure("sub_00000000000000bb")  # cuts the torn line off
    assert keyring.erasures_since(0) == (
        ["sub_00000000000000aa", "sub_00000000000000bb"],
        end,
    )
    assert os.stat(keyring.path / LEDGER).st_size == end
    assert keyring.destroy_erased_keys() == 1
    assert not keyring.has_subject_key("sub_00000000000000bb")
    # A key directory reopened afterwards still loads (the new files are all private).
    assert KeyRing.open(keyring.path).erasure_ledger_end == end
