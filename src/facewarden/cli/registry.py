"""``init`` and ``subjects``: the registry on the command line.

Personal values can be given as options, but options are visible to other
local users (``ps``) and stay in shell history; ``--record FILE`` (or ``-``
for stdin) reads them from a JSON object instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from facewarden.cli._common import IMAGE, deployment_options, echo_json, open_warden, settings
from facewarden.cli.bulk import import_
from facewarden.errors import FacewardenError
from facewarden.service.opening import database_path
from facewarden.service.private_files import created_whole
from facewarden.service.records import FIELD_NAMES, SubjectRecord, invalid_input
from facewarden.service.registry import Subject

__all__ = ["init", "subjects"]

_FIELD_OPTIONS = (
    ("--name", "full_name", "Full name."),
    ("--id-number", "id_number", "National ID, passport or similar number (unique)."),
    ("--dob", "date_of_birth", "Date of birth, YYYY-MM-DD."),
    ("--sex", "sex", "Sex as on the identity document (F, M, X, ...)."),
    ("--nationality", "nationality", "Nationality."),
    ("--address", "address", "Postal address."),
    ("--employer", "employer", "Employer or organisation."),
    ("--notes", "notes", "Free-form notes."),
    ("--lawful-basis", "lawful_basis", "Legal ground or consent reference of the enrollment."),
)


def _field_options(command: Any) -> Any:
    for flag, name, text in reversed(_FIELD_OPTIONS):
        command = click.option(flag, name, help=text)(command)
    return click.option(
        "--record",
        "record_file",
        type=click.File("r"),
        help="Read fields from a JSON object in FILE ('-': stdin), "
        "keeping them out of the process list and shell history.",
    )(command)


_MAX_RECORD = 1 << 20
"""The most characters of a --record file read (a record is a few KiB)."""

_JSON_TYPES = {
    list: "an array",
    dict: "an object",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _fields(record_file: Any, options: dict[str, Any]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    if record_file is not None:
        # Read up to a cap: the file may be endless (/dev/zero) or a video given
        # by mistake; a record is a few KiB.
        try:
            text = record_file.read(_MAX_RECORD + 1)
            if len(text) > _MAX_RECORD:
                raise invalid_input(
                    f"--record: over {_MAX_RECORD} characters; a record is a small JSON object"
                )
            loaded = json.loads(text)
        except UnicodeDecodeError as exc:
            raise invalid_input(f"--record: not a JSON object ({exc})") from None
        except ValueError as exc:
            raise invalid_input(f"--record: not a JSON object ({exc})") from None
        except RecursionError:  # deep nesting exhausts the parser's stack
            raise invalid_input("--record: not a JSON object (nested too deeply)") from None
        if not isinstance(loaded, dict) or set(loaded) - set(FIELD_NAMES):
            raise invalid_input(f"--record: a JSON object with keys from {', '.join(FIELD_NAMES)}")
        for name, value in loaded.items():
            # Text or null only, as the API takes them: str() would store the
            # repr of a list or an object as the person's name.
            if value is not None and not isinstance(value, str):
                raise invalid_input(
                    f"--record: {name} must be a JSON string or null, "
                    f"not {_JSON_TYPES.get(type(value), type(value).__name__)}"
                )
            values[name] = value
    values.update({k: v for k, v in options.items() if k in FIELD_NAMES and v is not None})
    return values


@click.command()
@deployment_options
def init() -> None:
    """Create the database and the key directory (private, fresh random keys)."""
    existed = database_path(settings()).exists()
    warden = open_warden(create=True)
    verb = "already initialised" if existed else "initialised"
    click.echo(f"{verb}: database {warden.store.location}, keys {warden.key_dir}")
    if not existed:
        click.echo(
            "Back up the key directory apart from the data: without it nothing stored "
            "can be read, and anyone holding both can read everything.",
            err=True,
        )


@click.group()
def subjects() -> None:
    """Enroll, show, update, export and erase subjects."""


@subjects.command("add")
@click.argument("images", nargs=-1, required=True, type=IMAGE)
@_field_options
@click.option(
    "--watchlist",
    "-w",
    "watchlist_refs",
    multiple=True,
    help="Put the subject on this watchlist (repeatable).",
)
@click.option(
    "--face",
    "face_number",
    type=click.IntRange(min=1),
    help="Which face to enroll from photos showing several (as `detect` numbers).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Enroll faces below the quality bar, and photos that do not match each other "
    "(not one person at the lenient same-person bar; audited as forced).",
)
@click.option("--purpose", default="", help="Why (for the audit log).")
@deployment_options
def add(
    images: tuple[Path, ...],
    record_file: Any,
    watchlist_refs: tuple[str, ...],
    face_number: int | None,
    force: bool,
    purpose: str,
    **options: Any,
) -> None:
    """Enroll a person from IMAGES (one face each); prints the new subject id."""
    record = SubjectRecord.from_fields(_fields(record_file, options))
    warden = open_warden()
    enrolled = warden.registry.enroll(
        record,
        list(images),
        watchlists=watchlist_refs,
        purpose=purpose,
        force=force,
        face_index=_face_index(face_number),
    )
    click.echo(enrolled.subject_id)


@subjects.command("list")
@click.option("--after", help="Continue after this subject id (paging).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--purpose", default="", help="Why (for the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def list_(after: str | None, limit: int, purpose: str, as_json: bool) -> None:
    """List subjects: id, name, faces, watchlists (an audited read of the names)."""
    rows = open_warden().registry.subjects(after=after, limit=limit, purpose=purpose)
    if as_json:
        echo_json(
            [
                {
                    "subject_id": r.subject_id,
                    "full_name": r.full_name,
                    "faces": r.faces,
                    "watchlists": r.watchlists,
                    "updated_at": r.updated_at.isoformat(),
                }
                for r in rows
            ]
        )
        return
    for r in rows:
        click.echo(f"{r.subject_id}  {r.full_name}  faces={r.faces} watchlists={r.watchlists}")


@subjects.command("show")
@click.argument("subject_id", required=False)
@click.option("--id-number", help="Find the subject by ID number instead.")
@click.option("--purpose", default="", help="Why (for the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def show(subject_id: str | None, id_number: str | None, purpose: str, as_json: bool) -> None:
    """Show a subject's record, faces and watchlists (an audited read)."""
    if (subject_id is None) == (id_number is None):
        raise click.UsageError("give SUBJECT_ID or --id-number, not both")
    registry = open_warden().registry
    subject = (
        registry.get(subject_id, purpose=purpose)
        if subject_id is not None
        else registry.find_by_id_number(id_number or "", purpose=purpose)
    )
    if as_json:
        echo_json(subject.to_dict())
    else:
        _print_subject(subject)


