"""Ground truth for detection tests: dlib's annotated boxes and how found boxes match them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from facewarden.types import Box


def annotated_images(xml_path: Path) -> dict[str, list[Box]]:
    """Every image of a dlib imglab XML file with its boxes as xyxy (ignored ones left out)."""
    return {
        str(image.get("file")): [
            Box(
                float(b.get("left", 0)),
                float(b.get("top", 0)),
                float(b.get("left", 0)) + float(b.get("width", 0)),
                float(b.get("top", 0)) + float(b.get("height", 0)),
            )
            for b in image.iter("box")
            if b.get("ignore") != "1"
        ]
        for image in ET.parse(xml_path).getroot().iter("image")
    }


def annotated_boxes(xml_path: Path, image_name: str) -> list[Box]:
    """The boxes of one image in a dlib imglab XML file, as xyxy."""
    boxes = annotated_images(xml_path).get(image_name)
    if boxes is None:
        raise AssertionError(f"{image_name} not in {xml_path}")
    return boxes


def match_boxes(found: list[Box], truth: list[Box], min_iou: float = 0.3) -> tuple[int, int]:
    """(true positives, false positives), each annotated box matched at most once."""
    unmatched = list(truth)
    hits = 0
    for box in sorted(found, key=lambda b: -b.area):
        best = max(unmatched, key=box.iou, default=None)
        if best is not None and box.iou(best) >= min_iou:
            unmatched.remove(best)
            hits += 1
    return hits, len(found) - hits
