"""Detectors on ONNX Runtime: dlib's MMOD CNN converted to ONNX, and SCRFD-style models you bring.

* :class:`OnnxMmodDetector` runs dlib's own MMOD face detector, converted
  from the installed weights, with dlib's tiled image pyramid and box decoding
  replicated in :mod:`facewarden.vision.mmod_geometry`: the same boxes as
  :class:`~facewarden.vision.detect.CnnDetector` (measured: identical corners,
  scores within 2e-6), an order of magnitude faster on the CPU.
* :class:`OnnxScrfdDetector` runs an SCRFD-style ``.onnx`` file you give,
  with the input size, preprocessing, strides, anchors and output names you
  declare; the outputs are checked against those declarations, never guessed.

Both return :class:`~facewarden.types.Face` objects like every detector: the
five landmarks come from dlib's 5-point shape predictor run on each box, so
alignment works the same whichever detector found the face.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from facewarden.errors import ConfigError, ModelError
from facewarden.types import Face
from facewarden.vision.mmod_geometry import MmodSettings, Rect, decode, tile_pyramid
from facewarden.vision.nms import suppress
from facewarden.vision.onnx_session import run, session

__all__ = ["OnnxMmodDetector", "OnnxScrfdDetector"]

RGBImage = npt.NDArray[np.uint8]


def _check_image(image: RGBImage) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")


def _faces(
    image: RGBImage, found: list[tuple[Rect, float]], scale: float, detector: str
) -> list[Face]:
    """Faces from dlib-style rectangles found at ``scale``, with dlib's 5 landmarks."""
    import dlib

    from facewarden.vision import detect  # detect.py registers these detectors

    rects = [(dlib.rectangle(*rect), score) for rect, score in found]
    return detect._faces(image, rects, scale, detector)


def _settings(metadata: dict[str, str]) -> MmodSettings:
    def numbers(key: str) -> tuple[float, ...]:
        return tuple(float(v) for v in metadata[f"facewarden.{key}"].split(","))

    try:
        width, height = (int(v) for v in numbers("window"))
        nms_iou, nms_covered = numbers("nms")
        mean_r, mean_g, mean_b = numbers("mean_rgb")
        scale_x, offset_x, scale_y, offset_y = numbers("output_to_input")
        return MmodSettings(
            mean_rgb=(mean_r, mean_g, mean_b),
            pyramid_down=int(metadata["facewarden.pyramid_down"]),
            pyramid_padding=int(metadata["facewarden.pyramid_padding"]),
            pyramid_outer_padding=int(metadata["facewarden.pyramid_outer_padding"]),
            window=(width, height),
            nms_iou=nms_iou,
            nms_covered=nms_covered,
            output_to_input=(scale_x, offset_x, scale_y, offset_y),
        )
    except (KeyError, ValueError) as exc:
        raise ModelError(f"the converted MMOD model lacks its decoding metadata ({exc})") from exc


@dataclass(frozen=True)
class OnnxMmodDetector:
    """dlib's MMOD CNN face detector converted to ONNX and run by onnxruntime.

    Attributes:
        scale: resize the image by this factor before searching (as
            :class:`~facewarden.vision.detect.CnnDetector`).
        min_confidence: drop detections scoring below this.
        threads: onnxruntime intra-op threads per process (0: all cores).
        device: ``cpu``, or ``cuda`` when onnxruntime offers it (else the CPU).
    """

    scale: float = 1.0
    min_confidence: float = 0.0
    name: str = "onnx-cnn"
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ConfigError(f"scale must be positive, got {self.scale}")
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (all cores) or more, got {self.threads}")

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces in ``image`` (H, W, 3 uint8 RGB), best score first."""
        from facewarden.vision.detect import _resize

        _check_image(image)
        found = self.boxes(_resize(image, self.scale))
        kept = [(rect, score) for rect, score in found if score >= self.min_confidence]
        return _faces(image, kept, self.scale, self.name)

    def boxes(self, image: RGBImage) -> list[tuple[Rect, float]]:
        """dlib's detections in ``image`` as it is: ``(left, top, right, bottom)`` inclusive."""
        _check_image(image)
        runtime, settings = self._model()
        tensor, rects = tile_pyramid(image, settings)
        if not rects:
            return []
        (scores,) = run(runtime, {runtime.get_inputs()[0].name: tensor}, what="the MMOD detector")
        return decode(np.asarray(scores)[0, 0], rects, settings)

    def _model(self) -> tuple[Any, MmodSettings]:
        from facewarden.convert.cache import converted_model

        runtime = session(
            "mmod_detector",
            lambda: converted_model("mmod_detector"),
            threads=self.threads,
            device=self.device,
        )
        return runtime, _settings_of(runtime)


# Parsed once per session (the metadata never changes), not on every frame. Keyed
# by identity: sessions live in the process-wide model cache and are never freed.
_parsed: dict[int, MmodSettings] = {}


def _settings_of(runtime: Any) -> MmodSettings:
    found = _parsed.get(id(runtime))
    if found is None:
        found = _parsed.setdefault(
            id(runtime), _settings(runtime.get_modelmeta().custom_metadata_map)
        )
    return found


@functools.lru_cache(maxsize=32)
def _anchor_centres(width: int, height: int, stride: int, anchors: int) -> npt.NDArray[np.float64]:
    ys, xs = np.mgrid[: height // stride, : width // stride]
    centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float64) * stride
    centres = np.repeat(centres, anchors, axis=0)
    centres.setflags(write=False)  # shared between calls and threads
    return centres


