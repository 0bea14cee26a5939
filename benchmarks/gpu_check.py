"""The converted dlib models on a CUDA GPU: checked against the CPU, then timed.

Two steps, so that the GPU machine needs nothing but Python, numpy and
PyTorch with CUDA (onnxruntime-gpu is too large to carry there; where it is
installed, ``OnnxResnetEmbedder(device="cuda")`` is the run-time GPU path):

1. ``prepare`` (on the CPU machine, with facewarden installed): converts both
   dlib models to ONNX, flattens each graph into ``<model>.npz`` (its weights
   plus its node list as JSON), and stores CPU references made with
   onnxruntime: 64 real LFW chips with their descriptors, and a 1080p frame
   with its MMOD boxes. About 35 MB, under ``out/gpu_bundle`` by default.
2. ``run`` (on the GPU machine): executes the same graphs with a small PyTorch
   interpreter of the ~15 ONNX operators the converter emits, checks the GPU
   descriptors (cosine distance per face below 1e-4) and boxes (within 1 px)
   against the CPU, then reports faces/s of the embedder at batch 256 and
   frames/s of the detector on the 1080p frame (pyramid built on the
   GPU, in the same float64 steps as the CPU; NMS on the CPU), in strict
   float32 and with TF32.

Run::

    .venv/bin/python benchmarks/gpu_check.py prepare               # here
    python benchmarks/gpu_check.py run                             # on the GPU machine
    python benchmarks/gpu_check.py run --bundle out/gpu_bundle --seconds 20
    python benchmarks/gpu_check.py run --device cpu --batch 8 --seconds 1   # dry run

``run`` prints its results as JSON and, when ``$OUT`` is set, writes
``$OUT/gpu_check.json``. On the lent GPU machine: run ``prepare`` here first,
then the device tool's ``run`` with ``carry=["out/gpu_bundle"]`` (about 35 MB;
``out/`` is git-ignored) and the command ``python benchmarks/gpu_check.py run
--seconds 5`` (about 2 minutes once the machine is up). ``--device cpu`` runs
the same script without a GPU (it was checked that way with PyTorch 2.13 on
the CPU: descriptors within 1e-7, identical boxes, and a pyramid built by
PyTorch bit-identical to numpy's).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FRAME = SHARED / "faces" / "face_recognition" / "examples" / "obama-1080p.jpg"
CHIPS = 64
MAX_COSINE_DISTANCE = 1e-4


def geometry() -> Any:
    """``facewarden.vision.mmod_geometry`` loaded by path: it needs numpy only."""
    path = ROOT / "src" / "facewarden" / "vision" / "mmod_geometry.py"
    spec = importlib.util.spec_from_file_location("mmod_geometry", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mmod_geometry"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- prepare (CPU)


def flatten(model_bytes: bytes, target: Path) -> dict[str, str]:
    """Writes the graph's weights and node list to ``target``; returns its metadata."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load_from_string(model_bytes)
    nodes = [
        {
            "op": node.op_type,
            "inputs": list(node.input),
            "outputs": list(node.output),
            "attributes": {a.name: helper.get_attribute_value(a) for a in node.attribute},
        }
        for node in proto.graph.node
    ]
    weights = {f"w{i}": numpy_helper.to_array(t) for i, t in enumerate(proto.graph.initializer)}
    names = [t.name for t in proto.graph.initializer]
    graph = {"nodes": nodes, "weights": names, "input": proto.graph.input[0].name}
    np.savez(target, graph=np.array(json.dumps(graph)), **weights)
    return {p.key: p.value for p in proto.metadata_props}


def prepare(bundle: Path) -> None:
    from facewarden import imaging
    from facewarden.convert.cache import converted_model
    from facewarden.vision.align import align
    from facewarden.vision.detect import HogDetector
    from facewarden.vision.onnx_detect import OnnxMmodDetector, _settings
    from facewarden.vision.onnx_embed import OnnxResnetEmbedder

    bundle.mkdir(parents=True, exist_ok=True)
    flatten(converted_model("resnet_embedder"), bundle / "resnet_embedder.npz")
    metadata = flatten(converted_model("mmod_detector"), bundle / "mmod_detector.npz")
    detector = HogDetector()
    chips = []
    for path in sorted((SHARED / "lfw-fold1" / "lfw").glob("*/*.jpg")):
        image = imaging.decode(path)
        faces = detector.detect(image)
        if faces:
            chips.append(align(image, faces[0].landmarks))
        if len(chips) == CHIPS:
            break
    embeddings = OnnxResnetEmbedder(threads=0).embed(chips)
    frame = imaging.decode(FRAME)
    boxes = OnnxMmodDetector(threads=0).boxes(frame)
    settings = _settings(metadata)
    np.savez(
        bundle / "reference.npz",
        chips=np.stack(chips),
        embeddings=embeddings,
        frame=frame,
        boxes=np.array([rect for rect, _ in boxes], dtype=np.int64).reshape(-1, 4),
        scores=np.array([score for _, score in boxes]),
        settings=np.array(json.dumps(settings.__dict__)),
    )
    size = sum(p.stat().st_size for p in bundle.iterdir()) / 1e6
    print(f"wrote {bundle} ({size:.0f} MB): {len(chips)} chips, {len(boxes)} boxes on the frame")


