"""``api-keys``: issue, list and revoke API keys from the host that holds the key directory.

The first start prints the admin's credentials once. Whoever runs the command
line holds the deployment's keys and can read everything anyway, so it may
issue an admin key (audited as ``cli:<os user>``): that is the way back in when
those credentials were lost, and the way to revoke a key that leaked.
"""

from __future__ import annotations

import click

from facewarden.cli._common import deployment_options, echo_json, open_warden
from facewarden.service.roles import ROLES

__all__ = ["api_keys"]


@click.group("api-keys")
def api_keys() -> None:
    """Issue, list and revoke API keys (also when the first start's credentials were lost)."""


@api_keys.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the key may do.")
@click.option(
    "--expires-in-days", type=click.IntRange(min=1), help="Expiry (default: none; revoke it)."
)
@deployment_options
def key_create(name: str, role: str, expires_in_days: int | None) -> None:
    """Issue an API key called NAME; prints it once on stdout (only its hash is stored)."""
    issued = open_warden().access.create_api_key(name, role, expires_in_days=expires_in_days)
    click.echo(issued.secret)
    click.echo(
        f"API key {issued.key.key_id} ({role}) shown once: send it as the X-API-Key header",
        err=True,
    )


@api_keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def key_list(as_json: bool) -> None:
    """List API keys, oldest first, revoked ones included (never a secret)."""
    keys = open_warden().access.api_keys()
    rows = [
        {
            "key_id": k.key_id,
            "name": k.name,
            "role": k.role,
            "created_at": k.created_at.isoformat(),
            "expires_at": None if k.expires_at is None else k.expires_at.isoformat(),
            "revoked": k.revoked,
            "created_by": k.created_by,
        }
        for k in keys
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked"] else f"expires {row['expires_at'] or 'never'}"
        click.echo(f"{row['key_id']}  {row['role']}  {row['name']}  {state}")


@api_keys.command("revoke")
@click.argument("key_id")
@deployment_options
def key_revoke(key_id: str) -> None:
    """Revoke KEY_ID at once (also after a restore: the revocation ledger records it)."""
    open_warden().access.revoke_api_key(key_id)
    click.echo(f"revoked {key_id}")
