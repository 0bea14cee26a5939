"""The MTCNN weight reader: the wheel's real files, and every way a file can be wrong."""

from __future__ import annotations

import pickle
from pathlib import Path

import lz4.frame
import numpy as np
import pytest

from facewarden.convert.mtcnn_weights import (
    ARCHITECTURES,
    NETWORKS,
    parse_weights,
    read_weights,
    weights_path,
)
from facewarden.errors import ModelError


@pytest.mark.parametrize("network", NETWORKS)
def test_reads_the_wheels_weights_with_the_architectures_shapes(network: str) -> None:
    weights = read_weights(network)
    assert [(name, array.shape) for name, array in weights.items()] == list(ARCHITECTURES[network])
    assert all(a.dtype == np.float32 for a in weights.values())


def test_gives_the_same_arrays_as_joblib() -> None:
    # joblib (a dependency of the mtcnn wheel) unpickles; the reader must agree
    # with it exactly on the wheel's own, trusted file.
    import joblib

    path = weights_path("rnet")
    ours = list(read_weights("rnet").values())
    theirs = joblib.load(path)
    assert len(ours) == len(theirs)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def _stream(network: str) -> bytes:
    data: bytes = lz4.frame.decompress(weights_path(network).read_bytes())
    return data


def test_a_truncated_file_is_refused_as_truncated(tmp_path: Path) -> None:
    data = weights_path("pnet").read_bytes()
    path = tmp_path / "pnet.lz4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        read_weights("pnet", path)


def test_a_stream_cut_inside_an_array_names_the_missing_bytes() -> None:
    stream = _stream("pnet")
    cut = lz4.frame.compress(stream[:600])
    with pytest.raises(ModelError, match=r"truncated: \d+ more bytes needed"):
        parse_weights(cut, "pnet")


def test_altered_weights_that_still_parse_are_refused(tmp_path: Path) -> None:
    stream = bytearray(_stream("onet"))
    stream[-8] ^= 0x01  # one bit of one weight of the last layer
    path = tmp_path / "onet.lz4"
    path.write_bytes(lz4.frame.compress(bytes(stream)))
    with pytest.raises(ModelError, match="altered"):
        read_weights("onet", path)


def test_a_corrupt_frame_is_refused(tmp_path: Path) -> None:
    data = bytearray(weights_path("rnet").read_bytes())
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "rnet.lz4"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"corrupt|altered|opcode|names"):
        read_weights("rnet", path)


def test_weights_of_another_network_are_refused() -> None:
    data = weights_path("pnet").read_bytes()
    with pytest.raises(ModelError, match="holds 13 arrays; the rnet architecture has 16"):
        parse_weights(data, "rnet")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([print], "names builtins.print"),
        ({"a": 1}, "single list of arrays"),
        ([1.5], "opcode"),
        ([np.zeros(3, dtype=np.float64)], "names numpy"),
    ],
)
def test_anything_but_a_list_of_float32_arrays_is_refused(payload: object, problem: str) -> None:
    data = lz4.frame.compress(pickle.dumps(payload, protocol=4))
    with pytest.raises(ModelError, match=problem):
        parse_weights(data, "pnet")


def test_not_an_lz4_file_is_refused() -> None:
    with pytest.raises(ModelError, match="not an LZ4 frame"):
        parse_weights(b"PK\x03\x04 a zip file", "pnet")


def test_an_unknown_network_is_refused() -> None:
    with pytest.raises(ModelError, match="choose one of: pnet, rnet, onet"):
        weights_path("qnet")
