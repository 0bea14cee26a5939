"""The one error hierarchy of facewarden.

Every error a user can meet is a subclass of :class:`FacewardenError`, carries
a message meant for a person, and knows the HTTP status and CLI exit code it
maps to, so adapters never guess::

    FacewardenError                 base; exit 1, HTTP 500
    ├── ConfigError                 bad settings or an unknown implementation name; exit 2
    ├── InvalidInputError           a malformed value supplied by the caller; HTTP 400
    ├── ImageError                  input that is not a safe, decodable image; HTTP 400
    │   └── ImageTooLargeError      over the byte or pixel cap; HTTP 413
    ├── ModelError                  a model file is missing or unreadable
    ├── FaceNotFoundError           no usable face where one was required; HTTP 400
    ├── MultipleFacesError          several faces where exactly one was required; HTTP 400
    ├── NotFoundError               a named record does not exist; HTTP 404
    ├── ConflictError               the write contradicts what is stored; HTTP 409
    │   ├── FaceMismatchError       a face to enroll is not the subject's person; HTTP 409
    │   └── CameraBusyError         another server processes the camera's frames now; HTTP 409
    ├── KeyMaterialError            a key is missing, wrong or exposed; exit 2
    ├── IntegrityError              stored data failed a check (corruption, tampering)
    ├── DatabaseUnavailableError    the database server cannot be reached; HTTP 503
    ├── PermissionDeniedError       the actor's role does not allow the action; HTTP 403
    ├── AuthenticationError         no valid credential came with the request; HTTP 401
    ├── RateLimitedError            too many failed attempts; try again later; HTTP 429
    └── EvaluationError             a benchmark file is malformed; HTTP 400
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CameraBusyError",
    "ConfigError",
    "ConflictError",
    "DatabaseUnavailableError",
    "EvaluationError",
    "FaceMismatchError",
    "FaceNotFoundError",
    "FacewardenError",
    "ImageError",
    "ImageTooLargeError",
    "IntegrityError",
    "InvalidInputError",
    "KeyMaterialError",
    "ModelError",
    "MultipleFacesError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
]


class FacewardenError(Exception):
    """Base of every error facewarden raises on purpose."""

    http_status: int = 500
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def type_name(self) -> str:
        """The name clients see in the error shape, e.g. ``ImageError``."""
        return type(self).__name__

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The error shape shared by the API and ``--json`` CLI output."""
        return {"error": {"type": self.type_name, "message": self.message}}


class ConfigError(FacewardenError):
    """Settings are invalid or name an implementation that does not exist."""

    http_status = 500
    exit_code = 2


class InvalidInputError(FacewardenError):
    """A value supplied by the caller is malformed (a date, a field name, a number)."""

    http_status = 400


class ImageError(FacewardenError):
    """The input is not a safe, decodable image of an allowed format."""

    http_status = 400

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source


class ImageTooLargeError(ImageError):
    """The input exceeds the byte or pixel cap (decompression bombs land here)."""

    http_status = 413


class ModelError(FacewardenError):
    """A model's weights are missing, unreadable or not what was expected."""


class FaceNotFoundError(FacewardenError):
    """No usable face was found where one was required."""

    http_status = 400


class MultipleFacesError(FacewardenError):
    """Several faces were found where exactly one was required."""

    http_status = 400

    def __init__(self, message: str, *, count: int) -> None:
        super().__init__(message)
        self.count = count


class NotFoundError(FacewardenError):
    """A named record (subject, watchlist, face, user) does not exist."""

    http_status = 404


class ConflictError(FacewardenError):
    """The write contradicts what is stored (a duplicate ID number, say)."""

    http_status = 409


class FaceMismatchError(ConflictError):
    """A face to enroll does not match the subject's other faces: not the same person."""


class CameraBusyError(ConflictError):
    """Another server of the deployment processes this camera's frames now; retry later."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KeyMaterialError(FacewardenError):
    """Key material is missing, wrong, or readable by others."""

    http_status = 500
    exit_code = 2


class IntegrityError(FacewardenError):
    """Stored data failed a check: corruption, tampering or a broken chain."""


class DatabaseUnavailableError(FacewardenError):
    """The database server cannot be reached (down, refused, lost); retry when it is back."""

    http_status = 503


class PermissionDeniedError(FacewardenError):
    """The actor's role does not allow this action on this object."""

    http_status = 403


class AuthenticationError(FacewardenError):
    """No valid credential came with the request (missing, wrong, expired or revoked)."""

    http_status = 401


class RateLimitedError(FacewardenError):
    """Too many failed attempts from this address or for this account; try again later."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EvaluationError(FacewardenError):
    """A benchmark file (pairs list, annotations) is malformed."""

    http_status = 400
