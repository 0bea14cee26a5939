"""The ONNX embedders: dlib's converted ResNet against dlib itself, and a brought ArcFace model.

The converted ResNet must give dlib's embeddings: within 1e-4 cosine distance
per face (measured: about 1e-7), on real aligned chips from the LFW fold and
the face_recognition example photos. The ArcFace backend is tested with a tiny
ONNX graph built here, whose output is a known function of its input, so the
declared preprocessing can be checked value by value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facewarden import imaging
from facewarden.errors import ConfigError, ModelError
from facewarden.match.thresholds import threshold_for
from facewarden.vision.align import align
from facewarden.vision.detect import CascadeDetector
from facewarden.vision.embed import DlibResnetEmbedder, make_embedder
from facewarden.vision.onnx_embed import OnnxArcFaceEmbedder, OnnxResnetEmbedder
from facewarden.vision.pipeline import Pipeline

MAX_COSINE_DISTANCE = 1e-4


@pytest.fixture(scope="module", autouse=True)
def _private_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def chips(faces_dir: Path, lfw_dir: Path) -> list[np.ndarray]:
    """dlib chips of every face found in 50 LFW images and the 14 knn example photos."""
    lfw = sorted((lfw_dir / "lfw").glob("*/*.jpg"))[::16][:50]
    knn = sorted((faces_dir / "face_recognition" / "examples" / "knn_examples").rglob("*.jp*g"))
    detector = CascadeDetector(cnn_max_pixels=0)
    result = []
    for path in lfw + knn:
        image = imaging.decode(path)
        result += [align(image, face.landmarks) for face in detector.detect(image)]
    assert len(result) >= 60
    return result


@pytest.mark.slow
def test_the_converted_resnet_gives_dlibs_embeddings(chips: list[np.ndarray]) -> None:
    reference = DlibResnetEmbedder().embed(chips)
    converted = OnnxResnetEmbedder().embed(chips)
    assert converted.shape == reference.shape == (len(chips), 128)
    cosine_distance = 1.0 - np.sum(reference * converted, axis=1)
    assert cosine_distance.max() < MAX_COSINE_DISTANCE, f"worst face: {cosine_distance.max():.2e}"


def test_batches_do_not_change_the_embeddings(chips: list[np.ndarray]) -> None:
    sample = chips[:7]
    whole = OnnxResnetEmbedder().embed(sample)
    in_threes = OnnxResnetEmbedder(batch_size=3).embed(sample)
    np.testing.assert_allclose(in_threes, whole, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-6)


def test_the_pipeline_gives_the_same_faces_with_either_backend(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    dlib_faces = Pipeline().run(image)
    onnx_faces = Pipeline(embedder=OnnxResnetEmbedder()).run(image)
    assert [f.box for f in onnx_faces] == [f.box for f in dlib_faces]
    for ours, theirs in zip(onnx_faces, dlib_faces, strict=True):
        similarity = float(ours.require_embedding() @ theirs.require_embedding())
        assert 1.0 - similarity < MAX_COSINE_DISTANCE


def test_the_onnx_resnet_is_registered_and_shares_dlibs_thresholds() -> None:
    embedder = make_embedder("onnx-resnet")
    assert isinstance(embedder, OnnxResnetEmbedder)
    for mirror in (False, True):
        onnx_pipeline = Pipeline(embedder=embedder, mirror=mirror)
        assert threshold_for(onnx_pipeline, 1e-3) == threshold_for(Pipeline(mirror=mirror), 1e-3)


def test_cuda_asked_for_without_a_cuda_runtime_falls_back_to_the_cpu(
    chips: list[np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="facewarden.vision.onnx_session"):
        on_cuda = OnnxResnetEmbedder(device="cuda").embed(chips[:2])
    if "no CUDA provider" not in caplog.text:
        pytest.skip("this machine's onnxruntime has CUDA; the fallback cannot be observed")
    np.testing.assert_allclose(on_cuda, OnnxResnetEmbedder().embed(chips[:2]), atol=1e-6)


@pytest.mark.parametrize(
    ("chip", "message"),
    [
        (np.zeros((112, 112, 3), np.uint8), r"\(150, 150, 3\) uint8"),
        (np.zeros((150, 150, 3), np.float32), "uint8"),
        (np.zeros((150, 150), np.uint8), r"\(150, 150, 3\)"),
    ],
)
def test_wrong_chips_are_refused(chip: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OnnxResnetEmbedder().embed([chip])


def test_no_chips_give_no_embeddings() -> None:
    assert OnnxResnetEmbedder().embed([]).shape == (0, 128)


@pytest.mark.parametrize(
    "settings", [{"threads": -1}, {"batch_size": 0}, {"device": "tpu"}], ids=str
)
def test_bad_settings_are_config_errors(settings: dict[str, object], chips) -> None:
    with pytest.raises(ConfigError):
        OnnxResnetEmbedder(**settings).embed(chips[:1])  # type: ignore[arg-type]


# A stand-in ArcFace model: the per-channel means of the crop, times a fixed
# (3, 512) matrix. Its output is easy to predict from the declared preprocessing.
PROJECTION = np.random.default_rng(11).normal(size=(3, 512)).astype(np.float32)


def tiny_arcface(path: Path, *, size: int = 112, layout: str = "NCHW", width: int = 512) -> Path:
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    shape = [None, 3, size, size] if layout == "NCHW" else [None, size, size, 3]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["crop"], ["means"], axes=axes, keepdims=0),
            helper.make_node("MatMul", ["means", "projection"], ["embedding"]),
        ],
        "tiny_arcface",
        [helper.make_tensor_value_info("crop", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, width])],
        [numpy_helper.from_array(PROJECTION[:, :width], "projection")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def expected_arcface(crops: list[np.ndarray], mean, std, bgr: bool) -> np.ndarray:
    values = np.stack(crops).astype(np.float64)
    if bgr:
        values = values[..., ::-1]
    means = ((values - mean) / std).mean(axis=(1, 2))
    output = means @ PROJECTION.astype(np.float64)
    return output / np.linalg.norm(output, axis=1, keepdims=True)


@pytest.mark.parametrize(("order", "layout"), [("RGB", "NCHW"), ("BGR", "NCHW"), ("RGB", "NHWC")])
def test_an_arcface_model_runs_with_the_declared_preprocessing(
    tmp_path: Path, order: str, layout: str
) -> None:
    path = tiny_arcface(tmp_path / "arcface.onnx", layout=layout)
    mean, std = (10.0, 127.5, 250.0), (1.0, 128.0, 64.0)
    embedder = OnnxArcFaceEmbedder(
        str(path),
        mean=mean,
        std=std,
        channel_order=order,
        layout=layout,  # type: ignore[arg-type]
    )
    rng = np.random.default_rng(5)
    crops = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(3)]
    embeddings = embedder.embed(crops)
    assert embeddings.shape == (3, 512)
    np.testing.assert_allclose(
        embeddings, expected_arcface(crops, mean, std, order == "BGR"), atol=1e-5
    )


def test_an_arcface_model_aligns_its_own_crops(tmp_path: Path, faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    (face,) = CascadeDetector().detect(image)
    embedder = OnnxArcFaceEmbedder(
        str(tiny_arcface(tmp_path / "a.onnx")), (127.5,) * 3, (127.5,) * 3, "RGB"
    )
    crop = embedder.align(image, face.landmarks)
    assert crop.shape == (112, 112, 3)
    assert embedder.embed([crop]).shape == (1, 512)


def test_an_arcface_model_that_disagrees_with_its_declaration_is_refused(tmp_path: Path) -> None:
    crops = [np.zeros((112, 112, 3), np.uint8)]
    wrong_size = OnnxArcFaceEmbedder(
        str(tiny_arcface(tmp_path / "s.onnx", size=96)), (0.0,) * 3, (1.0,) * 3, "RGB"
    )
    with pytest.raises(ModelError, match=r"declared NCHW crops of 112x112x3"):
        wrong_size.embed(crops)
    wrong_width = OnnxArcFaceEmbedder(
        str(tiny_arcface(tmp_path / "w.onnx", width=128)), (0.0,) * 3, (1.0,) * 3, "RGB"
    )
    with pytest.raises(ModelError, match="128-d outputs, 512 were declared"):
        wrong_width.embed(crops)
    missing = OnnxArcFaceEmbedder(str(tmp_path / "absent.onnx"), (0.0,) * 3, (1.0,) * 3, "RGB")
    with pytest.raises(ModelError, match="does not exist"):
        missing.embed(crops)


def test_a_file_that_is_not_an_onnx_model_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not an onnx model")
    embedder = OnnxArcFaceEmbedder(str(path), (0.0,) * 3, (1.0,) * 3, "RGB")
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        embedder.embed([np.zeros((112, 112, 3), np.uint8)])


@pytest.mark.parametrize(
    "settings",
    [
        {"channel_order": "RBG"},
        {"layout": "CHWN"},
        {"std": (1.0, 0.0, 1.0)},
        {"mean": (1.0, 2.0)},
        {"batch_size": 0},
    ],
    ids=str,
)
def test_a_bad_arcface_declaration_is_a_config_error(settings: dict[str, object]) -> None:
    declared: dict[str, object] = {
        "path": "model.onnx",
        "mean": (0.0, 0.0, 0.0),
        "std": (1.0, 1.0, 1.0),
        "channel_order": "RGB",
    }
    with pytest.raises(ConfigError):
        OnnxArcFaceEmbedder(**{**declared, **settings})  # type: ignore[arg-type]
