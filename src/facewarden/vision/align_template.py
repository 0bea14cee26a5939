"""Alignment to a fixed template by a similarity transform, for models trained on such crops.

dlib's ResNet wants dlib's own chips (:mod:`facewarden.vision.align`);
ArcFace-style models want the 112x112 crop of insightface, where five points
(eye centres, nose tip, mouth corners) land on :data:`ARCFACE_112`. This
module is the pure geometry for the latter: :func:`umeyama` fits the least-
squares similarity between point sets, :func:`align_similarity` warps an image
with it (PIL, bilinear).

dlib's 5 points are not insightface's: dlib gives the four eye corners and
the base of the nose, and no mouth. :func:`arcface_points_from_dlib` turns
them into three approximate ArcFace points (the eye centres, as the mean of
each eye's corners, and the nose base), and :data:`ARCFACE_112_FROM_DLIB`
holds the matching template points: the ArcFace eyes, and the nose base placed
below the ArcFace nose tip by the proportions of dlib's 68-point mean face
(``get_face_chip_details``: the nose base, point 33, lies 0.20 of the
eye-to-mouth distance below the nose tip, point 30). The result is close to
insightface's crop but not identical: a model fed these crops needs its
thresholds calibrated on them.

Points are ``(x, y)`` pixels with pixel centres at integers, as dlib and
insightface give them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = [
    "ARCFACE_112",
    "ARCFACE_112_FROM_DLIB",
    "align_similarity",
    "arcface_points_from_dlib",
    "umeyama",
]

RGBImage = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float64]

#: insightface's ArcFace template for a 112x112 crop: left eye, right eye (as seen
#: in the image), nose tip, left and right mouth corners.
ARCFACE_112: Points = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)

#: Where the points of :func:`arcface_points_from_dlib` belong in the ArcFace crop:
#: the two eye centres of :data:`ARCFACE_112`, and the nose base estimated below its tip.
ARCFACE_112_FROM_DLIB: Points = np.array(
    [
        ARCFACE_112[0],
        ARCFACE_112[1],
        [56.0252, 71.7366 + 0.1993 * (92.2848 - 51.5989)],
    ]
)


def arcface_points_from_dlib(landmarks: npt.ArrayLike) -> Points:
    """Approximate ArcFace points from dlib's 5 points: the two eye centres, then the nose base.

    Args:
        landmarks: ``(5, 2)`` in dlib's order (subject's left eye outer and
            inner corner, right eye outer and inner corner, nose base).

    Raises:
        ValueError: landmarks of the wrong shape.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"landmarks must have shape (5, 2), got {points.shape}")
    # The subject's right eye is on the image's left, as in the ArcFace template.
    image_left_eye = points[2:4].mean(axis=0)
    image_right_eye = points[0:2].mean(axis=0)
    return np.stack([image_left_eye, image_right_eye, points[4]])


def umeyama(source: npt.ArrayLike, target: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The ``(2, 3)`` similarity (rotation, scale, translation) best mapping source to target.

    Least squares over the points (Umeyama, 1991), never a reflection.

    Raises:
        ValueError: point sets of different or wrong shapes, fewer than two
            points, or all source points at one place.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"need two matching (n >= 2, 2) point sets, got {src.shape}, {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var <= 1e-12:
        raise ValueError("the source points all lie at one place")
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum() / src_var)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align_similarity(
    image: RGBImage, landmarks: npt.ArrayLike, template: npt.ArrayLike, size: int
) -> RGBImage:
    """The ``(size, size, 3)`` crop of ``image`` where ``landmarks`` best land on ``template``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        landmarks: ``(n, 2)`` points in ``image``.
        template: ``(n, 2)`` points in the crop, same order.
        size: side of the square crop in pixels.

    Raises:
        ValueError: bad image, point sets or size.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    forward = umeyama(landmarks, template)
    inverse = np.linalg.inv(forward[:, :2])
    # PIL samples output pixel (x, y) at its centre (x + 0.5, y + 0.5) and
    # maps it through the coefficients into the same continuous coordinates;
    # our points put pixel centres at integers, hence the half-pixel shifts.
    offset = 0.5 - inverse @ (forward[:, 2] + 0.5)
    coefficients = (*inverse[0], offset[0], *inverse[1], offset[1])
    warped = Image.fromarray(image).transform(
        (size, size), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR
    )
    return np.asarray(warped, dtype=np.uint8)
