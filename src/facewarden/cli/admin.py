"""``audit``, ``keys``, ``purge`` and ``check``: accountability and maintenance commands."""

from __future__ import annotations

from pathlib import Path

import click

from facewarden.cli._common import (
    deployment_options,
    echo_json,
    open_warden,
    settings,
    with_embedded_postgres,
)
from facewarden.privacy.keys import KeyRing
from facewarden.service.backup import restore as restore_archive
from facewarden.service.processing_report import to_markdown

__all__ = ["audit", "backup", "check", "keys", "purge", "restore"]


@click.group()
def audit() -> None:
    """Read and verify the hash-chained audit log."""


@audit.command("list")
@click.option(
    "--after",
    "after_seq",
    type=click.IntRange(min=0),
    default=0,
    help="Entries after this sequence number (paging).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--object", "object_id", help="Only entries filed under this id.")
@click.option(
    "--about",
    help="Only entries filed under this id or naming it (every access to a subject).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def audit_list(
    after_seq: int, limit: int, object_id: str | None, about: str | None, as_json: bool
) -> None:
    """List audit entries in order."""
    # The command line holds the key directory: it reads typed text opened.
    entries = open_warden().audit.entries(
        after_seq=after_seq, limit=limit, object_id=object_id, about=about
    )
    if as_json:
        echo_json([e.to_record() for e in entries])
        return
    for e in entries:
        target = f" {e.object_type}:{e.object_id}" if e.object_id else ""
        purpose = f" purpose={e.purpose!r}" if e.purpose else ""
        details = " ".join(
            f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
            for k, v in e.details.items()
        )
        click.echo(
            f"{e.seq:>6} {e.ts} {e.actor} {e.action}{target} {e.outcome}{purpose} "
            f"{details}".rstrip()
        )


@audit.command("verify")
@click.option(
    "--last-seq",
    type=click.IntRange(min=1),
    help="The highest sequence number known (from a record kept elsewhere).",
)
@deployment_options
def audit_verify(last_seq: int | None) -> None:
    """Check the whole chain; exit 1 naming the first tampered, deleted or reordered entry."""
    result = open_warden().audit.verify(last_seq=last_seq)
    if not result.ok:
        bad = result.report.first_bad_seq
        where = f"entry {bad}: " if bad is not None else ""
        click.echo(
            f"error: audit log FAILED verification at {where}{result.report.problem}", err=True
        )
        raise SystemExit(1)
    click.echo(
        f"audit log OK: {result.report.checked} entries; head seq {result.head_seq} "
        f"hash {result.head_hash} (signed in the key directory; a later wipe or rollback fails)"
    )


@audit.command("reanchor")
@click.option("--yes", is_flag=True, help="Confirm: the log as it is now becomes the signed head.")
@deployment_options
def audit_reanchor(yes: bool) -> None:
    """Accept the log as it is now as the signed head, after a deliberate restore (audited).

    Only for a database restored on purpose from an older backup: the signed
    head in the key directory then rightly reports a rollback. The chain
    itself must verify; the step is recorded in the log.
    """
    if not yes:
        click.echo(
            "error: re-anchoring accepts a rolled-back audit log as genuine; run `audit verify` "
            "first, and repeat with --yes only after a restore you made on purpose",
            err=True,
        )
        raise SystemExit(1)
    result = open_warden().audit.reanchor()
    entry = result.report.checked - 1
    click.echo(
        f"audit log re-anchored at entry {entry}; verify: {result.report.checked} entries OK"
    )


@click.group()
def keys() -> None:
    """Create, rotate and destroy keys (the key directory lives outside the database)."""


@keys.command("init")
@deployment_options
def keys_init() -> None:
    """Create the key directory with fresh random keys (mode 0700; files 0600)."""
    path = settings().resolved_key_dir
    existed = path.exists()
    keyring = KeyRing.open(path, create=True)
    click.echo(
        f"{'key directory exists' if existed else 'created keys'}: {keyring.path} "
        f"(master key {keyring.active_master_id})"
    )


@keys.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def keys_status(as_json: bool) -> None:
    """Which keys exist and how many data keys each master key wraps (ids only)."""
    status = open_warden().keys.status()
    if as_json:
        echo_json(status.to_dict())
        return
    click.echo(f"key directory {status.key_dir}")
    for key_id in status.master_key_ids:
        active = " (active)" if key_id == status.active_master_id else ""
        used = status.data_keys_by_master.get(key_id, 0)
        click.echo(f"  master key {key_id}{active}: wraps {used} data key(s)")
    click.echo(f"  template key {status.template_key_id}")


@keys.command("rotate")
@deployment_options
def keys_rotate() -> None:
    """Add a master key and re-wrap every data key with it, in one transaction."""
    rotation = open_warden().keys.rotate_master()
    click.echo(f"new master key {rotation.new_key_id}; {rotation.rewrapped} data key(s) re-wrapped")
    for old in rotation.retired_key_ids:
        click.echo(f"no longer needed: {old} (destroy it with `facewarden keys destroy {old}`)")


