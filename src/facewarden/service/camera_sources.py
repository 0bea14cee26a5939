"""A camera's source, sealed: how it is stored and opened.

A source is a secret: an RTSP URL often carries a user name and password,
and any URL maps the camera network. It is stored only sealed
(AES-256-GCM, associated data ``cameras``/camera id/``source``, so a
ciphertext moved to another camera fails to open) under the deployment's
data key: the data key of the key check (:mod:`facewarden.service.keycheck`),
which master-key rotation re-wraps and ``keys status`` counts, so rotating
and then destroying an old master key keeps every source readable. A
per-camera data key would not be re-wrapped by the rotation, which knows
only subjects' keys and the key check.

Databases from before schema version 4 hold sources in the clear
(``legacy_source``; a migration has no keys to seal them with):
:meth:`facewarden.service.cameras.Cameras.seal_legacy_sources` seals and
clears them.
"""

from __future__ import annotations

from facewarden.errors import IntegrityError
from facewarden.privacy.crypto import Envelope, WrappedKey
from facewarden.service.keycheck import KEY_CHECK, key_check_key
from facewarden.store.base import CameraRow, Reader

__all__ = ["open_camera_source", "seal_camera_source"]

_SEALED = {"table": "cameras", "field": "source"}


def _deployment_key(reader: Reader) -> WrappedKey:
    check = reader.get_meta(KEY_CHECK)
    if check is None:
        raise IntegrityError("the database has no key check: restore it from a backup")
    return key_check_key(check)


def seal_camera_source(
    envelope: Envelope, reader: Reader, camera_id: str, source: str | None
) -> bytes | None:
    """``source`` sealed for storage in camera ``camera_id``'s row (None stays None)."""
    if source is None:
        return None
    return envelope.encrypt_str(source, data_key=_deployment_key(reader), row=camera_id, **_SEALED)


def open_camera_source(envelope: Envelope, reader: Reader, row: CameraRow) -> str | None:
    """The plaintext source of a stored camera (a legacy plaintext one as it is).

    Raises:
        IntegrityError: the sealed source was altered or moved from another camera.
        KeyMaterialError: its master key is not in the key ring.
    """
    if row.sealed_source is not None:
        return envelope.decrypt_str(
            row.sealed_source, data_key=_deployment_key(reader), row=row.camera_id, **_SEALED
        )
    return row.legacy_source
