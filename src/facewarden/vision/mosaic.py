"""Regions of a frame scaled to one face size and packed into one image, searched in one pass.

Between keyframes :class:`~facewarden.vision.video_detect.KeyframeDetector`
looks for each face again only in a region around where it should be. Each
:class:`Region` is scaled so its face measures :data:`CELL_FACE` pixels and
the regions are packed in rows, :data:`GAP` pixels apart, into one
:class:`Mosaic`; the detector runs on the mosaic once, and
:meth:`Mosaic.back` maps each box it finds to the region holding it and to
frame pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["CELL_FACE", "GAP", "Mosaic", "Region", "Xyxy", "region_around"]

RGBImage = npt.NDArray[np.uint8]
#: A box as ``(x_min, y_min, x_max, y_max)`` in frame pixels.
Xyxy = tuple[float, float, float, float]

# Between keyframes every region is scaled so its last face measures this many
# pixels (O-Net's input side: its crops lose nothing) and all regions go into one
# mosaic searched in one pass: one P-Net call per pyramid level and one R-Net and
# O-Net batch for every face, where a pass per region made ten calls per face.
CELL_FACE = 48.0
# Black between the regions of the mosaic, wider than P-Net's window at the first
# level: a window never sees two regions.
GAP = 40


def region_around(
    cx: float, cy: float, half: float, size: float, width: int, height: int
) -> Region:
    """The square ``half`` around a centre, clipped to the frame, scaled for a face of ``size``."""
    left, top = max(0, int(cx - half)), max(0, int(cy - half))
    right, bottom = min(width, int(cx + half) + 1), min(height, int(cy + half) + 1)
    return Region(left, top, right, bottom, CELL_FACE / size)


@dataclass(frozen=True)
class Region:
    """Where to look again for one face: frame pixels, and the scale bringing it to CELL_FACE."""

    left: int
    top: int
    right: int
    bottom: int
    factor: float


@dataclass(frozen=True)
class Mosaic:
    """Regions scaled to ``CELL_FACE`` and packed in rows into one image, ``GAP`` apart."""

    image: RGBImage
    regions: list[Region]
    places: list[tuple[int, int, int, int]]  # x, y, width, height in the mosaic

    @classmethod
    def pack(cls, frame: RGBImage, regions: list[Region]) -> Mosaic:
        scaled = []
        for region in regions:
            crop = frame[region.top : region.bottom, region.left : region.right]
            size = (
                max(1, round(crop.shape[1] * region.factor)),
                max(1, round(crop.shape[0] * region.factor)),
            )
            interpolation = cv2.INTER_AREA if region.factor < 1 else cv2.INTER_LINEAR
            scaled.append(cv2.resize(crop, size, interpolation=interpolation))
        # Rows about as wide as the mosaic is tall: P-Net pays for every pixel,
        # black ones included, so the packing wastes little.
        area = sum((s.shape[0] + GAP) * (s.shape[1] + GAP) for s in scaled)
        row_width = max(math.isqrt(area), *(s.shape[1] for s in scaled))
        places, x, y, row_height = [], 0, 0, 0
        for s in sorted(range(len(scaled)), key=lambda i: -scaled[i].shape[0]):
            height, width = scaled[s].shape[:2]
            if x and x + width > row_width:
                x, y, row_height = 0, y + row_height + GAP, 0
            places.append((s, (x, y, width, height)))
            x, row_height = x + width + GAP, max(row_height, height)
        canvas = np.zeros((y + row_height, max(p[0] + p[2] for _, p in places), 3), np.uint8)
        for s, (x, y, width, height) in places:
            canvas[y : y + height, x : x + width] = scaled[s]
        return cls(canvas, [regions[s] for s, _ in places], [p for _, p in places])

    def back(self, box: npt.NDArray[np.float32]) -> tuple[Region, Xyxy] | None:
        """The region whose place holds ``box``'s centre, and the box in frame pixels."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        for region, (x, y, width, height) in zip(self.regions, self.places, strict=True):
            if x <= cx < x + width and y <= cy < y + height:
                f = region.factor
                return region, (
                    region.left + (float(box[0]) - x) / f,
                    region.top + (float(box[1]) - y) / f,
                    region.left + (float(box[2]) - x) / f,
                    region.top + (float(box[3]) - y) / f,
                )
        return None