@dataclass(frozen=True)
class OnnxScrfdDetector:
    """An SCRFD-style ONNX face detector from a path you give, with what you declare.

    The image is resized to fit ``input_size`` keeping its aspect ratio and
    padded with zeros at the right and bottom, then each channel, in
    ``channel_order``, becomes ``(pixel - mean[c]) / std[c]``, laid out NCHW.
    For each stride ``s`` the model yields ``(input_h / s) * (input_w / s) *
    anchors`` scores and as many ``(left, top, right, bottom)`` distances in
    units of ``s`` from the anchor centre, in the outputs named in
    ``score_outputs`` and ``box_outputs`` (same order as ``strides``).

    Attributes:
        path: the ``.onnx`` file.
        mean, std: per-channel preprocessing, in ``channel_order`` (SCRFD: 127.5, 128).
        channel_order: ``RGB`` or ``BGR``.
        score_outputs, box_outputs: output names, one per stride.
        input_size: ``(width, height)`` of the model input.
        strides: feature strides, in the order of the outputs.
        anchors: anchors per feature position.
        score_threshold: detections scoring below are dropped.
        nms_iou: boxes overlapping a better one by more than this IoU are dropped.
    """

    path: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: Literal["RGB", "BGR"]
    score_outputs: tuple[str, ...]
    box_outputs: tuple[str, ...]
    input_size: tuple[int, int] = (640, 640)
    strides: tuple[int, ...] = (8, 16, 32)
    anchors: int = 2
    score_threshold: float = 0.5
    nms_iou: float = 0.4
    name: str = "scrfd"
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        width, height = self.input_size
        if len(self.score_outputs) != len(self.strides) or len(self.box_outputs) != len(
            self.strides
        ):
            raise ConfigError("declare one score output and one box output per stride")
        if any(width % s or height % s for s in self.strides) or self.anchors < 1:
            raise ConfigError(
                f"input size {self.input_size} must divide by every stride {self.strides}"
            )
        if self.channel_order not in ("RGB", "BGR") or min(abs(s) for s in self.std) == 0:
            raise ConfigError("channel_order must be RGB or BGR, and std non-zero")

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces in ``image`` (H, W, 3 uint8 RGB), best score first."""
        boxes, scores = self.boxes(image)
        rects: list[tuple[Rect, float]] = []
        for (x0, y0, x1, y1), score in zip(boxes, scores, strict=True):
            rect = (round(x0), round(y0), round(x1) - 1, round(y1) - 1)
            if rect[2] > rect[0] and rect[3] > rect[1]:
                rects.append((rect, float(score)))
        return _faces(image, rects, 1.0, self.name)

    def preprocess(self, image: RGBImage) -> tuple[npt.NDArray[np.float32], float]:
        """The model input for ``image`` and the factor the image was resized by."""
        _check_image(image)
        width, height = self.input_size
        factor = min(width / image.shape[1], height / image.shape[0])
        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        canvas = np.zeros((height, width, 3), dtype=np.float32)
        canvas[: size[1], : size[0]] = resized
        ordered = canvas[..., ::-1] if self.channel_order == "BGR" else canvas
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        blob = ((ordered - mean) / std).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(blob, dtype=np.float32), factor

    def boxes(self, image: RGBImage) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(n, 4)`` xyxy boxes in image pixels and their ``(n,)`` scores, best first."""
        blob, factor = self.preprocess(image)
        runtime = self._session()
        outputs = dict(
            zip(
                [o.name for o in runtime.get_outputs()],
                run(runtime, {runtime.get_inputs()[0].name: blob}, what="the SCRFD detector"),
                strict=True,
            )
        )
        all_boxes, all_scores = [], []
        for stride, score_name, box_name in zip(
            self.strides, self.score_outputs, self.box_outputs, strict=True
        ):
            scores, distances = self._stride_outputs(outputs, stride, score_name, box_name)
            centres = self._centres(stride)
            keep = scores >= self.score_threshold
            d = distances[keep] * stride
            c = centres[keep]
            all_boxes.append(
                np.stack(
                    [c[:, 0] - d[:, 0], c[:, 1] - d[:, 1], c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]],
                    axis=1,
                )
            )
            all_scores.append(scores[keep])
        boxes = np.concatenate(all_boxes) / factor
        scores = np.concatenate(all_scores)
        kept = suppress(boxes, scores, iou=self.nms_iou)
        boxes, scores = boxes[kept], scores[kept]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, image.shape[1])
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, image.shape[0])
        return boxes, scores

    def _centres(self, stride: int) -> npt.NDArray[np.float64]:
        width, height = self.input_size
        return _anchor_centres(width, height, stride, self.anchors)

    def _stride_outputs(
        self, outputs: dict[str, Any], stride: int, score_name: str, box_name: str
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        width, height = self.input_size
        expected = (height // stride) * (width // stride) * self.anchors
        try:
            scores = np.asarray(outputs[score_name], dtype=np.float64).reshape(-1)
            distances = np.asarray(outputs[box_name], dtype=np.float64).reshape(-1, 4)
        except KeyError as exc:
            raise ModelError(f"{self.path} has no output {exc}; it has {sorted(outputs)}") from None
        except ValueError as exc:
            raise ModelError(f"{self.path}: output {box_name} is not a list of 4-vectors") from exc
        if len(scores) != expected or len(distances) != expected:
            raise ModelError(
                f"{self.path}: stride {stride} gives {len(scores)} scores and "
                f"{len(distances)} boxes; {expected} were declared "
                f"({height // stride}x{width // stride}x{self.anchors})"
            )
        return scores, distances

    def _session(self) -> Any:
        path = Path(self.path)
        if not path.is_file():
            raise ModelError(f"the SCRFD model {path} does not exist")
        return session(
            str(path.resolve()), lambda: str(path), threads=self.threads, device=self.device
        )
