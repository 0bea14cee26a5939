"""A TensorFlow.js graph model (``model.json`` plus weight shards), read and checked.

The format (tfjs-converter's ``graph-model``): a JSON document whose
``modelTopology.node`` lists TensorFlow ``NodeDef``\\ s (name, op, inputs,
attributes) and whose ``weightsManifest`` names the binary shards and, in
order, the tensors packed in them (name, shape, dtype, optional
quantization). Every ``Const`` node's value is one of those tensors.

Read here, without TensorFlow, and refused with a
:class:`~facewarden.errors.ModelError` that names the problem:

* malformed JSON, another format, a node that is not a JSON object;
* a shard path that is not a plain file name beside the JSON (no folders,
  no ``..``): a manifest never reaches outside its own folder;
* a dtype other than ``float32`` or ``int32``, or a quantization other than
  ``float16`` (half floats widen to float32 exactly; the affine ``uint8`` /
  ``uint16`` schemes would need a scale and an offset and are not read);
* shards shorter or longer than the tensors the manifest lists, a missing
  shard, a shape with a negative or non-integer size;
* an op outside :data:`SUPPORTED_OPS`, a node input naming no node, a
  ``Const`` node without a tensor or a tensor without a ``Const`` node;
* a NaN weight (infinities are kept: a max-pool's padding value is -inf).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewarden.errors import ModelError

__all__ = ["SUPPORTED_OPS", "TfjsGraph", "TfjsNode", "read_graph"]

#: The TensorFlow ops the ONNX builder understands (those of the converted NanoDet graph).
SUPPORTED_OPS = frozenset(
    {
        "Const",
        "Placeholder",
        "Identity",
        "Transpose",
        "Pad",
        "PadV2",
        "Conv2D",
        "Add",
        "AddV2",
        "LeakyRelu",
        "MaxPool",
        "ConcatV2",
        "ResizeBilinear",
        "SplitV",
        "Sigmoid",
        "Reshape",
        "SparseToDense",
    }
)

# The bytes of one stored element, per stored dtype.
_STORED: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "float16": np.dtype("<f2"),
}

#: A sanity bound on one JSON document (NanoDet's is 122 kB).
MAX_JSON_BYTES = 16 << 20
#: ...and on the weights all shards hold together (NanoDet's: 7.6 MB).
MAX_WEIGHT_BYTES = 512 << 20


@dataclass(frozen=True)
class TfjsNode:
    """One TensorFlow node: its ``op``, its inputs (``name`` or ``name:index``), attributes."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TfjsGraph:
    """The nodes in file order, the ``Const`` tensors by node name, and the declared outputs."""

    nodes: tuple[TfjsNode, ...]
    constants: dict[str, npt.NDArray[Any]]
    outputs: tuple[str, ...]

    def needed_in_order(self) -> list[TfjsNode]:
        """The nodes the outputs depend on, each after its inputs (a cycle is refused)."""
        by_name = {n.name: n for n in self.nodes}
        order: list[TfjsNode] = []
        state: dict[str, int] = {}  # 1: being visited, 2: done
        for output in self.outputs:
            stack = [(output, False)]
            while stack:
                name, inputs_done = stack.pop()
                if inputs_done:
                    state[name] = 2
                    order.append(by_name[name])
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise ModelError(f"the graph has a cycle through {name!r}")
                state[name] = 1
                stack.append((name, True))
                for source in reversed(by_name[name].inputs):
                    parent = source.split(":")[0]
                    if state.get(parent) != 2:
                        if state.get(parent) == 1:
                            raise ModelError(f"the graph has a cycle through {parent!r}")
                        stack.append((parent, False))
        return order