# -------------------------------------------------------------------- run (GPU)


class TorchGraph:
    """Runs a flattened converted graph with PyTorch, operator by operator."""

    def __init__(self, path: Path, device: Any) -> None:
        import torch

        self.torch = torch
        data = np.load(path)
        graph = json.loads(str(data["graph"]))
        self.nodes = graph["nodes"]
        self.input = graph["input"]
        self.weights = {
            name: torch.from_numpy(np.ascontiguousarray(data[f"w{i}"])).to(device)
            for i, name in enumerate(graph["weights"])
        }

    def __call__(self, x: Any) -> Any:
        functional = self.torch.nn.functional
        values = {self.input: x, **self.weights}
        for node in self.nodes:
            op, attributes = node["op"], node["attributes"]
            args = [values[name] for name in node["inputs"]]
            if op == "Cast":
                out = args[0].float()
            elif op == "Add":
                out = args[0] + args[1]
            elif op == "Sub":
                out = args[0] - args[1]
            elif op == "Mul":
                out = args[0] * args[1]
            elif op == "Transpose":
                out = args[0].permute(*attributes["perm"])
            elif op == "Conv":
                top, left, bottom, right = attributes["pads"]
                padded = functional.pad(args[0], (left, right, top, bottom))
                out = functional.conv2d(padded, args[1], args[2], stride=attributes["strides"])
            elif op == "Relu":
                out = functional.relu(args[0])
            elif op in ("MaxPool", "AveragePool"):
                top, left, bottom, right = attributes["pads"]
                if (top, left) != (bottom, right) or (op == "AveragePool" and top + left):
                    raise NotImplementedError(f"{op} with pads {attributes['pads']}")
                pool = functional.max_pool2d if op == "MaxPool" else functional.avg_pool2d
                out = pool(args[0], attributes["kernel_shape"], attributes["strides"], (top, left))
            elif op == "GlobalAveragePool":
                out = args[0].mean(dim=(2, 3), keepdim=True)
            elif op == "Pad":  # only trailing zero padding, as the converter emits
                ends = [int(v) for v in args[1].tolist()[4:]]
                out = functional.pad(args[0], (0, ends[3], 0, ends[2], 0, ends[1]))
            elif op == "Flatten":
                out = args[0].flatten(1)
            elif op == "MatMul":
                out = args[0] @ args[1]
            elif op == "Identity":
                out = args[0]
            else:
                raise NotImplementedError(f"no PyTorch translation for {op}")
            values[node["outputs"][0]] = out
        return out


def tile_on_device(frame: np.ndarray, mmod: Any, settings: Any, device: Any) -> Any:
    """``mmod_geometry.tile_pyramid`` with PyTorch on ``device``, in the same float64 steps."""
    import torch

    rects, rows, columns = mmod.tiled_rects(frame.shape[0], frame.shape[1], settings)
    tensor = torch.zeros((1, 3, rows, columns), dtype=torch.float32, device=device)
    mean = torch.tensor(settings.mean_rgb, dtype=torch.float32, device=device)
    image = torch.from_numpy(frame).to(device)
    left, top, right, bottom = rects[0]
    tensor[0, :, top : bottom + 1, left : right + 1] = ((image.float() - mean) / 256).permute(
        2, 0, 1
    )
    for previous, rect in itertools.pairwise(rects):
        source = tensor[0, :, previous[1] : previous[3] + 1, previous[0] : previous[2] + 1]
        out_rows, out_columns = rect[3] - rect[1] + 1, rect[2] - rect[0] + 1
        in_rows, in_columns = source.shape[1:]
        xs = torch.arange(out_columns, dtype=torch.float64, device=device) * (
            (in_columns - 1) / max(out_columns - 1, 1)
        )
        ys = torch.arange(out_rows, dtype=torch.float64, device=device) * (
            (in_rows - 1) / max(out_rows - 1, 1)
        )
        x0, y0 = torch.floor(xs).long(), torch.floor(ys).long()
        x1, y1 = torch.clamp(x0 + 1, max=in_columns - 1), torch.clamp(y0 + 1, max=in_rows - 1)
        lr, tb = xs - x0, (ys - y0)[None, :, None]
        grid = source.double()
        across = grid[:, :, x0] * (1 - lr)
        across += grid[:, :, x1] * lr
        value = across[:, y0] * (1 - tb)
        value += across[:, y1] * tb
        tensor[0, :, rect[1] : rect[3] + 1, rect[0] : rect[2] + 1] = value.float()
    return tensor, rects


