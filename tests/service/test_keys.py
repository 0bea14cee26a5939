"""Key rotation, destruction, and settling an interrupted template rotation at open."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from facewarden.errors import ConflictError, KeyMaterialError
from facewarden.privacy import KeyRing, ManualClock
from facewarden.service import Warden

from ._data import KNN
from .conftest import make_settings

OBAMA = sorted((KNN / "train" / "obama").iterdir())
PROBE = KNN / "test" / "obama1.jpg"


@pytest.fixture
def enrolled(
    tmp_path: Path, clock: ManualClock, enroll: Callable[..., object], faces_dir: Path
) -> tuple[Warden, str]:
    warden = Warden.open(make_settings(tmp_path), clock=clock, create=True)
    warden.watchlists.create("staff", purpose="t", lawful_basis="t")
    sid = enroll(warden, "Barack Obama", OBAMA, watchlists=["staff"]).subject_id  # type: ignore[attr-defined]
    return warden, sid


def test_master_rotation_rewraps_every_data_key_then_the_old_key_can_go(
    enrolled: tuple[Warden, str],
) -> None:
    warden, sid = enrolled
    old = warden.keys.status().active_master_id
    rotation = warden.keys.rotate_master()
    assert rotation.retired_key_ids == (old,) and rotation.rewrapped == 1
    status = warden.keys.status()
    assert status.data_keys_by_master == {rotation.new_key_id: 2}  # the subject + key check
    with pytest.raises(KeyMaterialError, match="active"):
        warden.keys.destroy_master(rotation.new_key_id)
    warden.keys.destroy_master(old)
    assert warden.keys.status().master_key_ids == (rotation.new_key_id,)
    settings = warden.settings
    warden.close()
    with Warden.open(settings) as reopened:  # everything still decrypts with the new key alone
        assert reopened.registry.get(sid).record.full_name == "Barack Obama"
        assert reopened.recognition.identify(PROBE, "staff").matched_subjects == (sid,)


def test_a_master_key_still_in_use_is_not_destroyed(enrolled: tuple[Warden, str]) -> None:
    warden, sid = enrolled
    old = warden.keys.status().active_master_id
    KeyRing.open(warden.key_dir).add_master_key()  # added, but nothing re-wrapped
    with pytest.raises(ConflictError, match="still wrapped by"):
        warden.keys.destroy_master(old)
    assert warden.registry.get(sid).record.full_name == "Barack Obama"
    warden.close()


def test_template_rotation_interrupted_before_the_database_commit_is_discarded(
    enrolled: tuple[Warden, str],
) -> None:
    warden, sid = enrolled
    settings = warden.settings
    warden.close()
    keyring = KeyRing.open(settings.resolved_key_dir)
    active = keyring.template_key_id
    keyring.new_template_seed()  # a rotation that died before touching the database
    with Warden.open(settings) as reopened:
        keyring.reload()
        assert keyring.template_key_id == active and keyring.staged_template_key_id is None
        assert reopened.recognition.identify(PROBE, "staff").matched_subjects == (sid,)


def test_template_rotation_interrupted_after_the_database_commit_is_completed(
    enrolled: tuple[Warden, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    warden, sid = enrolled
    settings = warden.settings

    def crash(self: KeyRing, key_id: str | None = None) -> None:
        raise KeyboardInterrupt  # the process dies between the two commits

    monkeypatch.setattr(KeyRing, "commit_template_seed", crash)
    with pytest.raises(KeyboardInterrupt):
        warden.keys.rotate_templates()
    warden.close()
    monkeypatch.undo()
    keyring = KeyRing.open(settings.resolved_key_dir)
    staged = keyring.staged_template_key_id
    assert staged is not None
    with Warden.open(settings) as reopened:
        keyring.reload()
        assert keyring.template_key_id == staged and keyring.staged_template_key_id is None
        assert reopened.recognition.identify(PROBE, "staff").matched_subjects == (sid,)


BIDEN = sorted((KNN / "train" / "biden").iterdir())


def test_a_running_server_follows_a_rotation_made_by_another_process(
    enrolled: tuple[Warden, str], clock: ManualClock, enroll: Callable[..., object]
) -> None:
    # Found by hand, as the README has it: with `make run` serving, `facewarden keys
    # rotate` then `keys destroy OLD` (which rotate says is "no longer needed") from
    # the command line; the server kept wrapping with the old master key it held in
    # memory, so the next enrollment it acknowledged was unreadable, and the
    # deployment no longer opened ("master key ... is not in ...").
    server, obama = enrolled
    settings = server.settings
    with Warden.open(settings, clock=clock, actor="cli:operator") as cli:
        old = cli.keys.status().active_master_id
        rotation = cli.keys.rotate_master()
        cli.keys.destroy_master(old)
    biden = enroll(server, "Joe Biden", BIDEN[:1], watchlists=["staff"]).subject_id  # type: ignore[attr-defined]
    server.registry.erase(obama)
    server.close()
    with Warden.open(settings, clock=clock) as reopened:
        assert reopened.registry.get(biden).record.full_name == "Joe Biden"
        assert reopened.keys.status().data_keys_by_master == {rotation.new_key_id: 2}
        assert reopened.integrity_check() == []
        reopened.keys.rotate_master()  # reads every bucket again


def test_the_integrity_check_names_subjects_whose_keys_the_key_directory_lacks(
    enrolled: tuple[Warden, str], clock: ManualClock, enroll: Callable[..., object]
) -> None:
    # Found by hand: after a new subject's key was lost (a key directory restored from
    # a copy older than the subject, which docs/postgres.md warns of; a bucket sealed
    # with a destroyed master key), `facewarden check` said "ok" while `subjects list`
    # failed on the missing key.
    warden, obama = enrolled
    settings = warden.settings
    keys = settings.resolved_key_dir
    copy = keys.with_name("keys-copy")
    shutil.copytree(keys, copy)
    biden = enroll(warden, "Joe Biden", BIDEN[:1], watchlists=["staff"]).subject_id  # type: ignore[attr-defined]
    assert warden.integrity_check() == []
    warden.close()
    shutil.rmtree(keys)
    shutil.copytree(copy, keys)
    with Warden.open(settings, clock=clock) as restored:
        problems = restored.integrity_check()
        assert len(problems) == 1 and biden in problems[0] and obama not in problems[0]
        assert "key" in problems[0] and "key directory" in problems[0]
        assert restored.registry.get(obama).record.full_name == "Barack Obama"
