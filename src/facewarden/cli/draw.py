"""Drawing faces over an image for people to look at (``detect --draw``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from facewarden.types import Face

__all__ = ["draw_faces"]

_USABLE = (46, 204, 113)
_UNUSABLE = (231, 76, 60)


def draw_faces(image: npt.NDArray[np.uint8], faces: list[Face]) -> Image.Image:
    """A copy of ``image`` with each face's box, landmarks and number drawn on it.

    Usable faces are outlined in green, faces below the quality bar in red.
    """
    canvas = Image.fromarray(image).copy()
    pen = ImageDraw.Draw(canvas)
    width = max(2, round(max(canvas.size) / 400))
    for number, face in enumerate(faces, start=1):
        colour = _USABLE if face.usable else _UNUSABLE
        pen.rectangle(face.box.as_tuple(), outline=colour, width=width)
        for x, y in face.landmarks:
            r = width
            pen.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        pen.text((face.box.x_min + width, face.box.y_min + width), str(number), fill=colour)
    return canvas
