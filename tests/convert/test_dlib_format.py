"""The dlib file parser: the real model files, a tiny network written here, and damaged copies.

The tiny network is written byte by byte with the encoding of dlib's
``serialize.h`` (control byte + little-endian magnitude for integers,
mantissa/exponent pairs for floats), so each corruption below changes exactly
one thing and the test can say which error it must produce.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facewarden import models
from facewarden.convert.dlib_format import parse_network, read_network
from facewarden.convert.dlib_layers import Affine, Conv, FullyConnected, LossMetric, LossMmod
from facewarden.errors import ModelError


def dlib_int(value: int) -> bytes:
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def dlib_float(mantissa: int, exponent: int) -> bytes:
    return dlib_int(mantissa) + dlib_int(exponent)


def dlib_str(text: str) -> bytes:
    return dlib_int(len(text)) + text.encode()


def dlib_tensor(values: np.ndarray, *, version: int = 2) -> bytes:
    shape = (values.size, 1, 1, 1) if values.size else (0, 0, 0, 0)
    head = dlib_int(version) + b"".join(dlib_int(d) for d in shape)
    return head + values.astype("<f4").tobytes()


def dlib_alias(*shape: int) -> bytes:
    return dlib_int(1) + b"".join(dlib_int(d) for d in shape)


ONE = dlib_float(1, 0)
EMPTY = dlib_tensor(np.zeros(0, np.float32))
STATE = b"110" + EMPTY * 3
WEIGHTS = np.arange(6, dtype=np.float32).reshape(3, 2) / 4


def tiny_network(
    *,
    loss: str = "loss_metric_2",
    input_name: str = "input_rgb_image_sized",
    layer: str = "fc_2",
    weights: np.ndarray = WEIGHTS,
    weights_alias: tuple[int, int, int, int] = (3, 2, 1, 1),
    tensor_version: int = 2,
    state: bytes = STATE,
    input_version: int = 3,
) -> bytes:
    """loss_metric<fc_no_bias<2, input_rgb_image_sized<1>>>, as dlib would write it."""
    fc = (
        dlib_str(layer)
        + dlib_int(2)  # outputs
        + dlib_int(3)  # inputs
        + dlib_tensor(weights.ravel(), version=tensor_version)
        + dlib_alias(*weights_alias)
        + dlib_alias(0, 0, 0, 0)
        + dlib_int(1)  # FC_NO_BIAS
        + ONE * 4
    )
    return (
        dlib_int(1)
        + dlib_str(loss)
        + dlib_float(1, -1)  # margin 0.5
        + dlib_float(3, -2)  # distance threshold 0.75
        + dlib_int(input_version)
        + dlib_str(input_name)
        + dlib_float(1, 7) * 3  # mean colour 128, 128, 128
        + dlib_int(1)
        + dlib_int(1)
        + fc
        + state
        + dlib_int(1)  # sample expansion factor
    )


def test_the_tiny_network_reads_back_exactly() -> None:
    network = parse_network(tiny_network(), source="tiny.dat")
    assert network.loss == LossMetric(margin=0.5, distance_threshold=0.75)
    assert network.input.mean_rgb == (128.0, 128.0, 128.0)
    assert network.input.size == (1, 1)
    (layer,) = network.layers
    assert isinstance(layer, FullyConnected)
    assert layer.bias is None
    np.testing.assert_array_equal(layer.weights, WEIGHTS)


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        assert old in data
        return data.replace(old, new, 1)

    return change


NAN_WEIGHTS = WEIGHTS.copy()
NAN_WEIGHTS[1, 1] = np.nan

DAMAGED = [
    ("empty file", lambda d: b"", "ends early"),
    ("cut in the header", lambda d: d[:7], "ends early"),
    ("cut in the weights", lambda d: d[: len(d) - 40], "ends early"),
    ("one byte missing", lambda d: d[:-1], "ends early"),
    ("a byte too many", lambda d: d + b"\x00", "1 bytes follow the network"),
    ("unknown loss", lambda d: tiny_network(loss="loss_multiclass_log_"), "unsupported loss"),
    ("unknown input", lambda d: tiny_network(input_name="input_rgb_image"), "unsupported input"),
    ("unknown layer", lambda d: tiny_network(layer="fc_3"), "unsupported layer 'fc_3'"),
    ("old tensor format", lambda d: tiny_network(tensor_version=1), "tensor format 1"),
    ("NaN weight", lambda d: tiny_network(weights=NAN_WEIGHTS), "not finite"),
    ("shape disagrees", lambda d: tiny_network(weights_alias=(2, 3, 1, 1)), "fc weights"),
    ("bad flag", lambda d: tiny_network(state=b"1x0" + EMPTY * 3), "should be '0' or '1'"),
    ("unknown wrapper version", lambda d: tiny_network(input_version=7), "layer version 7"),
    ("nine-byte integer", _replace(b"\x01\x03", b"\x09\x03"), "control byte 0x09"),
    ("text float", _replace(dlib_float(1, -1), b"0.5 "), "old text float"),
    ("infinite margin", _replace(dlib_float(1, -1), dlib_float(0, 32000)), "not a finite"),
    ("not a dlib file", lambda d: b"\x89PNG\r\n\x1a\n" + d, "bad integer control byte"),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [pytest.param(change, message, id=name) for name, change, message in DAMAGED],
)
def test_a_damaged_file_is_refused_with_what_and_where(
    change: Callable[[bytes], bytes], message: str
) -> None:
    with pytest.raises(ModelError, match=r"tiny\.dat: not a dlib network") as caught:
        parse_network(change(tiny_network()), source="tiny.dat")
    assert message in str(caught.value)
    assert "at byte" in str(caught.value)


@pytest.fixture(scope="module")
def resnet_bytes() -> bytes:
    return models.model_path("resnet_embedder").read_bytes()


def test_the_resnet_embedder_file_is_read_whole(resnet_bytes: bytes) -> None:
    network = parse_network(resnet_bytes)
    assert isinstance(network.loss, LossMetric)
    assert network.input.kind == "input_rgb_image_sized"
    assert network.input.size == (150, 150)
    # dlib's default mean colour, stored in the file as float32.
    np.testing.assert_allclose(network.input.mean_rgb, (122.782, 117.001, 104.298), atol=1e-4)
    kinds = network.kinds
    assert (kinds.count("con"), kinds.count("affine"), kinds.count("add_prev")) == (29, 29, 14)
    assert kinds[-2:] == ("avg_pool", "fc")
    first = network.layers[0]
    assert isinstance(first, Conv)
    assert first.weights.shape == (32, 3, 7, 7)
    assert (first.stride, first.padding) == ((2, 2), (0, 0))
    fc = network.layers[-1]
    assert isinstance(fc, FullyConnected)
    assert fc.weights.shape == (256, 128)
    assert fc.bias is None
    assert len(network.sha256) == 64


def test_the_mmod_detector_file_is_read_whole() -> None:
    network = read_network(models.model_path("mmod_detector"))
    assert isinstance(network.loss, LossMmod)
    assert network.loss.windows == ((80, 80),)
    assert network.loss.nms_covered == 1.0
    # The first pyramid input format did not store its paddings; dlib uses 10 and 11.
    assert (network.input.pyramid_padding, network.input.pyramid_outer_padding) == (10, 11)
    assert network.kinds == ("con", "affine", "relu") * 6 + ("con",)
    # Batch normalisation layers are folded into affine ones, as dlib does for inference.
    assert all(isinstance(layer, Affine) for layer in network.layers[1::3])


@pytest.mark.parametrize("fraction", [0.001, 0.3, 0.999])
def test_a_truncated_model_file_is_refused(resnet_bytes: bytes, fraction: float) -> None:
    with pytest.raises(ModelError, match="ends early"):
        parse_network(resnet_bytes[: int(len(resnet_bytes) * fraction)])


def test_an_unknown_layer_in_the_real_file_is_named(resnet_bytes: bytes) -> None:
    altered = resnet_bytes.replace(b"\x05relu_", b"\x05relux", 1)
    with pytest.raises(ModelError, match=r"unsupported layer 'relux'.*layer 3 from the input"):
        parse_network(altered)


def test_a_wrapper_turned_into_a_layer_is_refused(resnet_bytes: bytes) -> None:
    # The first tag wrapper (version 1) made a computational layer (version 2):
    # the parser then finds no layer name where it needs one.
    start = resnet_bytes.index(b"loss_metric_2") + len(b"loss_metric_2") + 12
    marker = resnet_bytes.index(b"\x01\x01", start)
    altered = resnet_bytes[:marker] + b"\x01\x02" + resnet_bytes[marker + 2 :]
    with pytest.raises(ModelError):
        parse_network(altered)


def test_a_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        read_network(tmp_path / "absent.dat")
