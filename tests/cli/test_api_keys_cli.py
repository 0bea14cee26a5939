"""``facewarden api-keys``: access comes back when the first start's credentials are lost.

Found by following the README: the first start prints the admin's password and
an API key once; whoever missed them (a closed terminal, ``make run`` in a CI
log) had no way back in but to delete the database. The host that holds the key
directory can now issue an API key (audited), list them and revoke one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.config import Settings
from facewarden.errors import AuthenticationError
from facewarden.service import Warden
from facewarden.service.ratelimit import AuthLimiter


def test_a_lost_admin_credential_is_replaced_from_the_command_line(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    with Warden.open(settings, create=True, actor="test") as warden:
        assert warden.access.bootstrap() is not None  # the first start's, then lost
    runner = CliRunner(env={"FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None})
    where = ["--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]

    made = runner.invoke(cli, ["api-keys", "create", "recovery", "--role", "admin", *where])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("fwk_") and "\n" not in secret
    assert "shown once" in made.stderr

    listed = json.loads(runner.invoke(cli, ["api-keys", "list", "--json", *where]).stdout)
    assert [(k["name"], k["role"], k["revoked"]) for k in listed] == [
        ("admin (first start)", "admin", False),
        ("recovery", "admin", False),
    ]
    assert secret.split("_")[2] not in json.dumps(listed)  # never a secret again
    key_id = listed[1]["key_id"]
    assert key_id in secret and listed[1]["created_by"].startswith("cli:")

    with Warden.open(settings, actor="test") as warden:
        limiter = AuthLimiter.from_settings(settings).api_keys
        principal = warden.access.authenticate_key(secret, client="127.0.0.1", limiter=limiter)
        assert principal.role == "admin"
        created = [e for e in warden.audit.about(key_id) if e.action == "api_key.create"]
        assert [e.actor[:4] for e in created] == ["cli:"]

    revoked = runner.invoke(cli, ["api-keys", "revoke", key_id, *where])
    assert revoked.exit_code == 0 and key_id in revoked.stdout
    again = runner.invoke(cli, ["api-keys", "revoke", key_id, *where])
    assert again.exit_code == 1 and "no active API key" in again.stderr
    with Warden.open(settings, actor="test") as warden:
        limiter = AuthLimiter.from_settings(settings).api_keys
        with pytest.raises(AuthenticationError):
            warden.access.authenticate_key(secret, client="127.0.0.1", limiter=limiter)


def test_a_bad_role_or_name_is_refused_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner(env={"FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None})
    where = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    assert runner.invoke(cli, ["init", *where]).exit_code == 0
    bad_role = runner.invoke(cli, ["api-keys", "create", "x", "--role", "root", *where])
    assert bad_role.exit_code == 2 and "'root' is not one of" in bad_role.stderr
    bad_name = runner.invoke(cli, ["api-keys", "create", " ", "--role", "operator", *where])
    assert bad_name.exit_code == 1
    assert bad_name.stderr.strip() == (
        "error: an API key needs a name of 1 to 64 printable characters"
    )
