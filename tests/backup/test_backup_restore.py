"""Encrypted backup archives and their restore, on SQLite and on PostgreSQL (promise 22).

A deployment enrolls real people (dlib's johns), identifies probe photos, and
writes an archive; the restore goes into a fresh deployment (a new data
directory or a new database, with the key directory restored beside it) and
must give exactly the same identification results. Damaged, tampered,
truncated or extended archives, a key directory without the archive's master
key, and a target that already holds a database are refused with a clear
error, before anything is written.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.config import Settings
from facewarden.errors import (
    AuthenticationError,
    ConflictError,
    FacewardenError,
    IntegrityError,
    KeyMaterialError,
)
from facewarden.privacy.keys import KeyRing
from facewarden.service import Warden, private_files
from facewarden.service.backup import restore, verify_archive
from facewarden.service.ratelimit import AuthLimiter
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.types import Face

from ._deployments import MARKER, Deploy, enroll_all, fresh, identify


@pytest.fixture
def backed_up(
    deploy: Deploy, johns: dict[str, list[list[Face]]], tmp_path: Path
) -> Iterator[tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]]]:
    """A deployment with the johns enrolled, its archive, their ids and the results before."""
    settings = deploy(tmp_path / "live")
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        ids = enroll_all(warden, johns)
        before = identify(warden, johns)
        archive = tmp_path / "deployment.fwbackup"
        report = warden.backup_archive(archive)
        assert report.payload_bytes > 0 and archive.stat().st_mode & 0o777 == 0o600
        yield settings, archive, ids, before


def test_restore_reproduces_identification_results_exactly(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
    deploy: Deploy,
    johns: dict[str, list[list[Face]]],
    tmp_path: Path,
) -> None:
    settings, archive, ids, before = backed_up
    target = fresh(deploy, settings, tmp_path / "restored")
    report = restore(archive, target)
    assert report.subjects == len(ids)
    with Warden.open(target, actor="test:restored") as warden:
        assert identify(warden, johns) == before
        assert warden.integrity_check() == []
        actions = [e.action for e in warden.audit.entries(after_seq=0, limit=1000)]
        # The restored log ends with the re-anchoring and the restore, then this identification.
        assert actions[-2:] == ["restore", "identify"], actions[-4:]


def test_sessions_open_when_the_backup_was_taken_do_not_survive_the_restore(
    deploy: Deploy, johns: dict[str, list[list[Face]]], tmp_path: Path
) -> None:
    """A session ended after the backup (sign-out, password change) must not come back with it.

    The archive holds the sessions table; a restore that kept it would revive a
    stolen cookie its owner had ended. Everyone signs in again instead.
    """
    settings = deploy(tmp_path / "live")
    archive = tmp_path / "deployment.fwbackup"
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        warden.access.create_user("alice", "a long enough passphrase", "auditor")
        limiter = AuthLimiter.from_settings(settings).logins
        session = warden.access.login(
            "alice", "a long enough passphrase", client="192.0.2.1", limiter=limiter
        )
        warden.backup_archive(archive)
        warden.access.logout(session.token)
    target = fresh(deploy, settings, tmp_path / "restored")
    restore(archive, target)
    with Warden.open(target, actor="test:restored") as warden:
        with pytest.raises(AuthenticationError):
            warden.access.session(session.token)
        restored = [e for e in warden.audit.entries(limit=1000) if e.action == "restore"]
        assert restored[-1].details["sessions_ended"] == 1
        limiter = AuthLimiter.from_settings(target).logins
        assert warden.access.login(
            "alice", "a long enough passphrase", client="192.0.2.1", limiter=limiter
        )


def test_erasures_after_the_backup_stay_erased_after_restore(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
    deploy: Deploy,
    johns: dict[str, list[list[Face]]],
    tmp_path: Path,
) -> None:
    settings, archive, ids, _ = backed_up
    erased = ids["John_Salley"]
    with Warden.open(settings, actor="test:backup") as warden:
        warden.registry.erase(erased, purpose="request of the person")
    target = fresh(deploy, settings, tmp_path / "restored")
    report = restore(archive, target)
    assert report.erasures_reapplied == 1 and report.subjects == len(ids) - 1
    with Warden.open(target, actor="test:restored") as warden:
        assert warden.store.get_subject(erased) is None
        matched = {s for face in identify(warden, johns) for s, _ in face}
        assert erased not in matched
        assert warden.integrity_check() == []


def _damage(archive: Path, how: str) -> None:
    data = bytearray(archive.read_bytes())
    if how == "flip-payload":
        data[-40] ^= 0x01
    elif how == "flip-first-chunk":
        (header_length,) = struct.unpack(">I", data[8:12])
        data[12 + header_length + 4 + 100] ^= 0x01
    elif how == "flip-header":
        data[len(b"FWBACKUP") + 4 + 20] ^= 0x01
    elif how == "truncate-half":
        del data[len(data) // 2 :]
    elif how == "drop-last-chunk":
        del data[-100:]
    elif how == "append":
        data += b"\x00\x00\x00\x10" + bytes(16)
    elif how == "not-an-archive":
        data[:8] = b"SQLite f"
    elif how == "nested-header":  # JSON nested past the parser's recursion limit
        nested = b"[" * 60_000
        data[8:] = struct.pack(">I", len(nested)) + nested
    elif how == "other-store":  # the header claims the other store, its length kept right
        (length,) = struct.unpack(">I", data[8:12])
        header = bytes(data[12 : 12 + length])
        swapped = header.replace(b'"store": "sqlite"', b'"store": "SWAP"')
        swapped = swapped.replace(b'"store": "postgres"', b'"store": "sqlite"')
        swapped = swapped.replace(b'"store": "SWAP"', b'"store": "postgres"')
        assert swapped != header
        data[8 : 12 + length] = struct.pack(">I", len(swapped)) + swapped
    elif how in ("salt-not-hex", "prefix-not-hex"):
        # One damaged character in a hex field of the header (read before any chunk is checked).
        field = b'"salt": "' if how == "salt-not-hex" else b'"nonce_prefix": "'
        at = data.index(field) + len(field)
        data[at] = ord("z")
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("flip-payload", "fails its authentication"),
        ("flip-first-chunk", "chunk 0 of the archive fails its authentication"),
        ("flip-header", "header|authentication"),
        # Authenticated before it is believed: tampering, not "the other store".
        ("other-store", "chunk 0 of the archive fails its authentication"),
        ("truncate-half", "truncated"),
        ("drop-last-chunk", "truncated"),
        ("append", "goes on after its last chunk"),
        ("not-an-archive", "not a facewarden backup archive"),
        ("salt-not-hex", "header is damaged"),
        ("nested-header", "header is damaged"),
        ("prefix-not-hex", "header is damaged"),
    ],
)
def test_damaged_archives_are_refused_before_anything_is_written(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
    deploy: Deploy,
    tmp_path: Path,
    how: str,
    message: str,
) -> None:
    settings, archive, _, _ = backed_up
    _damage(archive, how)
    target = fresh(deploy, settings, tmp_path / "restored")
    with pytest.raises(IntegrityError, match=message):
        restore(archive, target)
    if target.database_url is None:
        assert not (target.data_dir).exists() or not any(target.data_dir.iterdir())
    else:
        from facewarden.store._pg_admin import connect

        assert target.database_url is not None
        with connect(target.database_url) as conn:
            row = conn.execute("SELECT to_regclass('schema_version') IS NULL AS empty").fetchone()
        assert row is not None and row["empty"], "a refused restore left tables behind"


@pytest.mark.parametrize("deploy", ["sqlite"], indirect=True)  # PostgreSQL: a transaction
def test_a_failed_restore_leaves_no_temporary_file_where_unnamed_files_are_unsupported(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
    deploy: Deploy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``O_TMPFILE`` the database is decrypted into a hidden named file: removed on error.

    The trailer is altered, so the whole payload is decrypted and written
    before the restore fails.
    """
    settings, archive, _, _ = backed_up
    monkeypatch.setattr(private_files, "_open_unnamed", lambda directory: (-1, None))
    _damage(archive, "flip-payload")
    target = fresh(deploy, settings, tmp_path / "restored")
    with pytest.raises(IntegrityError, match=r"chunk \d+ of the archive fails"):
        restore(archive, target)
    assert list(target.data_dir.iterdir()) == []


