"""The ONNX graphs built from dlib's networks: structure, refusals, and folding.

Numerical equivalence with dlib on real faces is tested where the backends
live (``tests/vision/test_onnx_embed.py`` and ``test_onnx_detect.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from facewarden import models
from facewarden.convert.architectures import RESNET_EMBEDDER, match
from facewarden.convert.dlib_format import read_network
from facewarden.convert.dlib_layers import DlibNetwork
from facewarden.convert.to_onnx import build_onnx
from facewarden.errors import ModelError


@pytest.fixture(scope="module")
def resnet() -> DlibNetwork:
    return read_network(models.model_path("resnet_embedder"))


@pytest.fixture(scope="module")
def mmod() -> DlibNetwork:
    return read_network(models.model_path("mmod_detector"))


def _run(proto: onnx.ModelProto, feed: dict[str, np.ndarray]) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), options, ["CPUExecutionProvider"])
    return np.asarray(session.run(None, feed)[0])


def test_the_embedder_graph_takes_uint8_chips_and_gives_128_d(resnet: DlibNetwork) -> None:
    proto = build_onnx(resnet, "resnet_embedder")
    (graph_input,) = proto.graph.input
    dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    assert (graph_input.name, dims) == ("image", ["batch", 150, 150, 3])
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [o.name for o in proto.graph.output] == ["descriptors"]
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Conv") == 29
    # 128 -> 256 channels and 3x3 vs 4x4 maps meet in add_prev: dlib zero-pads the smaller.
    assert "Pad" in ops


def test_folding_affine_layers_changes_only_rounding(resnet: DlibNetwork) -> None:
    chips = np.random.default_rng(7).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    folded = _run(build_onnx(resnet, "resnet_embedder"), {"image": chips})
    plain = _run(build_onnx(resnet, "resnet_embedder", fold_affine=False), {"image": chips})
    assert folded.shape == (2, 128)
    np.testing.assert_allclose(folded, plain, atol=1e-5)


def test_the_detector_graph_carries_its_decoding_metadata(mmod: DlibNetwork) -> None:
    proto = build_onnx(mmod, "mmod_detector")
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["facewarden.window"] == "80,80"
    assert metadata["facewarden.pyramid_down"] == "6"
    assert metadata["facewarden.pyramid_padding"] == "10"
    # Three stride-2 5x5 convolutions without padding: position p is input pixel 8p + 14.
    assert metadata["facewarden.output_to_input"] == "8.0,14.0,8.0,14.0"
    tensor = np.zeros((1, 3, 120, 100), np.float32)
    scores = _run(proto, {"tensor": tensor})
    # (120 - 5) // 2 + 1 = 58, then 27, then 12 rows; 100 -> 48 -> 22 -> 9 columns.
    assert scores.shape == (1, 1, 12, 9)


def test_a_network_of_another_model_is_refused(resnet: DlibNetwork) -> None:
    with pytest.raises(ModelError, match="loss_metric on input_rgb_image_sized"):
        build_onnx(resnet, "mmod_detector")


def test_a_network_differing_from_the_architecture_names_the_layer(resnet: DlibNetwork) -> None:
    # Drop the max pooling: everything after it shifts by one layer.
    layers = resnet.layers[:3] + resnet.layers[4:]
    with pytest.raises(ModelError, match="layer 4 from the input is 'marker'"):
        build_onnx(dataclasses.replace(resnet, layers=layers), "resnet_embedder")


def test_a_network_with_a_layer_too_many_is_refused(resnet: DlibNetwork) -> None:
    layers = (*resnet.layers, resnet.layers[-2])
    with pytest.raises(ModelError, match="131 layers where resnet_embedder has 130"):
        match(dataclasses.replace(resnet, layers=layers), "resnet_embedder")


def test_an_unknown_model_name_lists_the_known_ones(resnet: DlibNetwork) -> None:
    with pytest.raises(ModelError, match="mmod_detector, resnet_embedder"):
        build_onnx(resnet, "shape_5")


def test_the_resnet_architecture_has_the_tags_of_dlibs_example() -> None:
    # 3 + 4 + 3 + 3 + 1 residual blocks; each down-sampling one adds tag2, skip1, avg_pool.
    assert RESNET_EMBEDDER.count("add_prev1") == 10
    assert RESNET_EMBEDDER.count("add_prev2") == 4
    assert RESNET_EMBEDDER.count("skip1") == 4
    assert len(RESNET_EMBEDDER) == 130
