"""The core value types: frozen dataclasses with validated shapes.

Conventions used everywhere:

* boxes are ``xyxy`` in pixels of the image as decoded (EXIF orientation
  applied), as floats: ``(x_min, y_min, x_max, y_max)``;
* landmarks are the 5 points of dlib's 5-point model, shape ``(5, 2)``,
  ``(x, y)`` pixels, in dlib's order: the subject's left eye outer and inner
  corners (on the image's right for a frontal face), the subject's right eye
  outer and inner corners, then the base of the nose;
* embeddings are L2-normalised ``float32`` vectors; *similarity* is cosine
  similarity in ``[-1, 1]`` (higher means more alike). Nothing in facewarden
  is called "distance".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Box", "Face", "Match", "Quality"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box, ``xyxy`` pixels."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def __post_init__(self) -> None:
        if not (self.x_max > self.x_min and self.y_max > self.y_min):
            raise ValueError(
                f"degenerate box {self.as_tuple()}: needs x_max > x_min, y_max > y_min"
            )

    @property
    def width(self) -> float:
        return self.x_max - self.x_min

    @property
    def height(self) -> float:
        return self.y_max - self.y_min

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x_min + self.x_max) / 2, (self.y_min + self.y_max) / 2)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x_min, self.y_min, self.x_max, self.y_max)

    def scaled(self, factor: float) -> Box:
        """This box in an image resized by ``factor``."""
        return Box(
            self.x_min * factor, self.y_min * factor, self.x_max * factor, self.y_max * factor
        )

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other``, in ``[0, 1]``."""
        ix = max(0.0, min(self.x_max, other.x_max) - max(self.x_min, other.x_min))
        iy = max(0.0, min(self.y_max, other.y_max) - max(self.y_min, other.y_min))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Quality:
    """How fit a face is for recognition, with the reasons when it is not.

    Attributes:
        face_px: the face's size: the side of a square of its box's area, in pixels
            of the original image.
        sharpness: variance of the Laplacian on the aligned grey chip (higher is sharper).
        brightness: mean grey level of the aligned chip, 0..255.
        yaw_degrees: rough head yaw from the landmarks; 0 is frontal, sign is the side.
        usable: True when no reason below applies.
        reasons: human-readable reasons the face is not usable (empty when usable).
    """

    face_px: float
    sharpness: float
    brightness: float
    yaw_degrees: float
    usable: bool
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.usable and self.reasons:
            raise ValueError("a usable face cannot carry reasons against it")
        if not self.usable and not self.reasons:
            raise ValueError("an unusable face needs at least one reason")


@dataclass(frozen=True, eq=False)
class Face:
    """One face found in one image.

    Attributes:
        box: the detector's box, ``xyxy`` pixels of the decoded image.
        landmarks: ``(5, 2)`` float32 points, dlib 5-point order (see module doc).
        detector_score: the detector's confidence; scales differ per detector.
        detector: the name of the detector that found it (``hog``, ``cnn``, ...).
        quality: the quality verdict, or None when not assessed.
        embedding: the L2-normalised embedding, or None when not computed.
    """

    box: Box
    landmarks: FloatArray
    detector_score: float
    detector: str
    quality: Quality | None = None
    embedding: FloatArray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        landmarks = np.asarray(self.landmarks, dtype=np.float32)
        if landmarks.shape != (5, 2):
            raise ValueError(f"landmarks must have shape (5, 2), got {landmarks.shape}")
        landmarks.setflags(write=False)
        object.__setattr__(self, "landmarks", landmarks)
        if self.embedding is not None:
            embedding = np.asarray(self.embedding, dtype=np.float32)
            if embedding.ndim != 1:
                raise ValueError(f"embedding must be 1-d, got shape {embedding.shape}")
            norm = float(np.linalg.norm(embedding))
            if not 0.999 < norm < 1.001:
                raise ValueError(f"embedding must be L2-normalised, norm is {norm:.4f}")
            embedding.setflags(write=False)
            object.__setattr__(self, "embedding", embedding)

    @property
    def usable(self) -> bool:
        """True when the quality verdict allows recognition (or none was made)."""
        return self.quality is None or self.quality.usable

    def require_embedding(self) -> FloatArray:
        """The embedding; raises ValueError for a face that was never embedded."""
        if self.embedding is None:
            raise ValueError("this face has no embedding: run the pipeline with embed=True")
        return self.embedding

    def with_quality(self, quality: Quality) -> Face:
        return Face(
            self.box, self.landmarks, self.detector_score, self.detector, quality, self.embedding
        )

    def with_embedding(self, embedding: FloatArray) -> Face:
        return Face(
            self.box, self.landmarks, self.detector_score, self.detector, self.quality, embedding
        )

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output; never includes the embedding."""
        data: dict[str, object] = {
            "box_xyxy": [round(v, 1) for v in self.box.as_tuple()],
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "detector": self.detector,
            "detector_score": round(self.detector_score, 4),
        }
        if self.quality is not None:
            q = self.quality
            data["quality"] = {
                "face_px": round(q.face_px, 1),
                "sharpness": round(q.sharpness, 1),
                "brightness": round(q.brightness, 1),
                "yaw_degrees": round(q.yaw_degrees, 1),
                "usable": q.usable,
                "reasons": list(q.reasons),
            }
        return data


@dataclass(frozen=True, slots=True)
class Match:
    """A candidate: a subject whose template is similar to a probe face.

    A match is a candidate for a person to review, not a fact.
    """

    subject_id: str
    similarity: float
    threshold: float

    @property
    def is_match(self) -> bool:
        return self.similarity >= self.threshold