@pytest.mark.parametrize("deploy", ["sqlite"], indirect=True)  # PostgreSQL: no data directory
def test_a_data_directory_that_cannot_be_made_is_a_typed_error(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
    deploy: Deploy,
    tmp_path: Path,
) -> None:
    """The restore's data directory lies under a file: a clear error, not an OSError's trace."""
    settings, archive, _, _ = backed_up
    target = fresh(deploy, settings, tmp_path / "restored")
    (tmp_path / "a-file").write_bytes(b"not a folder")
    target = target.model_copy(update={"data_dir": tmp_path / "a-file" / "data"})
    with pytest.raises(FacewardenError, match=r"restore into .* failed: Not a directory"):
        restore(archive, target)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc/self/mem")
def test_an_archive_that_cannot_be_read_is_a_typed_error(tmp_path: Path) -> None:
    """Reading /proc/self/mem at offset 0 fails with EIO: as a bad disk would, at the header."""
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    keyring = KeyRing.open(settings.resolved_key_dir, create=True)
    unreadable = Path("/proc/self/mem")
    with pytest.raises(FacewardenError, match=r"cannot read the archive .*Input/output error"):
        verify_archive(unreadable, keyring)
    with pytest.raises(FacewardenError, match=r"cannot read the archive .*Input/output error"):
        restore(unreadable, settings)
    assert not settings.data_dir.exists()