def timed(step: Any, seconds: float, synchronize: Any) -> float:
    """Best seconds per call of ``step`` over repeated calls for about ``seconds``."""
    step()
    synchronize()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or best == float("inf"):
        start = time.perf_counter()
        step()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def synchronizer(device: Any) -> Any:
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def check_embedder(
    embedder: TorchGraph, reference: Any, batch: int, seconds: float, device: Any
) -> dict[str, Any]:
    import torch

    chips = torch.from_numpy(reference["chips"]).to(device)
    big_batch = chips.repeat(-(-batch // len(chips)), 1, 1, 1)[:batch]
    descriptors = embedder(chips).double().cpu().numpy()
    units = descriptors / np.linalg.norm(descriptors, axis=1, keepdims=True)
    worst = float((1 - np.sum(units * reference["embeddings"], axis=1)).max())
    per_batch = timed(lambda: embedder(big_batch), seconds, synchronizer(device))
    return {
        "worst_cosine_distance": worst,
        "embedder_ok": worst < MAX_COSINE_DISTANCE,
        f"faces_per_s_batch_{batch}": batch / per_batch,
    }


def check_detector(
    detector: TorchGraph, reference: Any, mmod: Any, settings: Any, seconds: float, device: Any
) -> dict[str, Any]:
    frame = reference["frame"]
    host_tensor, _ = mmod.tile_pyramid(frame, settings)
    device_tensor, _ = tile_on_device(frame, mmod, settings, device)
    same_pyramid = bool(np.array_equal(device_tensor.cpu().numpy(), host_tensor))

    def detect() -> list[Any]:
        tensor, rects = tile_on_device(frame, mmod, settings, device)
        scores = detector(tensor)[0, 0].cpu().numpy()
        return list(mmod.decode(scores, rects, settings))

    boxes = np.array([rect for rect, _ in detect()], dtype=np.int64).reshape(-1, 4)
    expected = reference["boxes"]
    error = None
    if len(boxes) == len(expected):
        error = int(np.abs(np.sort(boxes, axis=0) - np.sort(expected, axis=0)).max(initial=0))
    sync = synchronizer(device)
    return {
        "boxes": len(boxes),
        "reference_boxes": len(expected),
        "worst_box_corner_px": error,
        "detector_ok": error is not None and error <= 1,
        "pyramid_on_device_identical": same_pyramid,
        "detector_frames_per_s_1080p": 1 / timed(detect, seconds, sync),
        "network_only_frames_per_s": 1 / timed(lambda: detector(device_tensor), seconds, sync),
        "pyramid_only_frames_per_s": 1
        / timed(lambda: tile_on_device(frame, mmod, settings, device), seconds, sync),
        "tiled_tensor_shape": list(host_tensor.shape),
    }


def run(bundle: Path, seconds: float, batch: int, device_name: str) -> dict[str, Any]:
    import torch

    if device_name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("PyTorch sees no CUDA device")
    device = torch.device(device_name)
    reference = np.load(bundle / "reference.npz")
    mmod = geometry()
    stored = json.loads(str(reference["settings"]))
    settings = mmod.MmodSettings(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}
    )
    embedder = TorchGraph(bundle / "resnet_embedder.npz", device)
    detector = TorchGraph(bundle / "mmod_detector.npz", device)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu (dry run)"
    results: dict[str, Any] = {"device": name, "torch": torch.__version__}
    for precision, tf32 in (("float32", False), ("tf32", True)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        with torch.inference_mode():
            results[precision] = {
                **check_embedder(embedder, reference, batch, seconds, device),
                **check_detector(detector, reference, mmod, settings, seconds, device),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["prepare", "run"])
    parser.add_argument("--bundle", type=Path, default=ROOT / "out" / "gpu_bundle")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per measurement")
    parser.add_argument("--batch", type=int, default=256, help="embedder batch size")
    parser.add_argument(
        "--device", default="cuda", help="cuda, or cpu to dry-run the script without a GPU"
    )
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.bundle)
        return
    results = run(args.bundle, args.seconds, args.batch, args.device)
    print(json.dumps(results, indent=2))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
