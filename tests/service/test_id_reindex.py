"""Blind-index tokens stored under an older ID-number normalisation are recomputed at open.

The deployment is made as an older facewarden left it: a subject enrolled
with ``P`` U+2212 ``1`` holds the token of that spelling as the old rule
normalised it (the minus sign kept), and the meta table names no
normalisation version. Opening it again must move the token to the current
rule, so that ``P-1`` is then refused as the same document.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from facewarden.errors import ConflictError
from facewarden.privacy import ManualClock
from facewarden.privacy.crypto import ID_NORMALISATION
from facewarden.service import Warden
from facewarden.service.id_reindex import META_KEY

from ._data import KNN
from .conftest import make_settings

OLD_SPELLING = "P\u22121"


def _old_token(warden: Warden, normalised_by_the_old_rule: str) -> str:
    key = warden._ctx.keyring.blind_index_key
    message = b"id_number\x00" + normalised_by_the_old_rule.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _migrations(warden: Warden) -> int:
    entries = warden.audit.entries(limit=100)
    return sum(entry.action == "subjects.id_index_migrated" for entry in entries)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_tokens_of_an_older_normalisation_are_recomputed_at_open(
    tmp_path: Path,
    clock: ManualClock,
    enroll: Callable[..., object],
    faces_dir: object,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    extra: dict[str, object] = {}
    if backend == "postgres":
        pg_server = request.getfixturevalue("pg_server")
        extra["database_url"] = pg_server.create_database(f"r_{secrets.token_hex(6)}")
    settings = make_settings(tmp_path / "site", **extra)
    with Warden.open(settings, clock=clock, create=True) as warden:
        assert warden.store.get_meta(META_KEY) == ID_NORMALISATION
        enrolled = enroll(
            warden, "Barack Obama", [KNN / "train" / "obama" / "obama2.jpg"], id_number=OLD_SPELLING
        )
        subject_id = enrolled.subject_id  # type: ignore[attr-defined]
        before = warden.store.get_subject(subject_id)
        assert before is not None
        with warden.store.transaction() as tx:  # as the older version stored it
            tx.update_subject(
                subject_id, updated_at=before.updated_at, id_index=_old_token(warden, OLD_SPELLING)
            )
            tx.set_meta(META_KEY, "1")
    with Warden.open(settings, clock=clock) as warden:
        after = warden.store.get_subject(subject_id)
        assert after is not None
        assert after.id_index == warden._ctx.envelope.blind_index("P-1", kind="id_number")
        assert after.updated_at == before.updated_at  # retention still counts from the edit
        assert warden.store.get_meta(META_KEY) == ID_NORMALISATION
        assert _migrations(warden) == 1
        with pytest.raises(ConflictError, match="already enrolled with this ID number"):
            enroll(warden, "Obama again", [KNN / "train" / "biden" / "biden.jpg"], id_number="P-1")
        assert warden.audit.verify().ok
    with Warden.open(settings, clock=clock) as warden:  # done once: nothing more to do
        assert warden.store.get_subject(subject_id) == after
        assert _migrations(warden) == 1