@keys.command("rotate-templates")
@deployment_options
def keys_rotate_templates() -> None:
    """Re-protect every template with a new secret transform, in one transaction."""
    rotation = open_warden().keys.rotate_templates()
    click.echo(
        f"template key {rotation.old_key_id} -> {rotation.new_key_id}; "
        f"{rotation.templates} template(s) renewed"
    )


@keys.command("destroy")
@click.argument("key_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@deployment_options
def keys_destroy(key_id: str, yes: bool) -> None:
    """Shred old master key KEY_ID (refused while any data key depends on it)."""
    if not yes:
        click.confirm(
            f"Destroy master key {key_id}? Backups wrapped with it become unreadable.",
            abort=True,
            err=True,
        )
    open_warden().keys.destroy_master(key_id)
    click.echo(f"destroyed {key_id}")


@click.command()
@deployment_options
def purge() -> None:
    """Delete expired data by the retention policies, then compact the database."""
    report = open_warden().purge()
    counts = ", ".join(f"{name} {n}" for name, n in report.deleted.items()) or "nothing expires"
    click.echo(f"purged: {counts}")


@click.command("processing-report")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of Markdown.")
@deployment_options
def processing_report(as_json: bool) -> None:
    """The records of processing (GDPR Article 30), from the live configuration (audited)."""
    report = open_warden().processing_report()
    if as_json:
        echo_json(report)
    else:
        click.echo(to_markdown(report))


@click.command()
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--raw",
    is_flag=True,
    help="Write a plain copy of the database instead (SQLite: a file; PostgreSQL: DESTINATION "
    "is the URL of a new database), unencrypted apart from the fields. Like an archive it "
    "leaves the ID-number tokens out; the deployment that opens it rebuilds them.",
)
@deployment_options
def backup(destination: Path, raw: bool) -> None:
    """Write an encrypted, self-checking archive of the database to a new file DESTINATION.

    The archive holds no key: restoring it (`facewarden restore`) needs the key
    directory, which you back up separately and keep apart. It is streamed in
    1 MiB chunks, in a few MiB of memory; SQLite first copies the database
    into a private folder in the data directory (free space for twice the
    database), removed as soon as it is open.
    """
    warden = open_warden()
    if raw:
        warden.backup(destination)
        click.echo(
            f"backed up to {destination} (ID-number tokens left out: rebuilt when it is "
            "opened); back up the key directory separately"
        )
        return
    report = warden.backup_archive(destination)
    click.echo(
        f"backed up the {report.store} database ({report.payload_bytes} bytes, audit head "
        f"{report.audit_head_seq}) to {destination}, encrypted under master key "
        f"{report.master_key_id}; back up the key directory separately"
    )


@click.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@deployment_options
def restore(archive: Path) -> None:
    """Restore an archive made by `facewarden backup` into a deployment with no database yet.

    The key directory must be this deployment's, restored from its own backup:
    it holds the master key the archive is encrypted under and the records of
    erasures and of access revoked since (API keys, disabled users, changed
    passwords), of restrictions, of corrected records, of faces removed and of
    people taken off watchlists, which are applied again. Every byte of the
    archive is checked before anything is written; a damaged or truncated one
    is refused.
    """
    # With FACEWARDEN_POSTGRES=embedded the database is the data directory's own
    # cluster (made at first use), as `backup` and `serve` use it; not one a
    # running server holds (share=False: the restore wants an empty database).
    report = restore_archive(archive, with_embedded_postgres(settings(), share=False))
    revoked = report.revocations_reapplied
    click.echo(
        f"restored the {report.store} backup of {report.created_at}: {report.subjects} "
        f"subject(s), {report.erasures_reapplied} erasure(s) made since applied again; "
        f"revoked since: {revoked.keys_revoked} API key(s) revoked again, "
        f"{revoked.users_disabled} user(s) disabled again, {revoked.passwords_reset} "
        f"password(s) set to the newest; {revoked.subjects_restricted} subject(s) restricted "
        f"again, {revoked.subjects_rectified} record(s) corrected again, "
        f"{revoked.faces_removed} face(s) removed again, {revoked.memberships_removed} "
        "watchlist membership(s) ended again; the audit log is re-anchored to the restored chain"
    )
    if report.archive_holds_id_tokens:
        click.echo(
            f"warning: {archive} was written by an earlier version and holds every subject's "
            "ID-number token as it was then, erased people's included (with the key "
            "directory, a guessable number can be found from one): take a new backup now "
            "and destroy this archive and its copies",
            err=True,
        )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def check(as_json: bool) -> None:
    """Check the database, the audit chain and the revocation ledger; exit 1 on any problem."""
    problems = open_warden().integrity_check()
    if as_json:
        echo_json({"ok": not problems, "problems": problems})
    elif not problems:
        click.echo("ok")
    for problem in problems if not as_json else []:
        click.echo(f"error: {problem}", err=True)
    if problems:
        raise SystemExit(1)