def _print_subject(subject: Subject) -> None:
    click.echo(
        f"subject {subject.subject_id} (enrolled {subject.created_at:%Y-%m-%d %H:%M}Z, "
        f"updated {subject.updated_at:%Y-%m-%d %H:%M}Z)"
    )
    for name, value in subject.record.to_dict().items():
        if value is not None:
            click.echo(f"  {name}: {value}")
    for face in subject.faces:
        photo = ", photo kept" if face.has_photo else ""
        click.echo(f"  face {face.face_id} ({face.model}{photo})")
    click.echo(f"  watchlists: {', '.join(subject.watchlists) or '-'}")


@subjects.command("update")
@click.argument("subject_id")
@_field_options
@click.option(
    "--clear",
    "cleared",
    multiple=True,
    type=click.Choice(FIELD_NAMES[2:]),
    help="Remove an optional field (repeatable).",
)
@click.option("--purpose", default="", help="Why (for the audit log).")
@deployment_options
def update(
    subject_id: str, record_file: Any, cleared: tuple[str, ...], purpose: str, **options: Any
) -> None:
    """Change fields of a subject's record."""
    changes: dict[str, str | None] = dict(_fields(record_file, options))
    changes.update(dict.fromkeys(cleared))
    if not changes:
        raise click.UsageError("nothing to change: give field options, --record or --clear")
    subject = open_warden().registry.update(subject_id, changes, purpose=purpose)
    click.echo(f"updated {subject.subject_id}")


@subjects.command("restrict")
@click.argument("subject_id")
@click.option("--reason", required=True, help="Why (the request: contested accuracy, a claim).")
@click.option("--purpose", default="", help="Why (for the audit log).")
@deployment_options
def restrict(subject_id: str, reason: str, purpose: str) -> None:
    """Restrict SUBJECT_ID's processing (GDPR Article 18): kept, on no watchlist, never matched."""
    left = open_warden().restrictions.restrict(subject_id, reason=reason, purpose=purpose)
    click.echo(f"restricted {subject_id} (left {len(left.watchlists_left)} watchlists)")


