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


def test_a_ring_loaded_before_a_rotation_seals_a_new_bucket_with_the_new_master(
    keyring: KeyRing,
) -> None:
    # Found by hand: a server (this ring, loaded at its start) sealed a new bucket
    # file with the master key it had loaded, after `facewarden keys rotate` and
    # `keys destroy` in another process: the new subject's KEK was lost with the
    # destroyed key, and the deployment no longer opened. (A bucket that exists is
    # read before it is rewritten, and its new master key makes the ring reload.)
    keyring.new_subject_keys(["sub_00000000000000aa"])
    other = KeyRing.open(keyring.path)  # the command line, in another process
    old = other.active_master_id
    new = other.add_master_key()
    other.rewrap_subject_keys()
    other.destroy_master_key(old)
    newcomer = next(
        f"sub_{n:016x}"
        for n in range(0xAB, 0x10000)
        if bucket_of(KeyRing.subject_key_id(f"sub_{n:016x}"))
        != bucket_of(KeyRing.subject_key_id("sub_00000000000000aa"))
    )
    keyring.new_subject_keys([newcomer])
    reopened = KeyRing.open(keyring.path)
    assert reopened.has_subject_key(newcomer)
    assert reopened.subject_key_usage() == {new: 2}


def _ids(first: int, count: int) -> list[str]:
    return [f"sub_{n:016x}" for n in range(first, first + count)]


@pytest.mark.parametrize("count", [2, 4000])  # 4000 ids (84 KB): a line longer than one tail read
def test_a_batch_of_erasures_is_one_record_read_whole_or_not_at_all(
    keyring: KeyRing, count: int
) -> None:
    single = keyring.record_erasure("sub_00000000000000aa")
    batch = _ids(0x100, count)
    end = keyring.record_erasures(batch)
    assert keyring.erasures_since(0) == (["sub_00000000000000aa", *batch], end)
    assert keyring.erasures_since(single) == (batch, end)
    line = (keyring.path / LEDGER).read_bytes()[single:]
    assert line.startswith(b"+") and line.count(b"\n") == 1
    # A crash in the middle of writing the next batch: no final newline, nothing read.
    torn = keyring.record_erasures(_ids(0x10000, count))
    with open(keyring.path / LEDGER, "r+b") as ledger:
        ledger.truncate(torn - 2)
    assert keyring.erasures_since(0) == (["sub_00000000000000aa", *batch], end)
    # The next record cuts the torn one off, however long it was.
    after = keyring.record_erasures(["sub_00000000000000bb", "sub_00000000000000cc"])
    ids, read_to = keyring.erasures_since(end)
    assert (ids, read_to) == (["sub_00000000000000bb", "sub_00000000000000cc"], after)


def test_a_batch_record_damaged_in_its_middle_names_nobody(keyring: KeyRing) -> None:
    start = keyring.record_erasure("sub_00000000000000aa")
    end = keyring.record_erasures(_ids(0x100, 5))
    data = bytearray((keyring.path / LEDGER).read_bytes())
    data[start + 40] ^= 0x01  # one id changed: as torn blocks of a write would
    (keyring.path / LEDGER).write_bytes(bytes(data))
    assert keyring.erasures_since(0) == (["sub_00000000000000aa"], end)


def test_an_empty_or_invalid_batch_is_refused(keyring: KeyRing) -> None:
    with pytest.raises(ValueError, match="no subject"):
        keyring.record_erasures([])
    with pytest.raises(ValueError, match="invalid subject id"):
        keyring.record_erasures(["sub_00000000000000aa", "two words"])
    assert keyring.erasure_ledger_end == 0


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
