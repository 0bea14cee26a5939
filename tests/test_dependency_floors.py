"""The minimum versions in pyproject.toml exclude every known parser advisory.

Every outside image goes through Pillow (``imaging.py``) and every camera stream
through OpenCV's bundled codecs, so a floor below a decoder fix would let a
fresh install pick a version with a known heap overflow. Every request goes
through h11 (uvicorn's HTTP parser), Starlette and python-multipart before any
of facewarden's own limits run, so their denial-of-service and smuggling fixes
are floors too. This is the offline
half of the dependency audit: `make audit` asks a vulnerability service about the
whole installed set when one can be reached; these floors hold without network.

Sources (looked up when the floors were raised): the projects' security
advisories (GHSA), PyPA's advisory database, Pillow's release notes, and the
Chainguard/Wolfi advisories that mark Pillow 12.3.0 fixed by 13.0.0, and the
release notes of Starlette 1.3.1 and python-multipart 0.0.26 to 0.0.31.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# (package, first fixed release, advisory, what it was)
PARSER_ADVISORIES = [
    ("pillow", "10.0.1", "CVE-2023-4863", "libwebp heap overflow (bundled WebP decoder)"),
    ("pillow", "10.3.0", "CVE-2024-28219", "buffer overflow in _imagingcms"),
    ("pillow", "11.3.0", "CVE-2025-48379", "heap overflow writing DDS (BCn encoder)"),
    ("pillow", "12.2.0", "CVE-2026-42308", "integer overflow laying out font glyphs"),
    ("pillow", "13.0.0", "CVE-2026-112403", "heap overflow in ImagingJpegDecode"),
    ("pillow", "13.0.0", "CVE-2026-112398", "heap overflow in FlashPix JPEG decoding"),
    ("pillow", "13.0.0", "CVE-2026-96778", "heap overflow writing a JPEG comment after ICC"),
    (
        "opencv-python-headless",
        "4.8.1.78",
        "GHSA-jh2j-j4j9-crg3 (CVE-2023-4863)",
        "bundled libwebp heap overflow",
    ),
    (
        "opencv-python-headless",
        "4.14.0.94",
        "CVE-2026-22801",
        "bundled libpng 1.6.26-1.6.53 (4.14.0.94 ships libpng 1.6.58)",
    ),
    ("fastapi", "0.132.0", "strict_content_type (0.132.0 notes)", "untyped body read as JSON"),
    ("h11", "0.16.0", "CVE-2025-43859", "chunked-body trailer parsing (request smuggling)"),
    ("starlette", "1.0.1", "GHSA-86qp-5c8j-p5mr", "multipart form denial of service"),
    ("starlette", "1.3.1", "GHSA-82w8-qh3p-5jfq", "request.form() limits ignored (DoS)"),
    ("starlette", "1.3.1", "GHSA-jp82-jpqv-5vv3", "an unvalidated request path sets url.hostname"),
    ("python-multipart", "0.0.26", "GHSA-mj87-hwqh-73pj", "DoS by a huge preamble or epilogue"),
    ("python-multipart", "0.0.27", "GHSA-pp6c-gr5w-3c5g", "DoS by unbounded part headers"),
    ("python-multipart", "0.0.30", "GHSA-5rvq-cxj2-64vf", "quadratic query-string parsing"),
    ("python-multipart", "0.0.30", "GHSA-6jv3-5f52-599m", "';' as a field separator (smuggling)"),
    ("python-multipart", "0.0.31", "GHSA-v9pg-7xvm-68hf", "negative Content-Length: all buffered"),
]


def _declared_floor(package: str) -> Version:
    data = tomllib.loads(PYPROJECT.read_text())
    for line in data["project"]["dependencies"]:
        req = Requirement(line)
        if req.name.lower() == package:
            floors = [Version(s.version) for s in req.specifier if s.operator in (">=", "==")]
            assert floors, f"{package} has no minimum version in pyproject.toml"
            return max(floors)
    raise AssertionError(f"{package} is not a declared dependency")


@pytest.mark.parametrize(
    ("package", "fixed", "advisory", "what"),
    PARSER_ADVISORIES,
    ids=[f"{p}-{a.split()[0]}" for p, _, a, _ in PARSER_ADVISORIES],
)
def test_floor_and_installed_version_exclude_advisory(
    package: str, fixed: str, advisory: str, what: str
) -> None:
    floor = _declared_floor(package)
    assert floor >= Version(fixed), (
        f"pyproject allows {package} {floor}, affected by {advisory} ({what}); "
        f"raise the floor to {fixed}"
    )
    assert Version(installed_version(package)) >= Version(fixed)


def test_pillow_bundles_a_fixed_libwebp() -> None:
    """CVE-2023-4863 was fixed in libwebp 1.3.2: the decoder Pillow uses is past it."""
    from PIL import features

    webp = features.version("webp")
    assert webp is not None, "this Pillow cannot decode WebP, which the allow-list promises"
    assert Version(webp) >= Version("1.3.2")


def test_opencv_links_a_fixed_libpng() -> None:
    """CVE-2026-22801 affects libpng 1.6.26 to 1.6.53: OpenCV's PNG codec is past it."""
    import cv2

    match = re.search(r"PNG:.*\(ver ([\d.]+)\)", cv2.getBuildInformation())
    assert match, "OpenCV's build information names no PNG library"
    assert Version(match.group(1)) >= Version("1.6.54")
