"""People counted per image against true counts (a folder plus a CSV of ``image,count``).

The count of one image is what a camera's crowd counter would count on it:
the faces the pipeline's detector is sure of
(:func:`facewarden.vision.people.countable`), plus the bodies the people
detector finds with no face in their upper half
(:func:`facewarden.vision.people.count_people`; OpenCV's HOG detector by
default, NanoDet-m on request: the report names which ran). The true count of crowd
datasets (ShanghaiTech marks every head, seen from behind or not) is not a
face count: the report gives the gap, not a face-detection score.

Beside it the report gives the count of the library facewarden replaces on
the same images (:data:`FACE_RECOGNITION`): ``face_recognition.face_locations``
with its defaults runs dlib's HOG face detector on the image upsampled once,
and each face it finds is one person.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from facewarden.errors import EvaluationError, FacewardenError
from facewarden.vision.detect import Detector, HogDetector
from facewarden.vision.people import BodyDetector, count_people, countable, make_people_detector
from facewarden.vision.pipeline import Pipeline

__all__ = [
    "FACE_RECOGNITION",
    "CountingReport",
    "evaluate_counting",
    "format_counting",
    "parse_counts",
    "read_counts",
]

#: What ``face_recognition.face_locations(image)`` runs (its default model
#: "hog", number_of_times_to_upsample=1): the baseline counted beside ours.
FACE_RECOGNITION = HogDetector(upsample=1, name="face_recognition")

_MAX_ROWS = 100_000


def parse_counts(text: str, *, source: str = "<text>") -> list[tuple[str, int]]:
    """``(image, count)`` rows of a CSV with the header ``image,count``.

    Raises:
        EvaluationError: not that format; the message names the line.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["image", "count"]:
        raise EvaluationError(f"{source}: the first line must be the header image,count")
    rows = []
    for line, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise EvaluationError(f"{source}, line {line}: expected image,count")
        name = row[0].strip()
        if not name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise EvaluationError(f"{source}, line {line}: {name!r} is not a relative path")
        try:
            count = int(row[1])
        except ValueError:
            raise EvaluationError(f"{source}, line {line}: {row[1]!r} is not a count") from None
        if count < 0:
            raise EvaluationError(f"{source}, line {line}: a count cannot be negative")
        rows.append((name, count))
        if len(rows) > _MAX_ROWS:
            raise EvaluationError(f"{source}: more than {_MAX_ROWS} rows")
    if not rows:
        raise EvaluationError(f"{source}: no rows")
    return rows


def read_counts(path: Path) -> list[tuple[str, int]]:
    """:func:`parse_counts` of the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"cannot read the counts {path}: {exc}") from exc
    return parse_counts(text, source=str(path))


@dataclass
class CountingReport:
    """Per image: (name, true count, people counted, faces found).

    ``baseline`` holds, per image in the same order, the baseline's count
    (face_recognition's faces), or is empty when no baseline ran.
    """

    rows: list[tuple[str, int, int, int]] = field(default_factory=list)
    seconds: float = 0.0
    label: str = ""
    baseline: list[int] = field(default_factory=list)
    people_detector: str = ""

    @property
    def mean_absolute_error(self) -> float:
        return sum(abs(c - t) for _, t, c, _ in self.rows) / max(1, len(self.rows))

    @property
    def true_total(self) -> int:
        return sum(t for _, t, _, _ in self.rows)

    @property
    def counted_total(self) -> int:
        return sum(c for _, _, c, _ in self.rows)

    @property
    def faces_total(self) -> int:
        return sum(f for _, _, _, f in self.rows)

    @property
    def baseline_total(self) -> int:
        return sum(self.baseline)

    @property
    def baseline_mean_absolute_error(self) -> float:
        errors = [abs(b - t) for b, (_, t, _, _) in zip(self.baseline, self.rows, strict=True)]
        return sum(errors) / max(1, len(errors))

    def to_dict(self) -> dict[str, object]:
        per_image: list[dict[str, object]] = [
            {"image": n, "true": t, "counted": c, "faces": f} for n, t, c, f in self.rows
        ]
        report: dict[str, object] = {
            "label": self.label,
            "people_detector": self.people_detector,
            "images": len(self.rows),
            "true_total": self.true_total,
            "counted_total": self.counted_total,
            "faces_total": self.faces_total,
            "mean_absolute_error": round(self.mean_absolute_error, 2),
            "seconds": round(self.seconds, 2),
            "per_image": per_image,
        }
        if self.baseline:
            report["face_recognition"] = {
                "counted_total": self.baseline_total,
                "mean_absolute_error": round(self.baseline_mean_absolute_error, 2),
            }
            for row, counted in zip(per_image, self.baseline, strict=True):
                row["face_recognition"] = counted
        return report


def evaluate_counting(
    rows: list[tuple[str, int]],
    root: Path,
    pipeline: Pipeline,
    *,
    people: BodyDetector | None = None,
    baseline: Detector | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> CountingReport:
    """Count the people of every image of ``rows`` (paths under ``root``).

    ``baseline`` (e.g. :data:`FACE_RECOGNITION`), when given, counts the faces
    it finds on the same images, one person each; its time is not in
    ``seconds``.

    Raises:
        EvaluationError: an image is missing or cannot be decoded.
    """
    bodies = people or make_people_detector()
    report = CountingReport(people_detector=bodies.name)
    started = time.perf_counter()
    for done, (name, true_count) in enumerate(rows, start=1):
        path = root / name
        if not path.is_file():
            raise EvaluationError(f"the counts list {name}, not found in {root}")
        try:
            image = pipeline.decode(path, name=name)
            faces = pipeline.run(image, embed=False)
        except FacewardenError as exc:
            raise EvaluationError(f"{name}: {exc}") from exc
        counted = count_people(countable(faces), bodies.detect(image))
        report.rows.append((name, true_count, counted, len(faces)))
        if baseline is not None:
            ours = time.perf_counter()
            report.baseline.append(len(baseline.detect(image)))
            started += time.perf_counter() - ours
        if on_progress is not None:
            on_progress(done, len(rows))
    report.seconds = time.perf_counter() - started
    return report


def format_counting(report: CountingReport) -> str:
    """The report as text lines."""
    label = f" ({report.label})" if report.label else ""
    lines = [
        f"people counted{label}: {len(report.rows)} images",
        f"  people detector: {report.people_detector or 'none'}",
        f"  counted {report.counted_total} of {report.true_total} ({report.faces_total} faces)",
        f"  mean absolute error per image: {report.mean_absolute_error:.1f}",
    ]
    if report.baseline:
        ratio = report.counted_total / max(1, report.baseline_total)
        lines += [
            "face_recognition on the same images (its faces, dlib HOG upsampled once):",
            f"  counted {report.baseline_total} of {report.true_total}, mean absolute error "
            f"{report.baseline_mean_absolute_error:.1f}; facewarden counts {ratio:.1f}x as many",
        ]
    return "\n".join(lines)