@subjects.command("unrestrict")
@click.argument("subject_id")
@click.option("--purpose", default="", help="Why (for the audit log).")
@deployment_options
def unrestrict(subject_id: str, purpose: str) -> None:
    """Lift SUBJECT_ID's restriction: back on the watchlists it left that still exist."""
    back = open_warden().restrictions.lift(subject_id, purpose=purpose)
    click.echo(f"lifted the restriction of {subject_id} (back on {len(back)} watchlists)")


@subjects.group("faces")
def faces() -> None:
    """Add, replace and remove a subject's faces."""


def _face_options(command: Any) -> Any:
    """``--face N`` (which face of a photo showing several) and ``--force``."""
    command = click.option(
        "--force",
        is_flag=True,
        help="Accept a face below the quality bar, or one that does not match the "
        "subject's faces (audited as forced).",
    )(command)
    return click.option(
        "--face",
        "face_number",
        type=click.IntRange(min=1),
        help="Which face, for a photo showing several.",
    )(command)


def _face_index(face_number: int | None) -> int | None:
    """The 0-based index of a face numbered from 1 as ``detect`` prints it."""
    return None if face_number is None else face_number - 1


@faces.command("add")
@click.argument("subject_id")
@click.argument("image", type=IMAGE)
@_face_options
@deployment_options
def face_add(subject_id: str, image: Path, face_number: int | None, force: bool) -> None:
    """Enroll one more face of SUBJECT_ID from IMAGE; prints the face id."""
    index = _face_index(face_number)
    click.echo(open_warden().faces.add(subject_id, image, face_index=index, force=force))


@faces.command("replace")
@click.argument("subject_id")
@click.argument("face_id")
@click.argument("image", type=IMAGE)
@_face_options
@deployment_options
def face_replace(
    subject_id: str, face_id: str, image: Path, face_number: int | None, force: bool
) -> None:
    """Replace FACE_ID of SUBJECT_ID with the face in IMAGE; prints the new face id."""
    index = _face_index(face_number)
    click.echo(
        open_warden().faces.replace(subject_id, face_id, image, face_index=index, force=force)
    )


@faces.command("remove")
@click.argument("subject_id")
@click.argument("face_id")
@deployment_options
def face_remove(subject_id: str, face_id: str) -> None:
    """Delete FACE_ID (template and photo) of SUBJECT_ID."""
    open_warden().faces.remove(subject_id, face_id)
    click.echo(f"removed {face_id}")


@subjects.command("export")
@click.argument("subject_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (created private, 0600) instead of stdout.",
)
@click.option("--purpose", default="", help="Why (for the audit log).")
@deployment_options
def export(subject_id: str, output: Path | None, purpose: str) -> None:
    """Everything held on SUBJECT_ID, decrypted, plus who accessed it, as JSON."""
    # Written as it is read: a person seen very often is exported in bounded memory.
    warden = open_warden()
    if output is None:
        # A pipe may be read slowly (a pager): the store's snapshot is not held meanwhile.
        for block in warden.registry.export_spooled(subject_id, purpose=purpose):
            click.echo(block, nl=False)
        return
    # The file is made before the export is read (and audited): a path it cannot
    # write (no folder, a name taken) is refused with nothing read. The decrypted
    # record takes the file's name only once it is whole: a write cut short (a full
    # disk, a quota) leaves no part of it behind, and the log says it was not delivered.
    read = False
    try:
        with created_whole(output, exists_hint="choose a new file name") as handle:
            chunks = warden.registry.export_chunks(subject_id, purpose=purpose)
            read = True
            for chunk in chunks:
                handle.write(chunk.encode("utf-8"))
    except (OSError, FacewardenError) as exc:
        if read:
            warden.registry.export_failed(subject_id, purpose=purpose)
        if isinstance(exc, FacewardenError):
            raise
        raise FacewardenError(
            f"cannot write the export to {output}: {exc.strerror or exc}; nothing was kept"
        ) from None
    click.echo(f"exported {subject_id} to {output}", err=True)


@subjects.command("erase")
@click.argument("subject_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--purpose", default="", help="Why, e.g. the erasure request reference.")
@deployment_options
def erase(subject_id: str, yes: bool, purpose: str) -> None:
    """Erase SUBJECT_ID: record, faces, templates, photos, memberships. Cannot be undone."""
    if not yes:
        click.confirm(f"Erase {subject_id} for good?", abort=True, err=True)
    open_warden().registry.erase(subject_id, purpose=purpose)
    click.echo(f"erased {subject_id}")


subjects.add_command(import_)
