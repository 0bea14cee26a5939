"""Deployments for the backup tests: real people enrolled and identified, key directories copied."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from facewarden.config import Settings
from facewarden.service import SubjectRecord, Warden
from facewarden.store.base import SubjectRow
from facewarden.types import Face

WATCHLIST = "staff"
MARKER = f"Backupmarker{secrets.token_hex(4)}"

NOTES_CIPHERTEXT_BYTES = 4000 + 28  # the notes limit, plus nonce and tag

Deploy = Callable[[Path], Settings]


def enroll_all(warden: Warden, johns: dict[str, list[list[Face]]]) -> dict[str, str]:
    """Enroll each john from two photos, on the watchlist :data:`WATCHLIST`; their ids."""
    warden.watchlists.create(WATCHLIST, purpose="backup test", lawful_basis="test")
    ids = {}
    for name, faces in johns.items():
        prepared = [warden.registry.prepare_detected(f, source=name) for f in faces[:2]]
        record = SubjectRecord(full_name=f"{MARKER} {name}", lawful_basis="test")
        ids[name] = warden.registry.enroll_prepared(
            record, prepared, watchlists=[WATCHLIST]
        ).subject_id
    return ids


def identify(warden: Warden, johns: dict[str, list[list[Face]]]) -> list[list[tuple[str, float]]]:
    """Candidates (id, similarity) for each john's two other photos."""
    probes = [faces[i][0] for faces in johns.values() for i in (2, 3)]
    result = warden.recognition.identify_faces(probes, WATCHLIST, top_k=5, purpose="backup test")
    return [[(c.subject_id, c.similarity) for c in face.candidates] for face in result.faces]


def fresh(deploy: Deploy, settings: Settings, root: Path) -> Settings:
    """A new deployment whose key directory is restored (copied) from the live one's."""
    target = deploy(root)
    shutil.copytree(settings.resolved_key_dir, target.resolved_key_dir)
    return target


def pad_subjects(warden: Warden, count: int) -> None:
    """``count`` more subjects, as large as a record gets, in one transaction.

    Their ciphertexts are random bytes (as opaque as real ones), their data key a copy
    of the first enrolled subject's.
    """
    now = warden.clock()
    template = next(iter(warden.store.list_subjects(after=None, limit=1)))
    with warden.store.transaction() as tx:
        for _ in range(count):
            fields = {
                "full_name": os.urandom(60),
                "notes": os.urandom(NOTES_CIPHERTEXT_BYTES),
            }
            subject_id = f"sub_{secrets.token_hex(8)}"
            tx.insert_subject(SubjectRow(subject_id, template.wrapped_key, None, fields, now, now))
