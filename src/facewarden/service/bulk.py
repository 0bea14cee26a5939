"""Bulk enrollment from a folder (one subfolder per person) or a CSV of records and photos.

Faces are found and embedded by worker processes (:func:`run_batch`); every
write happens here, in the main process, one transaction per person. Each
person's transaction also records a keyed hash of the person's source, so a
re-run skips what is done: an interrupted import is resumed by running it
again. A person is reported as enrolled only after their transaction
committed; a person who cannot be enrolled is skipped with the reason, and
the import goes on.

Sources are hashed with a key (the blind-index key, under its own domain)
because paths often carry names ("photos/Jane Doe/1.jpg").

A person erased since (GDPR Art. 17) is not enrolled again: erasure leaves a
suppression token of their import sources in the key directory
(:mod:`facewarden.privacy.suppressions`), and a source that matches one is
skipped with the reason. ``allow_erased`` imports them all the same (new
consent, say) and lifts the tokens, audited as ``import.allow_erased``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from facewarden.errors import FacewardenError, MultipleFacesError
from facewarden.privacy.suppressions import SOURCE
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.enrollment import (
    PreparedFace,
    choose_face,
    model_key_of,
    prepare_face,
)
from facewarden.service.records import FIELD_NAMES, SubjectRecord, invalid_input
from facewarden.service.registry import Registry
from facewarden.service.watchlists import resolve_watchlist
from facewarden.vision.batch import BatchItem, run_batch

__all__ = [
    "BulkImporter",
    "ImportEvent",
    "ImportItem",
    "ImportSummary",
    "items_from_csv",
    "items_from_folder",
]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
_SOURCE_DOMAIN = b"facewarden/import-source/v1\x00"
_MAX_LINE = 1 << 20
"""The longest line of a CSV read (characters): a row of a people sheet is far shorter, and
a file without line ends (a video given by mistake) must not be read whole as one line."""
PHOTO_COLUMN = "photo"
ERASED = (
    "this person was erased (GDPR Art. 17); an import does not enroll them again "
    "(--allow-erased imports them all the same, audited)"
)


@dataclass(frozen=True)
class ImportItem:
    """One person to import: a record and their photos, or why the source is unusable.

    Attributes:
        source: where it comes from, for messages (a folder, ``file.csv#line``).
        source_id: the stable identity of the source, hashed for the progress table.
        record: the identity record (None when ``problem`` is set).
        photos: the person's photo files.
        problem: why this source cannot be imported at all.
    """

    source: str
    source_id: str
    record: SubjectRecord | None = None
    photos: tuple[Path, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class ImportEvent:
    """What happened to one source: ``enrolled``, ``already`` (done before) or ``skipped``."""

    kind: str
    source: str
    subject_id: str | None = None
    reasons: tuple[str, ...] = ()
    faces: int = 0


@dataclass
class ImportSummary:
    """Counts and the skipped sources with their reasons."""

    enrolled: int = 0
    already: int = 0
    faces: int = 0
    skipped: list[ImportEvent] = field(default_factory=list)


def items_from_folder(root: Path, *, lawful_basis: str) -> Iterator[ImportItem]:
    """One item per subfolder of ``root``; the folder name (``_`` as spaces) is the full name."""
    if not root.is_dir():
        raise invalid_input(f"{root} is not a folder")
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = tuple(
            sorted(
                p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        )
        source_id = f"folder:{folder.resolve()}"
        if not photos:
            yield ImportItem(str(folder), source_id, problem="no photos (.jpg, .png, .webp, .bmp)")
            continue
        try:
            record = SubjectRecord(
                full_name=folder.name.replace("_", " "), lawful_basis=lawful_basis
            )
        except FacewardenError as exc:
            yield ImportItem(str(folder), source_id, problem=exc.message)
            continue
        yield ImportItem(str(folder), source_id, record, photos)


def items_from_csv(path: Path, *, lawful_basis: str | None = None) -> Iterator[ImportItem]:
    """One item per row of a CSV with a header naming record fields and a ``photo`` column.

    ``photo`` holds one path, or several separated by ``;``, relative to the
    CSV's folder. ``lawful_basis`` fills rows whose own column is empty.

    Raises:
        InvalidInputError: the header lacks ``full_name`` or ``photo`` or names unknown
            columns, or the file is not UTF-8 CSV (the message names the line).
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise invalid_input(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(_capped_lines(handle, path))
        try:
            columns = set(reader.fieldnames or ())
            unknown = columns - set(FIELD_NAMES) - {PHOTO_COLUMN}
            if not {"full_name", PHOTO_COLUMN} <= columns or unknown:
                raise invalid_input(
                    f"{path}: the header needs full_name and {PHOTO_COLUMN}, and may name "
                    f"{', '.join(FIELD_NAMES)}"
                    + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
                )
            for row in reader:
                yield _csv_item(path, reader.line_num, row, lawful_basis)
        except UnicodeDecodeError:
            # Found by fuzzing (fuzz/regressions/bulk_csv): a stray Latin-1 byte
            # escaped as a traceback. Callers list the items before importing
            # any, so refusing here leaves nothing half-done.
            raise invalid_input(
                f"{path}:{_first_non_utf8_line(path)}: not UTF-8 text; save the sheet as UTF-8 CSV"
            ) from None
        except csv.Error as exc:
            raise invalid_input(f"{path}:{reader.line_num}: not a valid CSV row ({exc})") from None


def _capped_lines(handle: TextIO, path: Path) -> Iterator[str]:
    """The lines of ``handle`` (a text file), each at most :data:`_MAX_LINE` characters.

    Raises:
        InvalidInputError: a longer line, named by its number.
    """
    number = 0
    while line := handle.readline(_MAX_LINE + 1):
        number += 1
        if len(line) > _MAX_LINE:
            raise invalid_input(
                f"{path}:{number}: a line over {_MAX_LINE} characters; not a people sheet "
                "(save the sheet as CSV)"
            )
        yield line


def _first_non_utf8_line(path: Path) -> int:
    # The text reader decodes ahead in chunks, so its line count cannot say where.
    # Read in pieces: the file may be a video given by mistake, of gigabytes.
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    line = 1
    with path.open("rb") as handle:
        while piece := handle.read(1 << 16):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(piece)
            except UnicodeDecodeError as exc:
                return line + piece.count(b"\n", 0, max(exc.start - pending, 0))
            line += piece.count(b"\n")
    return line


def _csv_item(
    path: Path, line: int, row: dict[str, str | None], lawful_basis: str | None
) -> ImportItem:
    source = f"{path}#{line}"
    names = [p.strip() for p in (row.get(PHOTO_COLUMN) or "").split(";") if p.strip()]
    if any("\x00" in name for name in names):
        # Found by fuzzing (fuzz/regressions/bulk_csv): no file name holds a NUL,
        # and resolving one raised ValueError out of the reader.
        return ImportItem(source, f"csv:{path.resolve()}#{line}", problem="a photo path holds NUL")
    try:
        photos = tuple((path.parent / name).resolve() for name in names)
    except (OSError, RuntimeError):  # a loop of links (RuntimeError before Python 3.13)
        return ImportItem(
            source, f"csv:{path.resolve()}#{line}", problem="a photo path is a loop of links"
        )
    source_id = f"csv:{path.resolve()}:{';'.join(str(p) for p in photos)}"
    if not photos:
        return ImportItem(source, source_id, problem="no photo given")
    values = {k: (v or "").strip() or None for k, v in row.items() if k in FIELD_NAMES}
    values["lawful_basis"] = values.get("lawful_basis") or lawful_basis
    try:
        record = SubjectRecord.from_fields(values)
    except FacewardenError as exc:
        return ImportItem(source, source_id, problem=exc.message)
    return ImportItem(source, source_id, record, photos)


class BulkImporter:
    """Runs an import for one actor; see the module notes."""

    def __init__(self, ctx: Context, registry: Registry, audit: AuditLog) -> None:
        self._ctx = ctx
        self._registry = registry
        self._audit = audit

    def source_key(self, source_id: str) -> str:
        """The progress-table key of a source: a keyed hash, since paths may hold names."""
        message = _SOURCE_DOMAIN + source_id.encode("utf-8", "surrogateescape")
        return hmac.new(self._ctx.keyring.blind_index_key, message, hashlib.sha256).hexdigest()

    def run(
        self,
        items: Iterable[ImportItem],
        *,
        watchlists: Sequence[str] = (),
        force: bool = False,
        allow_erased: bool = False,
        workers: int | None = None,
        purpose: str = "bulk import",
        on_event: Callable[[ImportEvent], None] | None = None,
        on_photo: Callable[[int, int], None] | None = None,
    ) -> ImportSummary:
        """Import every item; each person is one transaction, acknowledged after it commits.

        Args:
            items: from :func:`items_from_folder` or :func:`items_from_csv`.
            watchlists: names or ids every imported subject is put on.
            force: accept faces below the quality bar.
            allow_erased: enroll people erased since all the same (and lift their
                suppression tokens, audited); else they are skipped.
            workers: embedding processes (default: the settings', else one per core).
            purpose: for the audit log.
            on_event: called with each source's outcome, right after it is final.
            on_photo: called with (photos done, photos to do) as embedding progresses.

        Raises:
            NotFoundError: a watchlist does not exist (checked before any work).
        """
        self._ctx.refresh(need_gallery=False)  # protect with the current template key
        for ref in watchlists:
            resolve_watchlist(self._ctx.store, ref)
        summary = ImportSummary()

        def emit(event: ImportEvent) -> None:
            if event.kind == "enrolled":
                summary.enrolled += 1
            elif event.kind == "already":
                summary.already += 1
            else:
                summary.skipped.append(event)
            if on_event is not None:
                on_event(event)

        suppressed = self._ctx.keyring.import_suppressions.matcher()
        todo: list[tuple[ImportItem, str]] = []
        for item in items:
            key = self.source_key(item.source_id)
            if item.problem is not None:
                emit(ImportEvent("skipped", item.source, reasons=(item.problem,)))
            elif (subject_id := self._ctx.store.import_record(key)) is not None:
                emit(ImportEvent("already", item.source, subject_id))
            elif not allow_erased and (SOURCE, key) in suppressed:
                emit(ImportEvent("skipped", item.source, reasons=(ERASED,)))
            else:
                todo.append((item, key))
        photos = [p for item, _ in todo for p in item.photos]
        results = run_batch(
            self._ctx.enroll_pipeline, photos, workers=workers or self._ctx.settings.workers
        )
        photos_done = 0
        for item, key in todo:
            batch = []
            for _ in item.photos:
                batch.append(next(results))
                photos_done += 1
                if on_photo is not None:
                    on_photo(photos_done, len(photos))
            event = self._enroll(item, key, batch, watchlists, force, purpose)
            if allow_erased and event.subject_id is not None:
                self._lift(key, event.subject_id, purpose)
            summary.faces += event.faces
            emit(event)
        return summary

    def _lift(self, key: str, subject_id: str, purpose: str) -> None:
        # After the enrollment committed: the person is back by decision, not by accident.
        if self._ctx.keyring.import_suppressions.lift([(SOURCE, key)]):
            self._audit.record(
                "import.allow_erased",
                object_type="subject",
                object_id=subject_id,
                purpose=purpose,
                details={"suppression_lifted": True},
            )

    def _enroll(
        self,
        item: ImportItem,
        key: str,
        batch: list[BatchItem],
        watchlists: Sequence[str],
        force: bool,
        purpose: str,
    ) -> ImportEvent:
        faces, problems = self._prepare(item, batch, force)
        if not faces or item.record is None:
            return ImportEvent("skipped", item.source, reasons=tuple(problems))
        try:
            enrollment = self._registry.enroll_prepared(
                item.record,
                faces,
                watchlists=watchlists,
                purpose=purpose,
                source_key=key,
                force=force,
            )
        except FacewardenError as exc:
            return ImportEvent("skipped", item.source, reasons=(exc.message, *problems))
        return ImportEvent(
            "enrolled", item.source, enrollment.subject_id, tuple(problems), faces=len(faces)
        )

    def _prepare(
        self, item: ImportItem, batch: list[BatchItem], force: bool
    ) -> tuple[list[PreparedFace], list[str]]:
        pipeline = self._ctx.enroll_pipeline
        keep = self._ctx.settings.keep_enrollment_photos
        faces, problems = [], []
        for photo, result in zip(item.photos, batch, strict=True):
            label = os.fspath(photo)
            try:
                if result.error is not None:
                    raise result.error
                face = choose_face(result.faces, source=label, force=force)
                image = pipeline.decode(photo, name=label) if keep else None
                faces.append(
                    prepare_face(
                        face,
                        protector=self._ctx.protector,
                        model=model_key_of(pipeline),
                        image=image,
                        source=label,
                    )
                )
            except MultipleFacesError as exc:
                # An import has no way to choose a face: say what to do instead.
                problems.append(
                    f"{label}: {exc.count} faces found; an import takes photos of one "
                    "recognisable face: crop this one to its person, or enroll them on "
                    "their own, choosing the face (`subjects add --face N`)"
                )
            except FacewardenError as exc:
                problems.append(exc.message)
        return faces, problems
