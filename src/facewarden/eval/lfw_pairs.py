"""LFW's ``pairs.txt`` in the official format, read strictly.

The official file opens with ``n_folds n_pairs`` and then holds, for each
fold, ``n_pairs`` matched lines ``name i j`` followed by ``n_pairs``
mismatched lines ``name1 i name2 j``; image ``i`` of ``name`` is
``root/name/name_%04d.jpg``. A name can never lead out of ``root``, and every
malformed or misplaced line is an :class:`~facewarden.errors.EvaluationError`
naming it. The protocol that scores the pairs is :mod:`facewarden.eval.lfw`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from facewarden.errors import EvaluationError

__all__ = ["Pair", "parse_pairs"]


@dataclass(frozen=True, slots=True)
class Pair:
    """One line of a pairs file.

    Attributes:
        first: path of the first image.
        second: path of the second image.
        same: True for a matched (same person) pair.
        fold: 0-based fold index.
        line: 1-based line number in the pairs file.
    """

    first: Path
    second: Path
    same: bool
    fold: int
    line: int


def _number(text: str, where: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise EvaluationError(f"{where}: {text!r} is not a positive integer")
    return int(text)


def _person(text: str, where: str) -> str:
    # Names become path components: refuse anything that could leave ``root``.
    if text.startswith(".") or "/" in text or "\\" in text:
        raise EvaluationError(f"{where}: {text!r} is not a valid LFW name")
    return text


def parse_pairs(pairs_path: str | os.PathLike[str], root: str | os.PathLike[str]) -> list[Pair]:
    """Read an LFW pairs file in the official format, strictly.

    Args:
        pairs_path: the pairs file (``10 300`` header for View 2, ``1 300`` for one fold).
        root: the folder holding one subfolder of images per person.

    Returns:
        The pairs in file order. Whether the image files exist is not checked here.

    Raises:
        EvaluationError: the file cannot be read, a line is malformed or out of place
            (the message names the line), or the number of lines disagrees with the header.
    """
    path, root = Path(pairs_path), Path(root)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"cannot read pairs file {path}: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    header = lines[0].split() if lines else []
    if len(header) != 2:
        raise EvaluationError(f"{path}:1: the header must be 'n_folds n_pairs', got {lines[:1]}")
    n_folds, n_pairs = (_number(h, f"{path}:1") for h in header)
    expected = n_folds * 2 * n_pairs
    pairs = []
    for offset, text in enumerate(lines[1:]):
        where, fields = f"{path}:{offset + 2}", text.split()
        if offset >= expected:
            raise EvaluationError(f"{where}: the header announces only {expected} pair lines")
        fold, position = divmod(offset, 2 * n_pairs)
        same = position < n_pairs
        if len(fields) != (3 if same else 4):
            kind = "a matched pair 'name i j'" if same else "a mismatched pair 'name1 i name2 j'"
            raise EvaluationError(f"{where}: fold {fold + 1} expects {kind} here, got {text!r}")
        name_fields, number_fields = ((0, 0), (1, 2)) if same else ((0, 2), (1, 3))
        a, b = (_person(fields[k], where) for k in name_fields)
        i, j = (_number(fields[k], where) for k in number_fields)
        if a == b and (i == j or not same):
            problem = f"compares image {i} with itself" if same else f"names {a} twice"
            raise EvaluationError(f"{where}: the pair {problem}")
        first, second = (root / n / f"{n}_{k:04d}.jpg" for n, k in ((a, i), (b, j)))
        pairs.append(Pair(first, second, same, fold, offset + 2))
    if len(pairs) != expected:
        raise EvaluationError(
            f"{path}: the header announces {n_folds} fold(s) x 2 x {n_pairs} = {expected} "
            f"pair lines, the file ends after {len(pairs)}"
        )
    return pairs
