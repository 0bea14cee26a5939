"""The errors of the CompreFace-compatible collection, each with CompreFace's own code.

The API answers each with its HTTP status and, in CompreFace's error body,
the ``compreface_code`` a CompreFace client expects (see
:mod:`facewarden.api.errors`).
"""

from __future__ import annotations

from facewarden.errors import ConflictError, NotFoundError, PermissionDeniedError

__all__ = [
    "EnrollmentDisabledError",
    "ExampleNotFoundError",
    "PhotoNotKeptError",
    "SubjectExistsError",
    "SubjectNotFoundError",
]


class EnrollmentDisabledError(PermissionDeniedError):
    """Enrolling through the CompreFace-compatible API is off (no lawful basis configured)."""

    compreface_code = 32  # CompreFace's WRITING_NOT_ALLOWED


class SubjectNotFoundError(NotFoundError):
    """No CompreFace subject has that name."""

    compreface_code = 42  # CompreFace's SUBJECT_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"Subject {name} not found")


class SubjectExistsError(ConflictError):
    """A CompreFace subject of that name (ignoring case) exists already."""

    compreface_code = 43  # CompreFace's SUBJECT_ALREADY_EXISTS (answered with 400)

    def __init__(self) -> None:
        super().__init__("Subject already exists")


class PhotoNotKeptError(NotFoundError):
    """The example exists, but its photo is not kept (photos are kept only when configured)."""

    compreface_code = 11  # CompreFace's IMAGE_NOT_FOUND


class ExampleNotFoundError(NotFoundError):
    """No example (image id) of that id is in the CompreFace collection."""

    compreface_code = 44  # CompreFace's EMBEDDING_NOT_FOUND (its examples are embeddings)

    def __init__(self, image_id: str) -> None:
        super().__init__(f"Image {image_id} not found")
