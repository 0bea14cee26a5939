"""The error hierarchy: one base, a status and exit code each, one shape."""

from __future__ import annotations

import inspect

import pytest

from facewarden import errors


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_documented_facewarden_error(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.FacewardenError)
    assert inspect.getdoc(cls)
    assert 400 <= cls.http_status < 600
    assert cls.exit_code in (1, 2)


def test_error_shape() -> None:
    error = errors.ImageError("not an image", source="a.jpg")
    assert error.to_dict() == {"error": {"type": "ImageError", "message": "a.jpg: not an image"}}
    assert errors.ImageTooLargeError("big").http_status == 413
    assert errors.ConfigError("bad").exit_code == 2
