"""ONNX Runtime sessions are built once per process, even when threads race for them."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import onnx
from onnx import TensorProto, helper

from facewarden.vision.onnx_session import run, session


def _identity_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_threads_asking_at_once_share_one_session() -> None:
    key = f"test-identity-{uuid.uuid4().hex}"  # a key no other test has cached
    loads: list[int] = []
    start = threading.Barrier(8)
    got: list[object] = []

    def load() -> bytes:
        loads.append(1)
        return _identity_model()

    def ask() -> None:
        start.wait()
        got.append(session(key, load, threads=1, device="cpu"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(got) == 8 and all(s is got[0] for s in got)
    probe = np.arange(4, dtype=np.float32).reshape(1, 4)
    (out,) = run(got[0], {"x": probe}, what="identity")
    np.testing.assert_array_equal(out, probe)
