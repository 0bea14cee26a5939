"""The TensorFlow.js graph reader and its ONNX builder, on NanoDet-m's real files.

Each refusal starts from a copy of the real ``nanodet.json`` / ``nanodet.bin``
with one thing broken, and expects a :class:`ModelError` naming it: a
converter that accepted any of these would build a silently wrong model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facewarden.convert.people_model import OUTPUTS, check_files, converted_nanodet
from facewarden.convert.tfjs_graph import read_graph
from facewarden.convert.tfjs_onnx import INPUT_NAME, build_onnx_from_tfjs
from facewarden.errors import ModelError

Document = dict[str, Any]


@pytest.fixture
def copy(nanodet_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the two files; returns the JSON's path."""
    for name in ("nanodet.json", "nanodet.bin"):
        shutil.copyfile(nanodet_dir / name, tmp_path / name)
    return tmp_path / "nanodet.json"


def _edit(path: Path, change: Callable[[Document], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _node(document: Document, op: str) -> Document:
    return next(n for n in document["modelTopology"]["node"] if n["op"] == op)


def _weight(document: Document, dtype: str) -> Document:
    weights = document["weightsManifest"][0]["weights"]
    return next(w for w in weights if w["dtype"] == dtype and w["shape"])


def _set_op(document: Document) -> None:
    _node(document, "LeakyRelu")["op"] = "Gelu"


def _set_dtype(document: Document) -> None:
    _weight(document, "float32")["dtype"] = "float64"


def _set_affine(document: Document) -> None:
    weight = _weight(document, "float32")
    weight["quantization"] = {"dtype": "uint8", "scale": 0.1, "min": -1.0}


def _set_path(document: Document) -> None:
    document["weightsManifest"][0]["paths"] = ["../nanodet.bin"]


def _set_shape(document: Document) -> None:
    # Same element count, another layout: the bytes all match, the graph does not.
    kernel = next(
        w
        for w in document["weightsManifest"][0]["weights"]
        if w["name"] == "PartitionedCall/split" and w["shape"] == [3, 3, 3, 32]
    )
    kernel["shape"] = [3, 3, 32, 3]


def _set_input(document: Document) -> None:
    _node(document, "Conv2D")["input"][0] = "no_such_node"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set_op, "unsupported op 'Gelu'"),
        (_set_dtype, "unsupported dtype 'float64'"),
        (_set_affine, "quantized as 'uint8'"),
        (_set_path, "not a plain file name"),
        (_set_shape, "PartitionedCall/convolution"),
        (_set_input, "which is no node"),
    ],
)
def test_an_altered_graph_is_refused_naming_the_problem(
    copy: Path, change: Callable[[Document], None], message: str
) -> None:
    _edit(copy, change)
    with pytest.raises(ModelError, match=message):
        build_onnx_from_tfjs(read_graph(copy), OUTPUTS)


def test_malformed_json_is_refused(copy: Path) -> None:
    copy.write_bytes(copy.read_bytes()[:-20])
    with pytest.raises(ModelError, match="not valid JSON"):
        read_graph(copy)


@pytest.mark.parametrize(
    ("cut", "message"), [(-4, "too short"), (+4, "4 bytes more than its manifest lists")]
)
def test_a_short_or_long_weight_file_is_refused(copy: Path, cut: int, message: str) -> None:
    weights = copy.parent / "nanodet.bin"
    data = weights.read_bytes()
    weights.write_bytes(data[:cut] if cut < 0 else data + b"\0" * cut)
    with pytest.raises(ModelError, match=message):
        read_graph(copy)


def test_a_missing_weight_file_is_refused(copy: Path) -> None:
    (copy.parent / "nanodet.bin").unlink()
    with pytest.raises(ModelError, match=r"cannot read the weight shard nanodet\.bin"):
        read_graph(copy)


def test_an_altered_weight_that_still_parses_is_refused_by_its_pinned_hash(copy: Path) -> None:
    weights = copy.parent / "nanodet.bin"
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0x01
    weights.write_bytes(bytes(data))
    read_graph(copy)  # the format alone cannot tell...
    with pytest.raises(ModelError, match=r"nanodet\.bin is not the file of @vladmandic"):
        check_files(copy.parent)  # ...the pinned hash does
    with pytest.raises(ModelError, match=r"nanodet\.bin is not the file"):
        converted_nanodet(copy.parent, cache=copy.parent / "cache")


def test_the_graph_is_rebuilt_without_round_trips_and_takes_any_multiple_of_32(
    nanodet_dir: Path, tmp_path: Path
) -> None:
    import onnx
    import onnxruntime

    model = onnx.load_from_string(converted_nanodet(nanodet_dir, cache=tmp_path))
    ops = [node.op_type for node in model.graph.node]
    # onnx-tf's NCHW <-> NHWC pairs around each of the 34 convolutions are gone;
    # the 6 left reorder the heads' outputs, and each bias sits in its convolution.
    assert ops.count("Conv") == 34 and ops.count("Transpose") == 6
    assert all(len(n.input) == 3 for n in model.graph.node if n.op_type == "Conv")
    assert (tmp_path / next(p.name for p in tmp_path.glob("nanodet-m-416-*.onnx"))).is_file()
    session = onnxruntime.InferenceSession(model.SerializeToString())
    names = [o.name for o in session.get_outputs()]
    for rows, columns in ((416, 416), (256, 384)):
        pixels = np.zeros((1, 3, rows, columns), np.float32)
        outputs = dict(zip(names, session.run(None, {INPUT_NAME: pixels}), strict=True))
        for stride in (8, 16, 32):
            cells = (rows // stride) * (columns // stride)
            assert outputs[f"scores_{stride}"].shape == (1, cells, 80)
            assert outputs[f"boxes_{stride}"].shape == (1, cells, 44)
            probabilities = outputs[f"scores_{stride}"]
            assert probabilities.min() >= 0 and probabilities.max() <= 1  # through a sigmoid
            # An empty (mean-coloured) picture holds nobody.
            assert probabilities[..., 0].max() < 0.3
