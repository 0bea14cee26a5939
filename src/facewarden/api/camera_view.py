"""A pushed camera's latest frame with the detected faces boxed, for the operator's camera page.

Held in the server's memory only (the frame on its :class:`PushedStream`,
replaced by the next one, gone when the stream ends): never written
anywhere. It names no one (boxes only, no identities) and a sensitive
camera has no view at all: its frames feed anonymous counts and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facewarden import imaging
from facewarden.types import Box

__all__ = ["render_view"]

_WIDTH = 960  # pixels: enough for a desk screen, small enough to poll every second
_BOX = (37, 99, 235)  # the console's accent blue, RGB


def render_view(frame: np.ndarray, boxes: Sequence[Box]) -> bytes:
    """``frame`` (RGB) scaled to at most 960 px wide with ``boxes`` drawn, as JPEG."""
    height, width = frame.shape[:2]
    scale = min(1.0, _WIDTH / width)
    image = (
        cv2.resize(
            frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
        if scale < 1
        else frame.copy()
    )
    thickness = max(2, round(image.shape[1] / 320))
    for box in boxes:
        cv2.rectangle(
            image,
            (round(box.x_min * scale), round(box.y_min * scale)),
            (round(box.x_max * scale), round(box.y_max * scale)),
            _BOX,
            thickness,
        )
    return imaging.encode_jpeg(image, quality=80)
