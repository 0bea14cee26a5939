"""The ONNX detectors: dlib's converted MMOD against dlib itself, and a brought SCRFD model.

The converted MMOD must give dlib's boxes within 1 pixel on real photos
(measured: the same integer corners, scores within 2e-6). The SCRFD backend
is tested with a tiny ONNX graph built here, whose score and box outputs are
known, so decoding, preprocessing and suppression can be checked exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facewarden import imaging, models
from facewarden.errors import ConfigError, ModelError
from facewarden.vision.detect import CnnDetector, make_detector
from facewarden.vision.onnx_detect import OnnxMmodDetector, OnnxScrfdDetector

PHOTOS = [
    "dlib/examples/faces/2008_002506.jpg",  # 3 faces, one found on the third pyramid level
    "dlib/examples/faces/2008_001009.jpg",
    "dlib/examples/faces/2008_001322.jpg",
    "dlib/examples/faces/2009_004587.jpg",
    "dlib/examples/faces/2007_007763.jpg",  # small faces the CNN does not find at this scale
    "face_recognition/examples/obama_small.jpg",
    "face_recognition/examples/alex-lacamoire.png",
]


@pytest.fixture(scope="module", autouse=True)
def _private_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.mark.slow
@pytest.mark.parametrize("photo", PHOTOS)
def test_the_converted_mmod_finds_dlibs_boxes(faces_dir: Path, photo: str) -> None:
    image = imaging.decode(faces_dir / photo)
    reference = sorted(
        ((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence)
        for d in models.load("mmod_detector")(image, 0)
    )
    converted = sorted(OnnxMmodDetector().boxes(image))
    assert len(converted) == len(reference)
    for (ours, our_score), (theirs, their_score) in zip(converted, reference, strict=True):
        assert max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) <= 1
        assert abs(our_score - their_score) < 1e-4


def test_the_onnx_detector_gives_the_cnn_detectors_faces(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "dlib/examples/faces/2008_001322.jpg")
    for scale in (1.0, 0.7):
        ours = OnnxMmodDetector(scale=scale).detect(image)
        theirs = CnnDetector(scale=scale).detect(image)
        assert [f.box for f in ours] == [f.box for f in theirs]
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a.landmarks, b.landmarks)
            assert a.detector == "onnx-cnn"


def test_the_onnx_detector_is_registered() -> None:
    assert isinstance(make_detector("onnx-cnn"), OnnxMmodDetector)


def test_min_confidence_drops_weak_faces(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "dlib/examples/faces/2008_002506.jpg")
    assert len(OnnxMmodDetector().detect(image)) == 3
    # The three score 1.0584, 1.0708 and 1.0747.
    assert len(OnnxMmodDetector(min_confidence=1.06).detect(image)) == 2
    assert OnnxMmodDetector(min_confidence=1.08).detect(image) == []


@pytest.mark.parametrize("settings", [{"scale": 0.0}, {"threads": -2}], ids=str)
def test_bad_detector_settings_are_config_errors(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        OnnxMmodDetector(**settings)  # type: ignore[arg-type]


def test_a_non_rgb_image_is_refused() -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        OnnxMmodDetector().detect(np.zeros((50, 50), np.uint8))


# A stand-in SCRFD model on 64x64 inputs, strides 8/16/32, 2 anchors: each score
# is a constant plus (for marked anchors) the mean of the first input channel,
# so a detection appears only when the declared preprocessing is applied.
STRIDES = (8, 16, 32)
COUNTS = {8: 128, 16: 32, 32: 8}


def _anchor(stride: int, row: int, column: int, anchor: int) -> int:
    return 2 * (row * (64 // stride) + column) + anchor


PEAKS = {  # stride -> (anchor index, base score, distances in stride units)
    8: (_anchor(8, 3, 4, 1), 0.3, (1.0, 1.0, 2.0, 3.0)),  # centre (32, 24)
    16: (_anchor(16, 2, 2, 0), 0.25, (0.5, 1.0, 1.0, 1.0)),  # the same box, scored lower
}


def tiny_scrfd(path: Path) -> Path:
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "first"], ["first_mean"]),
    ]
    weights = [numpy_helper.from_array(np.array([[1.0], [0.0], [0.0]], np.float32), "first")]
    outputs = []
    for stride in STRIDES:
        count = COUNTS[stride]
        base = np.full((count, 1), -1.0, np.float32)
        gain = np.zeros((count, 1), np.float32)
        boxes = np.ones((count, 4), np.float32)
        if stride in PEAKS:
            index, score, distances = PEAKS[stride]
            base[index], gain[index], boxes[index] = score, 1.0, distances
        weights += [
            numpy_helper.from_array(base, f"base{stride}"),
            numpy_helper.from_array(gain, f"gain{stride}"),
            numpy_helper.from_array(boxes, f"boxes{stride}"),
        ]
        nodes += [
            helper.make_node("Mul", ["first_mean", f"gain{stride}"], [f"lift{stride}"]),
            helper.make_node("Add", [f"base{stride}", f"lift{stride}"], [f"score_{stride}"]),
            helper.make_node("Identity", [f"boxes{stride}"], [f"bbox_{stride}"]),
        ]
        outputs += [
            helper.make_tensor_value_info(f"score_{stride}", TensorProto.FLOAT, [count, 1]),
            helper.make_tensor_value_info(f"bbox_{stride}", TensorProto.FLOAT, [count, 4]),
        ]
    graph = helper.make_graph(
        nodes,
        "tiny_scrfd",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])],
        outputs,
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def scrfd(path: Path, **overrides: object) -> OnnxScrfdDetector:
    declared: dict[str, object] = {
        "path": str(path),
        "mean": (127.5, 127.5, 127.5),
        "std": (128.0, 128.0, 128.0),
        "channel_order": "RGB",
        "score_outputs": tuple(f"score_{s}" for s in STRIDES),
        "box_outputs": tuple(f"bbox_{s}" for s in STRIDES),
        "input_size": (64, 64),
    }
    return OnnxScrfdDetector(**{**declared, **overrides})  # type: ignore[arg-type]


def coloured(rows: int, columns: int) -> np.ndarray:
    image = np.zeros((rows, columns, 3), np.uint8)
    image[..., 0], image[..., 1] = 192, 64  # red channel normalises to 0.50390625
    return image


def test_an_scrfd_model_decodes_its_declared_outputs(tmp_path: Path) -> None:
    detector = scrfd(tiny_scrfd(tmp_path / "scrfd.onnx"))
    boxes, scores = detector.boxes(coloured(128, 128))
    # One peak on stride 8 at (32, 24), distances (1, 1, 2, 3) x 8 in the 64 px input;
    # the stride-16 duplicate is suppressed; the image was halved to fit the input.
    np.testing.assert_allclose(boxes, [[48.0, 32.0, 96.0, 96.0]])
    np.testing.assert_allclose(scores, [0.3 + 64.5 / 128], rtol=1e-6)
    (face,) = detector.detect(coloured(128, 128))
    assert face.box.as_tuple() == (48.0, 32.0, 96.0, 96.0)
    assert (face.detector, face.landmarks.shape) == ("scrfd", (5, 2))


def test_an_scrfd_model_letterboxes_a_wide_image(tmp_path: Path) -> None:
    # Scaled by 1/4 to 64x32 and padded below with zeros, which the preprocessing
    # then shifts like any pixel (as insightface does); with mean 0 and std 1 the
    # first channel's mean stays positive and the peak is found. Its box is 4x
    # larger in the image, then clipped to the image's 128 rows.
    detector = scrfd(tiny_scrfd(tmp_path / "scrfd.onnx"), mean=(0.0,) * 3, std=(1.0,) * 3)
    boxes, _ = detector.boxes(coloured(128, 256))
    np.testing.assert_allclose(boxes, [[96.0, 64.0, 192.0, 128.0]])


def test_the_declared_channel_order_is_applied(tmp_path: Path) -> None:
    # In BGR order the first channel is blue (0), which pushes the score below 0.5.
    boxes, _ = scrfd(tiny_scrfd(tmp_path / "scrfd.onnx"), channel_order="BGR").boxes(
        coloured(128, 128)
    )
    assert boxes.shape == (0, 4)


def test_outputs_that_disagree_with_the_declaration_are_refused(tmp_path: Path) -> None:
    path = tiny_scrfd(tmp_path / "scrfd.onnx")
    with pytest.raises(ModelError, match=r"stride 8 gives 128 scores .* 64 were declared"):
        scrfd(path, anchors=1).boxes(coloured(64, 64))
    with pytest.raises(ModelError, match="has no output 'cls_8'"):
        scrfd(path, score_outputs=("cls_8", "score_16", "score_32")).boxes(coloured(64, 64))
    with pytest.raises(ModelError, match="does not exist"):
        scrfd(tmp_path / "absent.onnx").boxes(coloured(64, 64))


@pytest.mark.parametrize(
    "overrides",
    [
        {"score_outputs": ("score_8",)},
        {"input_size": (60, 64)},
        {"channel_order": "GRB"},
        {"anchors": 0},
    ],
    ids=str,
)
def test_a_bad_scrfd_declaration_is_a_config_error(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        scrfd(Path("model.onnx"), **overrides)
