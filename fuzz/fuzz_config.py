"""Configuration read from outside: settings from the environment, the key directory's
manifest, and the JSON record file the CLI takes (``--record``).

The first byte picks the reader. Promise: a bad value is a ``ConfigError``, a
corrupt manifest a ``KeyMaterialError``, a bad record an ``InvalidInputError``:
each a typed error with a message, never a traceback, and never a key ring
that names a key it does not hold.
"""

from __future__ import annotations

import io
import os

from fuzz._scratch import scratch_dir
from fuzz.engine import fuzz_main, instrumented

with instrumented(
    "facewarden.config",
    "facewarden.privacy",
    "facewarden.cli.registry",
    "facewarden.service.records",
    "pydantic_settings",
):
    from facewarden.cli.registry import _fields
    from facewarden.config import Settings
    from facewarden.errors import ConfigError, FacewardenError, KeyMaterialError
    from facewarden.privacy._keydir import MANIFEST
    from facewarden.privacy.keys import KeyRing
    from facewarden.service.records import SubjectRecord

KEY_DIR = scratch_dir("keys") / "keys"
KeyRing.open(KEY_DIR, create=True)
REAL_MANIFEST = (KEY_DIR / MANIFEST).read_bytes()


def _settings(text: str) -> None:
    """``NAME=value`` lines become ``FACEWARDEN_NAME`` variables of a clean environment."""
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith("FACEWARDEN_")]:
            del os.environ[name]
        for line in text.splitlines()[:16]:
            name, _, value = line.partition("=")
            if name and "\x00" not in line and "=" not in name:
                os.environ[f"FACEWARDEN_{name.upper()}"] = value
        try:
            settings = Settings.load()
        except ConfigError:
            return
        settings.image_limits  # noqa: B018  (its own checks must agree with the settings')
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _manifest(data: bytes) -> None:
    fd = os.open(KEY_DIR / MANIFEST, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    try:
        ring = KeyRing.open(KEY_DIR)
    except KeyMaterialError:
        return
    finally:
        (KEY_DIR / MANIFEST).write_bytes(REAL_MANIFEST)
    assert ring.active_master_id in ring.master_key_ids
    assert len(ring.master_key(ring.active_master_id)) == 32 and len(ring.template_seed) == 32


def _record(text: str) -> None:
    try:
        values = _fields(io.StringIO(text), {})
        record = SubjectRecord.from_fields(values)
    except FacewardenError as exc:
        assert exc.http_status == 400, exc
        return
    assert record.full_name and record.lawful_basis


def test_one_input(data: bytes) -> None:
    reader, rest = (data[0] % 3 if data else 0), data[1:]
    if reader == 0:
        _settings(rest.decode("utf-8", errors="replace"))
    elif reader == 1:
        _manifest(rest)
    else:
        _record(rest.decode("utf-8", errors="replace"))


if __name__ == "__main__":
    fuzz_main(test_one_input)
