"""Install-time fetch of CompreFace's JavaScript SDK, for the test that drives facewarden with it.

``make`` (before ``test``) and ``.ci/run`` run this once; no test downloads
anything. It installs ``tests/api/compreface_js/package.json`` with its
``package-lock.json`` (``@exadel/compreface-js-sdk`` 1.0.0 and its 25
dependencies, each pinned with its registry integrity) by ``npm ci
--ignore-scripts`` into ``$XDG_CACHE_HOME/facewarden/compreface-js-sdk`` (or
``--dest``): npm checks every tarball against the lock, and this script checks
the lock still pins the SDK at :data:`SDK_INTEGRITY`. The folder is built
beside the destination and renamed into place, so a test never sees half of it.

Idempotent: an installation from the same lock (its SHA-256 is kept in a stamp
file) is kept. Without npm or the network it warns and exits 0, so a set-up
goes on (the test then skips, saying why); ``--strict`` makes that exit 1 (CI).

    .venv/bin/python scripts/fetch_compreface_js_sdk.py [--dest DIR] [--strict]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PINNED = Path(__file__).resolve().parents[1] / "tests" / "api" / "compreface_js"
SDK = "@exadel/compreface-js-sdk"
SDK_VERSION = "1.0.0"
#: The registry's integrity of the SDK's tarball (``npm view @exadel/compreface-js-sdk@1.0.0``).
SDK_INTEGRITY = (
    "sha512-"
    "p5zScpE7fWAMDst2Wo29RasRIWZXfw9ogfO3Cjy24mtM+/QuOI7eZyasaWOTPRiztS5qE/OXRMBAwn4DIULkaQ=="
)
_STAMP = ".facewarden-lock-sha256"


class FetchError(Exception):
    """The SDK could not be installed as pinned."""


def default_dest() -> Path:
    """``$XDG_CACHE_HOME/facewarden/compreface-js-sdk`` (the test looks there too)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facewarden" / "compreface-js-sdk"


def _lock_digest() -> str:
    lock = PINNED / "package-lock.json"
    pinned = json.loads(lock.read_text())["packages"].get(f"node_modules/{SDK}", {})
    if (pinned.get("version"), pinned.get("integrity")) != (SDK_VERSION, SDK_INTEGRITY):
        raise FetchError(f"{lock} no longer pins {SDK}@{SDK_VERSION} at its known integrity")
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def _installed_version(folder: Path) -> str | None:
    manifest = folder / "node_modules" / SDK / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _present(dest: Path, digest: str) -> bool:
    stamp = dest / _STAMP
    return (
        stamp.is_file()
        and stamp.read_text().strip() == digest
        and _installed_version(dest) == SDK_VERSION
    )


def _install(work: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("npm is not installed (Debian: apt-get install npm)")
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PINNED / name, work / name)
    try:
        subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
            check=True,
            cwd=work,
            stdout=subprocess.DEVNULL,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise FetchError(f"npm ci of {SDK}@{SDK_VERSION} failed: {exc}") from exc
    if _installed_version(work) != SDK_VERSION:
        raise FetchError(f"npm ci left no {SDK}@{SDK_VERSION}")


def fetch(dest: Path) -> str:
    """Installs the pinned SDK into ``dest`` unless there already; says what happened."""
    digest = _lock_digest()
    if _present(dest, digest):
        return f"{SDK}@{SDK_VERSION} already in {dest}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _install(work)
        (work / _STAMP).write_text(digest + "\n")
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        work.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return f"{SDK}@{SDK_VERSION} installed into {dest}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dest", type=Path, default=None, help="the install folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the fetch fails")
    args = parser.parse_args()
    try:
        print(fetch(args.dest or default_dest()))
    except FetchError as exc:
        print(
            f"warning: CompreFace's JavaScript SDK not installed ({exc}); "
            "tests/api/test_compreface_js_sdk.py will skip",
            file=sys.stderr,
        )
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