def read_graph(model_json: Path) -> TfjsGraph:
    """The graph at ``model_json`` with its weights from the shards beside it.

    Raises:
        ModelError: any of the problems listed in this module's docstring.
    """
    try:
        size = model_json.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ModelError(f"{model_json.name} is {size} bytes, over {MAX_JSON_BYTES}")
        document = json.loads(model_json.read_bytes())
    except OSError as exc:
        raise ModelError(f"cannot read the graph model {model_json}: {exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{model_json.name} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != "graph-model":
        raise ModelError(f"{model_json.name} is not a TensorFlow.js graph model")
    nodes = _nodes(document, model_json.name)
    manifest = _manifest(document, model_json.name)
    constants = _weights(manifest, model_json.parent)
    _check_references(nodes, constants, model_json.name)
    outputs = _outputs(document, nodes)
    return TfjsGraph(nodes=nodes, constants=constants, outputs=outputs)


def _nodes(document: dict[str, Any], where: str) -> tuple[TfjsNode, ...]:
    topology = document.get("modelTopology")
    raw = topology.get("node") if isinstance(topology, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ModelError(f"{where} has no modelTopology.node list")
    nodes = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ModelError(f"{where}: a node is not an object with a name")
        op, inputs, attr = item.get("op"), item.get("input", []), item.get("attr", {})
        if not isinstance(op, str):
            raise ModelError(f"{where}: node {item['name']!r} has no op")
        if op not in SUPPORTED_OPS:
            raise ModelError(f"{where}: node {item['name']!r} uses the unsupported op {op!r}")
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ModelError(f"{where}: node {item['name']!r} has malformed inputs")
        if any(i.startswith("^") for i in inputs):
            raise ModelError(f"{where}: node {item['name']!r} has control inputs (not supported)")
        if not isinstance(attr, dict):
            raise ModelError(f"{where}: node {item['name']!r} has malformed attributes")
        nodes.append(TfjsNode(item["name"], op, tuple(inputs), attr))
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ModelError(f"{where}: two nodes share a name")
    return tuple(nodes)


_Group = tuple[tuple[str, ...], list[dict[str, Any]]]


def _manifest(document: dict[str, Any], where: str) -> list[_Group]:
    groups = document.get("weightsManifest")
    if not isinstance(groups, list) or not groups:
        raise ModelError(f"{where} has no weightsManifest")
    out = []
    for group in groups:
        paths = group.get("paths") if isinstance(group, dict) else None
        specs = group.get("weights") if isinstance(group, dict) else None
        if not isinstance(paths, list) or not paths or not isinstance(specs, list):
            raise ModelError(f"{where}: a weightsManifest group lacks paths or weights")
        for path in paths:
            if (
                not isinstance(path, str)
                or not path
                or Path(path).name != path
                or path in (".", "..")
            ):
                raise ModelError(f"{where}: shard path {path!r} is not a plain file name")
        for spec in specs:
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise ModelError(f"{where}: a weight entry has no name")
        out.append((tuple(paths), specs))
    return out


def _shape(spec: dict[str, Any]) -> tuple[int, ...]:
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise ModelError(f"weight {spec['name']!r} has a malformed shape {shape!r}")
    return tuple(shape)


def _stored_dtype(spec: dict[str, Any]) -> np.dtype[Any]:
    dtype, quantization = spec.get("dtype"), spec.get("quantization")
    if dtype not in ("float32", "int32"):
        raise ModelError(f"weight {spec['name']!r} has the unsupported dtype {dtype!r}")
    if quantization is None:
        return _STORED[dtype]
    stored = quantization.get("dtype") if isinstance(quantization, dict) else None
    if dtype != "float32" or stored != "float16":
        raise ModelError(
            f"weight {spec['name']!r} is quantized as {stored!r}; only float16 storage of "
            "float32 weights is read (affine uint8/uint16 quantization is refused)"
        )
    return _STORED["float16"]


def _weights(manifest: list[_Group], folder: Path) -> dict[str, npt.NDArray[Any]]:
    constants: dict[str, npt.NDArray[Any]] = {}
    total = 0
    for paths, specs in manifest:
        # The shards of one group are one byte stream cut in pieces: joined in order.
        shard = "+".join(paths)
        data = b""
        for path in paths:
            try:
                data += (folder / path).read_bytes()
            except OSError as exc:
                raise ModelError(f"cannot read the weight shard {path}: {exc}") from exc
        offset = 0
        for spec in specs:
            shape, stored = _shape(spec), _stored_dtype(spec)
            count = math.prod(shape)
            end = offset + count * stored.itemsize
            total += count * stored.itemsize
            if total > MAX_WEIGHT_BYTES:
                raise ModelError(f"the weights exceed {MAX_WEIGHT_BYTES} bytes")
            if end > len(data):
                raise ModelError(
                    f"weight shard {shard} is too short: "
                    f"{len(data)} bytes, weight {spec['name']!r} ends at {end}"
                )
            array = np.frombuffer(data, stored, count, offset).reshape(shape)
            if array.dtype.kind == "f":
                array = array.astype(np.float32)
                if np.isnan(array).any():
                    raise ModelError(f"weight {spec['name']!r} holds a NaN")
            else:
                array = array.astype(np.int32)
            if spec["name"] in constants:
                raise ModelError(f"weight {spec['name']!r} is listed twice")
            constants[spec["name"]] = array
            offset = end
        if offset != len(data):
            raise ModelError(
                f"weight shard {shard} holds {len(data) - offset} bytes "
                "more than its manifest lists"
            )
    return constants


def _check_references(
    nodes: tuple[TfjsNode, ...], constants: dict[str, npt.NDArray[Any]], where: str
) -> None:
    names = {n.name for n in nodes}
    const_names = {n.name for n in nodes if n.op == "Const"}
    for node in nodes:
        for source in node.inputs:
            if source.split(":")[0] not in names:
                raise ModelError(f"{where}: node {node.name!r} reads {source!r}, which is no node")
    for name in const_names - constants.keys():
        raise ModelError(f"{where}: Const node {name!r} has no weight in the manifest")
    for name in constants.keys() - const_names:
        raise ModelError(f"{where}: weight {name!r} belongs to no Const node")


def _outputs(document: dict[str, Any], nodes: tuple[TfjsNode, ...]) -> tuple[str, ...]:
    signature = document.get("signature") or document.get("userDefinedMetadata", {}).get(
        "signature"
    )
    outputs = signature.get("outputs") if isinstance(signature, dict) else None
    if isinstance(outputs, dict) and outputs:
        names = sorted(str(v.get("name", k)).split(":")[0] for k, v in outputs.items())
    else:  # no signature: the nodes nothing reads
        read = {i.split(":")[0] for n in nodes for i in n.inputs}
        names = sorted(n.name for n in nodes if n.name not in read and n.op != "Const")
    known = {n.name for n in nodes}
    for name in names:
        if name not in known:
            raise ModelError(f"the signature names the output {name!r}, which is no node")
    return tuple(names)