def test_a_key_directory_without_the_archives_master_key_is_refused(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
    deploy: Deploy,
    tmp_path: Path,
) -> None:
    _, archive, _, _ = backed_up
    stranger = deploy(tmp_path / "stranger")
    KeyRing.open(stranger.resolved_key_dir, create=True)
    with pytest.raises(KeyMaterialError, match="does not hold"):
        restore(archive, stranger)


def test_a_missing_key_directory_is_refused_with_the_way_to_restore_it(tmp_path: Path) -> None:
    # Found by hand: restoring on a new machine before copying the key
    # directory back said "initialise it with `facewarden keys init`": fresh
    # keys, which can never read the archive.
    archive = tmp_path / "site.fwbackup"
    archive.write_bytes(b"FWBK" + bytes(60))
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    with pytest.raises(KeyMaterialError) as raised:
        restore(archive, settings)
    message = raised.value.message
    assert "keys init" not in message and "KeyRing" not in message
    assert "restore" in message and str(settings.resolved_key_dir) in message
    assert not settings.resolved_key_dir.exists() and not settings.data_dir.exists()
    env = {
        "FACEWARDEN_DATA_DIR": str(settings.data_dir),
        "FACEWARDEN_KEY_DIR": str(tmp_path / "keys"),
    }
    result = CliRunner().invoke(cli, ["restore", str(archive)], env=env)
    assert result.exit_code == 2 and result.stderr.strip() == f"error: {message}"


def test_a_genuine_archive_of_the_other_store_is_refused_as_such(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    settings, archive, _, _ = backed_up
    url = None
    if settings.database_url is None:  # a SQLite archive, restored into PostgreSQL
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        url = server.create_database(f"other_{secrets.token_hex(6)}")
    target = Settings(
        data_dir=tmp_path / "other" / "data",
        key_dir=settings.resolved_key_dir,
        workers=1,
        database_url=url,
    )
    theirs = "postgres" if url is None else "sqlite"
    with pytest.raises(ConflictError, match=f"the archive holds a {theirs} database"):
        restore(archive, target)
    assert not target.data_dir.exists() or not any(target.data_dir.iterdir())


def test_restore_refuses_a_target_that_holds_a_database(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
) -> None:
    settings, archive, _, _ = backed_up
    with pytest.raises(ConflictError, match="restore into a new"):
        restore(archive, settings)


def test_the_archive_holds_no_plaintext_and_no_key(
    backed_up: tuple[Settings, Path, dict[str, str], list[list[tuple[str, float]]]],
) -> None:
    settings, archive, ids, _ = backed_up
    data = archive.read_bytes()
    ring = KeyRing.open(settings.resolved_key_dir)
    secrets_held = [ring.master_key(k) for k in ring.master_key_ids]
    secrets_held += [ring.template_seed, ring.blind_index_key, ring.audit_key]
    assert MARKER.encode() not in data
    assert not [s for s in secrets_held if s in data]
    assert not [i for i in ids.values() if i.encode() in data]  # even ids are encrypted
    summary = verify_archive(archive, ring)
    assert summary.header["master_key_id"] == ring.active_master_id and summary.entry_bytes


def test_backup_and_restore_on_the_command_line(
    johns: dict[str, list[list[Face]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = Settings(data_dir=tmp_path / "live", key_dir=tmp_path / "keys", enroll_mode="fast")
    with Warden.open(live, create=True, actor="test:cli") as warden:
        enroll_all(warden, johns)
    runner = CliRunner()
    archive = tmp_path / "live.fwbackup"

    def run(data_dir: Path, *args: str) -> object:
        env = {"FACEWARDEN_DATA_DIR": str(data_dir), "FACEWARDEN_KEY_DIR": str(tmp_path / "keys")}
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    made = run(tmp_path / "live", "backup", str(archive))
    assert made.exit_code == 0 and "encrypted under master key" in made.output
    again = run(tmp_path / "live", "backup", str(archive))
    assert again.exit_code == 1 and "exists" in again.output + again.stderr
    restored = run(tmp_path / "restored", "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert f"{len(johns)} subject(s)" in restored.output
    archive.write_bytes(archive.read_bytes()[:-7])
    broken = run(tmp_path / "other", "restore", str(archive))
    assert broken.exit_code == 1 and "truncated" in broken.stderr
    assert "Traceback" not in broken.output + broken.stderr
