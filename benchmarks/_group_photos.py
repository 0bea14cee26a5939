"""dlib's annotated group photos, and counting the annotated faces a detector found.

Shared by the benchmarks that score detection on them (pipeline_vs_face_recognition.py,
robustness.py): one reading of the annotations, one matching rule.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GROUP = SHARED / "faces" / "dlib" / "examples" / "faces"
IOU_HIT = 0.3
"""The overlap (intersection over union) at which a found box is an annotated face."""

BoxXYXY = tuple[float, float, float, float]


def group_annotations() -> dict[Path, list[BoxXYXY]]:
    """The annotated boxes of dlib's group photos, xyxy pixels, ``ignore`` boxes left out."""
    boxes: dict[Path, list[BoxXYXY]] = {}
    for xml_name in ("training.xml", "testing.xml"):
        for image in ET.parse(GROUP / xml_name).getroot().iter("image"):
            found = boxes.setdefault(GROUP / image.attrib["file"], [])
            for box in image.iter("box"):
                if box.attrib.get("ignore") == "1":
                    continue
                left, top = float(box.attrib["left"]), float(box.attrib["top"])
                width, height = float(box.attrib["width"]), float(box.attrib["height"])
                found.append((left, top, left + width, top + height))
    return boxes


def iou(a: BoxXYXY, b: BoxXYXY) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def hits(truth: Sequence[BoxXYXY], found: Sequence[BoxXYXY]) -> int:
    """Annotated boxes found: greedy one-to-one matching, best overlaps first."""
    candidates = sorted(
        ((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)),
        reverse=True,
    )
    used_truth: set[int] = set()
    used_found: set[int] = set()
    for overlap, i, j in candidates:
        if overlap < IOU_HIT:
            break
        if i not in used_truth and j not in used_found:
            used_truth.add(i)
            used_found.add(j)
    return len(used_truth)
