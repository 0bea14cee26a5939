"""Face detection scored on the WIDER FACE ground-truth format.

The official text format, per image::

    <event>/<file>.jpg
    <number of boxes>
    x1 y1 w h blur expression illumination invalid occlusion pose     (one line per box)

A count of 0 is followed by one line of zeros. Boxes flagged ``invalid`` are
neither counted nor held against a detector: a detection on one is ignored.

Scoring (:func:`score_detections`): detections, best score first, are
matched greedily to the unmatched annotated box they overlap most, at IoU
0.5 or more. Then:

* recall per size bucket: the share of valid faces at least 20, 40 and 80 px
  wide that a detection matched;
* false positives per image: detections that matched no annotated box;
* AP50 (all-point interpolated average precision) for faces of 20 px and
  more (a detection matching a smaller or invalid face is ignored, neither
  right nor wrong) and for all valid faces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facewarden.errors import EvaluationError

__all__ = [
    "BUCKETS",
    "DetectionReport",
    "GroundTruth",
    "ImageScore",
    "format_report",
    "match_image",
    "parse_wider_gt",
    "plot_precision_recall",
    "read_wider_gt",
    "score_detections",
]

#: The face widths (px) recall is reported from.
BUCKETS = (20, 40, 80)
#: The width above which AP is also reported separately.
AP_MIN_WIDTH = 20
IOU = 0.5
_MAX_BOXES = 100_000  # per image; WIDER's most crowded image has 1,968


@dataclass(frozen=True)
class GroundTruth:
    """The annotated faces of one image.

    Attributes:
        name: the image path relative to the images folder.
        boxes: ``(n, 4)`` ``xyxy`` pixels.
        valid: ``(n,)`` False for boxes flagged ``invalid``.
    """

    name: str
    boxes: npt.NDArray[np.float64]
    valid: npt.NDArray[np.bool_]

    @property
    def widths(self) -> npt.NDArray[np.float64]:
        return self.boxes[:, 2] - self.boxes[:, 0]


def parse_wider_gt(text: str, *, source: str = "<text>") -> list[GroundTruth]:
    """The images of a WIDER FACE ground-truth text, in file order.

    Raises:
        EvaluationError: the text is not in the format; the message names the line.
    """
    lines = text.splitlines()
    images: list[GroundTruth] = []
    seen: set[str] = set()
    index = 0

    def fail(problem: str) -> EvaluationError:
        return EvaluationError(f"{source}, line {index + 1}: {problem}")

    while index < len(lines):
        name = lines[index].strip()
        if not name:
            index += 1
            continue
        if not name.lower().endswith((".jpg", ".jpeg", ".png")):
            raise fail(f"expected an image path, got {name[:80]!r}")
        # Found by fuzzing (fuzz/regressions/eval_readers): an absolute name made
        # the evaluator read any image on the disk, as ``..`` would.
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise fail(f"expected an image path inside the dataset, got {name[:80]!r}")
        if name in seen:
            raise fail(f"{name} is listed twice")
        seen.add(name)
        index += 1
        if index >= len(lines):
            raise fail(f"{name} has no box count")
        try:
            count = int(lines[index])
        except ValueError:
            raise fail(f"expected the number of boxes, got {lines[index][:80]!r}") from None
        if not 0 <= count <= _MAX_BOXES:
            raise fail(f"box count {count} is out of range")
        rows = []
        for _ in range(max(count, 1)):
            index += 1
            if index >= len(lines):
                raise fail(f"{name}: the file ends before its {count} boxes")
            rows.append(_box_line(lines[index], fail))
        index += 1
        data = np.array(rows if count else [], dtype=np.float64).reshape(-1, 10)
        if (data[:, 2:4] < 0).any():
            raise fail(f"{name}: a box has a negative width or height")
        boxes = np.column_stack(
            [data[:, 0], data[:, 1], data[:, 0] + data[:, 2], data[:, 1] + data[:, 3]]
        )
        images.append(GroundTruth(name, boxes.reshape(-1, 4), data[:, 7] == 0))
    if not images:
        raise EvaluationError(f"{source}: no images")
    return images


def _box_line(line: str, fail: Callable[[str], EvaluationError]) -> list[int]:
    fields = line.split()
    if len(fields) < 10:
        raise fail(f"a box needs 10 numbers, got {len(fields)}")
    try:
        return [int(float(v)) for v in fields[:10]]
    except (ValueError, OverflowError):  # OverflowError: 1e999 reads as infinity
        raise fail(f"not a number in {line[:80]!r}") from None


def read_wider_gt(path: Path) -> list[GroundTruth]:
    """:func:`parse_wider_gt` of the file at ``path``.

    Raises:
        EvaluationError: unreadable or malformed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"cannot read the ground truth {path}: {exc}") from exc
    return parse_wider_gt(text, source=str(path))


