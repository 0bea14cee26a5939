"""`facewarden restore` of an older backup, then `facewarden serve`: revoked access stays revoked.

The served API (a real ``facewarden serve`` process on loopback) refuses an
API key revoked after the backup, a user disabled after it, and a password
changed after it, from its first request on: the revocation ledger is
re-applied when the deployment opens, before the server listens.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.config import Settings
from facewarden.privacy.revocations import REVOCATIONS
from facewarden.service import Warden

from .test_serve_postgres import start_serve

OLD, NEW = "the passphrase from before", "the passphrase chosen after"


def test_a_restored_revoked_key_disabled_user_and_old_password_are_refused_when_served(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    archive = tmp_path / "live.fwbackup"
    with Warden.open(
        Settings(data_dir=tmp_path / "live", key_dir=keys), create=True, actor="test:live"
    ) as warden:
        warden.access.create_user("alice", OLD, "operator")
        warden.access.create_user("bob", OLD, "auditor")
        revoked = warden.access.create_api_key("door camera", "admin")
        kept = warden.access.create_api_key("lobby camera", "admin")
        warden.backup_archive(archive)
        warden.access.revoke_api_key(revoked.key.key_id)
        warden.access.disable_user("bob")
        warden.with_actor("user:alice").access.change_password("alice", OLD, NEW)
    env = {"FACEWARDEN_DATA_DIR": str(tmp_path / "restored"), "FACEWARDEN_KEY_DIR": str(keys)}
    result = CliRunner().invoke(cli, ["restore", str(archive)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 API key(s) revoked again, 1 user(s) disabled again, 1 password(s)" in result.output

    served = start_serve("--data-dir", tmp_path / "restored", "--key-dir", keys)
    try:
        with httpx.Client(base_url=served.url, timeout=60.0) as client:
            assert (
                client.get("/v1/subjects", headers={"X-API-Key": revoked.secret}).status_code == 401
            )
            assert client.get("/v1/subjects", headers={"X-API-Key": kept.secret}).status_code == 200

            def login(username: str, password: str) -> int:
                body = {"username": username, "password": password}
                return client.post("/v1/auth/login", json=body).status_code

            assert login("bob", OLD) == 401
            assert login("alice", OLD) == 401
            assert login("alice", NEW) == 200
    finally:
        assert served.stop() == 0
    assert "Traceback" not in "".join(served.err)
    ledger = keys / REVOCATIONS
    assert not re.search(r"alice|bob", ledger.read_text())
    assert os.stat(ledger).st_mode & 0o077 == 0
