"""The key directory: private modes, refusals, rotation and crash leftovers (promises 2, 8, 9)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from facewarden.errors import KeyMaterialError
from facewarden.privacy import KEY_BYTES, KeyRing


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def key_file(ring: KeyRing, name: str) -> Path:
    """Resolve a symbolic name ("master", "template") or a literal file name."""
    names = {"master": f"{ring.active_master_id}.key", "template": f"{ring.template_key_id}.key"}
    return ring.path / names.get(name, name)


def test_create_makes_a_0700_directory_of_0600_files(key_dir: Path) -> None:
    ring = KeyRing.open(key_dir, create=True)
    assert mode(key_dir) == 0o700
    names = sorted(os.listdir(key_dir))
    assert names == sorted(
        [
            ".lock",
            "audit.key",
            "blind-index.key",
            "manifest.json",
            f"{ring.active_master_id}.key",
            f"{ring.template_key_id}.key",
        ]
    )
    for name in names:
        assert mode(key_dir / name) == 0o600, name
    for name in names:
        if name.endswith(".key"):
            assert (key_dir / name).stat().st_size == KEY_BYTES
    assert ring.active_master_id.startswith("mk-") and len(ring.active_master_id) == 11
    assert ring.template_key_id.startswith("tk-")
    assert ring.staged_template_key_id is None and ring.staged_template_seed is None


def test_a_permissive_umask_still_gives_private_modes(key_dir: Path) -> None:
    # os.open's mode is filtered by the umask; the code must not rely on it.
    with umask(0):
        ring = KeyRing.open(key_dir, create=True)
        ring.add_master_key()
    assert mode(key_dir) == 0o700
    assert {mode(p) for p in key_dir.iterdir()} == {0o600}


def test_reopening_gives_the_same_keys(keyring: KeyRing) -> None:
    again = KeyRing.open(keyring.path)
    assert again.active_master_id == keyring.active_master_id
    assert again.master_key(again.active_master_id) == keyring.master_key(keyring.active_master_id)
    assert again.blind_index_key == keyring.blind_index_key
    assert again.audit_key == keyring.audit_key
    assert again.template_seed == keyring.template_seed
    assert again.template_key_id == keyring.template_key_id


def test_two_installs_share_no_secret(tmp_path: Path) -> None:
    a = KeyRing.open(tmp_path / "a", create=True)
    b = KeyRing.open(tmp_path / "b", create=True)
    secrets_a = {a.master_key(a.active_master_id), a.blind_index_key, a.audit_key, a.template_seed}
    secrets_b = {b.master_key(b.active_master_id), b.blind_index_key, b.audit_key, b.template_seed}
    assert len(secrets_a | secrets_b) == 8


def test_repr_shows_no_key_material(keyring: KeyRing) -> None:
    text = repr(keyring)
    for secret in (keyring.master_key(keyring.active_master_id), keyring.audit_key):
        assert secret.hex() not in text
        assert repr(secret) not in text


def test_missing_directory_is_refused_with_how_to_initialise(key_dir: Path) -> None:
    with pytest.raises(KeyMaterialError, match=r"does not exist.*keys init") as info:
        KeyRing.open(key_dir)
    assert info.value.exit_code == 2
    assert not key_dir.exists()


@pytest.mark.parametrize(
    "name", ["master", "template", "blind-index.key", "audit.key", "manifest.json"]
)
@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_access_is_refused(
    keyring: KeyRing, name: str, bad_mode: int
) -> None:
    path = key_file(keyring, name)
    path.chmod(bad_mode)
    with pytest.raises(KeyMaterialError) as info:
        KeyRing.open(keyring.path)
    assert str(path) in info.value.message
    assert f"chmod 600 {path}" in info.value.message


@pytest.mark.parametrize("bad_mode", [0o755, 0o750, 0o701])
def test_a_directory_others_can_access_is_refused(keyring: KeyRing, bad_mode: int) -> None:
    keyring.path.chmod(bad_mode)
    with pytest.raises(KeyMaterialError, match=re.escape(f"chmod 700 {keyring.path}")):
        KeyRing.open(keyring.path)


def test_an_existing_open_directory_is_not_initialised(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o755)
    key_dir.chmod(0o755)
    with pytest.raises(KeyMaterialError, match="chmod 700"):
        KeyRing.open(key_dir, create=True)
    assert list(key_dir.iterdir()) == []


def test_an_empty_private_directory_is_initialised(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    ring = KeyRing.open(key_dir, create=True)
    assert (key_dir / "manifest.json").exists() and ring.active_master_id in ring.master_key_ids


def test_a_directory_of_unknown_files_is_not_initialised(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    (key_dir / "notes.txt").write_text("mine")
    with pytest.raises(KeyMaterialError, match="not empty"):
        KeyRing.open(key_dir, create=True)
    assert (key_dir / "notes.txt").read_text() == "mine"


def test_an_interrupted_initialisation_is_redone(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    leftover = key_dir / "mk-0123abcd.key"
    fd = os.open(leftover, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"\x01" * 5)  # half-written, then the power went
    os.close(fd)
    ring = KeyRing.open(key_dir, create=True)
    assert not leftover.exists()
    assert ring.master_key_ids == (ring.active_master_id,)


@pytest.mark.parametrize("name", ["master", "template", "blind-index.key", "audit.key"])
@pytest.mark.parametrize("content", [b"", b"\x00" * 31, b"\x00" * 33, b"\x00" * 64])
def test_a_corrupt_key_file_is_refused(keyring: KeyRing, name: str, content: bytes) -> None:
    path = key_file(keyring, name)
    path.write_bytes(content)
    with pytest.raises(KeyMaterialError, match=re.escape(f"{path} is corrupt")):
        KeyRing.open(keyring.path)


def test_a_missing_active_key_file_is_refused(keyring: KeyRing) -> None:
    key_file(keyring, "template").unlink()
    with pytest.raises(KeyMaterialError, match="missing; restore it from backup"):
        KeyRing.open(keyring.path)


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"format": 1}', b'{"format": 9}'])
def test_a_corrupt_manifest_is_refused(keyring: KeyRing, content: bytes) -> None:
    (keyring.path / "manifest.json").write_bytes(content)
    with pytest.raises(KeyMaterialError, match=r"manifest\.json"):
        KeyRing.open(keyring.path)


def test_a_symlinked_key_file_is_refused(keyring: KeyRing, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.key"
    outside.write_bytes(b"\x00" * KEY_BYTES)
    outside.chmod(0o600)
    path = key_file(keyring, "audit.key")
    path.unlink()
    path.symlink_to(outside)
    with pytest.raises(KeyMaterialError, match="symbolic link"):
        KeyRing.open(keyring.path)


def test_master_key_rotation_on_disk(keyring: KeyRing) -> None:
    old = keyring.active_master_id
    new = keyring.add_master_key()
    assert new != old and keyring.active_master_id == new
    assert set(keyring.master_key_ids) == {old, new}
    assert mode(keyring.path / f"{new}.key") == 0o600
    assert KeyRing.open(keyring.path).active_master_id == new

    with pytest.raises(KeyMaterialError, match="active master key"):
        keyring.destroy_master_key(new)
    with pytest.raises(KeyMaterialError, match="not in"):
        keyring.destroy_master_key("mk-00000000")

    keyring.destroy_master_key(old)
    assert keyring.master_key_ids == (new,)
    assert not (keyring.path / f"{old}.key").exists()
    with pytest.raises(KeyMaterialError, match="no longer be unwrapped"):
        keyring.master_key(old)
    assert KeyRing.open(keyring.path).master_key_ids == (new,)


def test_template_seed_is_staged_then_committed(keyring: KeyRing) -> None:
    old_id, old_seed = keyring.template_key_id, keyring.template_seed
    staged = keyring.new_template_seed()
    assert keyring.template_key_id == old_id and keyring.template_seed == old_seed
    assert keyring.staged_template_key_id == staged
    assert keyring.staged_template_seed not in (None, old_seed)

    # A crash now: a fresh process still sees both seeds and can decide.
    after_crash = KeyRing.open(keyring.path)
    assert after_crash.template_key_id == old_id
    assert after_crash.staged_template_key_id == staged

    with pytest.raises(KeyMaterialError, match="already staged"):
        keyring.new_template_seed()
    with pytest.raises(KeyMaterialError, match="cannot commit"):
        keyring.commit_template_seed("tk-00000000")

    new_seed = keyring.staged_template_seed
    keyring.commit_template_seed(staged)
    assert keyring.template_key_id == staged and keyring.template_seed == new_seed
    assert keyring.staged_template_key_id is None
    assert not (keyring.path / f"{old_id}.key").exists()  # the old transform is gone for good
    assert KeyRing.open(keyring.path).template_key_id == staged
    with pytest.raises(KeyMaterialError, match="cannot commit"):
        keyring.commit_template_seed()


def test_a_staged_template_seed_can_be_discarded(keyring: KeyRing) -> None:
    active = keyring.template_key_id
    staged = keyring.new_template_seed()
    keyring.discard_template_seed()
    keyring.discard_template_seed()  # idempotent: crash recovery may call it twice
    assert keyring.template_key_id == active and keyring.staged_template_key_id is None
    assert not (keyring.path / f"{staged}.key").exists()


def test_leftovers_of_an_interrupted_change_are_swept(keyring: KeyRing) -> None:
    # What a crash leaves: a temp file, and a seed written before its manifest update.
    for name in (".tmp-0123456789abcdef", "tk-deadbeef.key"):
        fd = os.open(keyring.path / name, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"\x07" * KEY_BYTES)
        os.close(fd)
    assert KeyRing.open(keyring.path).template_key_id == keyring.template_key_id
    keyring.new_template_seed()
    left = set(os.listdir(keyring.path))
    assert ".tmp-0123456789abcdef" not in left and "tk-deadbeef.key" not in left


def test_reload_sees_another_process_changes(keyring: KeyRing) -> None:
    other = KeyRing.open(keyring.path)
    new = other.add_master_key()
    assert keyring.active_master_id != new
    keyring.reload()
    assert keyring.active_master_id == new


def test_a_change_builds_on_what_another_process_did(keyring: KeyRing) -> None:
    other = KeyRing.open(keyring.path)
    staged = other.new_template_seed()
    keyring.add_master_key()  # stale in memory, but must not drop the staged seed
    assert keyring.staged_template_key_id == staged
    assert KeyRing.open(keyring.path).staged_template_key_id == staged


def test_missing_parents_are_created_private(tmp_path: Path) -> None:
    ring = KeyRing.open(tmp_path / "etc" / "facewarden" / "keys", create=True)
    assert mode(ring.path) == 0o700
    assert mode(ring.path.parent) & 0o077 == 0


def test_a_file_where_the_directory_should_be_is_refused(key_dir: Path) -> None:
    key_dir.write_bytes(b"")
    with pytest.raises(KeyMaterialError, match="not a directory"):
        KeyRing.open(key_dir, create=True)