@dataclass(frozen=True)
class ImageScore:
    """One image's detections against its faces.

    Attributes:
        matched: ``(faces,)`` whether a detection matched each annotated face.
        scores: ``(detections,)`` the detections' scores.
        outcome: ``(detections,)`` the index of the face each detection
            matched, or -1 for none (a false positive).
    """

    truth: GroundTruth
    matched: npt.NDArray[np.bool_]
    scores: npt.NDArray[np.float64]
    outcome: npt.NDArray[np.intp]


def _iou(box: npt.NDArray[np.float64], boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    inner_w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    inner_h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inner = inner_w * inner_h
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inner
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inner / union, 0.0)  # a 0-width box overlaps nothing


def match_image(
    truth: GroundTruth, boxes: npt.ArrayLike, scores: npt.ArrayLike, *, iou: float = IOU
) -> ImageScore:
    """Greedy matching of ``boxes`` (``xyxy``, best score first after sorting) to ``truth``."""
    found = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-values, kind="stable")
    found, values = found[order], values[order]
    taken = np.zeros(len(truth.boxes), dtype=bool)
    outcome = np.full(len(found), -1, dtype=np.intp)
    for index, box in enumerate(found):
        if not len(truth.boxes):
            break
        overlap = np.where(taken, -1.0, _iou(box, truth.boxes))
        best = int(np.argmax(overlap))
        if overlap[best] >= iou:
            taken[best] = True
            outcome[index] = best
    return ImageScore(truth, taken, values, outcome)


@dataclass
class DetectionReport:
    """Recall per bucket, AP50 and false positives of a detector on a ground truth."""

    images: int
    faces: dict[int, int]
    recall: dict[int, float]
    ap50_min_width: float
    ap50_all: float
    false_positives: int
    detections: int
    seconds: float = 0.0
    label: str = ""
    curve: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    @property
    def false_positives_per_image(self) -> float:
        return self.false_positives / max(1, self.images)

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "images": self.images,
            "faces_by_min_width": {str(k): v for k, v in self.faces.items()},
            "recall_iou50_by_min_width": {str(k): round(v, 4) for k, v in self.recall.items()},
            f"ap50_width_ge_{AP_MIN_WIDTH}": round(self.ap50_min_width, 4),
            "ap50_all_faces": round(self.ap50_all, 4),
            "false_positives": self.false_positives,
            "false_positives_per_image": round(self.false_positives_per_image, 3),
            "detections": self.detections,
            "seconds": round(self.seconds, 2),
        }


def _average_precision(
    scores: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_], positives: int
) -> tuple[float, list[float], list[float]]:
    """All-point interpolated AP of detections (score, correct) against ``positives`` faces."""
    if positives == 0:
        return math.nan, [], []
    order = np.argsort(-scores, kind="stable")
    hits = correct[order].astype(np.float64)
    tp = np.cumsum(hits)
    fp = np.cumsum(1 - hits)
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, 1e-12)
    r = np.concatenate([[0.0], recall, [recall[-1] if len(recall) else 0.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    ap = float(np.sum((r[1:] - r[:-1]) * p[1:]))
    return ap, recall.tolist(), precision.tolist()


def score_detections(results: Iterable[ImageScore], *, label: str = "") -> DetectionReport:
    """The report over every image's :class:`ImageScore`."""
    faces = dict.fromkeys(BUCKETS, 0)
    hits = dict.fromkeys(BUCKETS, 0)
    subsets: dict[str, tuple[list[float], list[bool], int]] = {"min_width": ([], [], 0)}
    subsets["all"] = ([], [], 0)
    images = false_positives = detections = 0
    for result in results:
        images += 1
        truth = result.truth
        widths = truth.widths
        for bucket in BUCKETS:
            wanted = truth.valid & (widths >= bucket)
            faces[bucket] += int(wanted.sum())
            hits[bucket] += int((wanted & result.matched).sum())
        detections += len(result.scores)
        false_positives += int((result.outcome < 0).sum())
        for key, wanted in (
            ("min_width", truth.valid & (widths >= AP_MIN_WIDTH)),
            ("all", truth.valid),
        ):
            scores, correct, positives = subsets[key]
            for score, face in zip(result.scores, result.outcome, strict=True):
                if face >= 0 and not wanted[face]:
                    continue  # a face this subset does not count: ignored
                scores.append(float(score))
                correct.append(bool(face >= 0))
            subsets[key] = (scores, correct, positives + int(wanted.sum()))
    if images == 0:
        raise EvaluationError("no images were scored")
    aps: dict[str, float] = {}
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for key, (scores, correct, positives) in subsets.items():
        ap, recall, precision = _average_precision(
            np.asarray(scores, np.float64), np.asarray(correct, bool), positives
        )
        aps[key], curves[key] = ap, (recall, precision)
    return DetectionReport(
        images=images,
        faces=faces,
        recall={b: hits[b] / faces[b] if faces[b] else math.nan for b in BUCKETS},
        ap50_min_width=aps["min_width"],
        ap50_all=aps["all"],
        false_positives=false_positives,
        detections=detections,
        label=label,
        curve=curves,
    )


def format_report(report: DetectionReport) -> str:
    """The report as aligned text lines."""
    lines = [f"WIDER FACE detection{f' ({report.label})' if report.label else ''}"]
    lines.append(f"  images: {report.images}, detections: {report.detections}")
    for bucket in BUCKETS:
        lines.append(
            f"  recall at IoU {IOU}, faces >= {bucket:>2} px: {report.recall[bucket]:.3f}"
            f"  ({report.faces[bucket]} faces)"
        )
    lines.append(f"  AP50, faces >= {AP_MIN_WIDTH} px: {report.ap50_min_width:.3f}")
    lines.append(f"  AP50, all faces:        {report.ap50_all:.3f}")
    lines.append(
        f"  false positives: {report.false_positives} "
        f"({report.false_positives_per_image:.2f} per image)"
    )
    if report.seconds:
        lines.append(
            f"  time: {report.seconds:.1f} s ({report.seconds / report.images:.2f} s/image)"
        )
    return "\n".join(lines)


def plot_precision_recall(reports: list[DetectionReport], path: Path) -> None:
    """Draw the precision-recall curves (faces >= 20 px) of ``reports`` to a PNG file.

    Raises:
        EvaluationError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise EvaluationError("plotting needs matplotlib: pip install 'facewarden[plot]'") from exc
    figure, axes = plt.subplots(figsize=(6, 5))
    for report in reports:
        recall, precision = report.curve.get("min_width", ([], []))
        axes.plot(recall, precision, label=f"{report.label} (AP50 {report.ap50_min_width:.3f})")
    axes.set_xlabel(f"recall (faces >= {AP_MIN_WIDTH} px, IoU {IOU})")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
