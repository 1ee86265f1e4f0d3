"""Winograd F(2x2, 3x3) written as ONNX ops, against ONNX Runtime's direct 3x3 Conv.

    .venv/bin/python benchmarks/winograd_graph.py

OpenCV computes 3x3 convolutions with Winograd's algorithm (fewer multiplications than
the MACs counted); ONNX Runtime has no such kernel on the CPU. This builds one 3x3
convolution + ReLU of GoogLeNet's sizes both ways, checks that they agree, and times
them in one thread (CPU seconds), with the Scorer's session options:

- input transform: a grouped Conv (one group per channel, 16 outputs, 4x4 kernel,
  stride 2) gives B^T d B for every 4x4 tile;
- a Transpose to (16, tiles, C) and a batched MatMul with the transformed weights
  G g G^T, (16, C, K);
- output transform: a MatMul by A^T x A^T (4 x 16), then a Transpose back to NCHW.

It does 2.25x fewer multiplications in the MatMul; the question is what moving the
data between the ops costs.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is a folder of the repository

from caffebatch.runtime.scorer import CPU, session_options

# batch, input channels, output channels, height = width: GoogLeNet's conv2/3x3,
# inception_3b/3x3 and inception_4e/3x3 at batch 16
SHAPES = ((16, 64, 192, 56), (16, 128, 192, 28), (16, 160, 320, 14))
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


class Builder:
    def __init__(self) -> None:
        self.nodes, self.initializers = [], []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, *inputs: str, output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attrs))
        return output

    def model(self, shape_in, shape_out) -> bytes:
        graph = helper.make_graph(
            self.nodes,
            "conv3x3",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape_in))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape_out))],
            self.initializers,
        )
        opsets = [helper.make_opsetid("", 17)]
        return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def direct(weight: np.ndarray, bias: np.ndarray, n: int, c: int, k: int, h: int) -> bytes:
    b = Builder()
    conv = b.op("Conv", "x", b.const("w", weight), b.const("b", bias), output="conv",
                kernel_shape=[3, 3], pads=[1, 1, 1, 1])  # fmt: skip
    b.op("Relu", conv, output="y")
    return b.model((n, c, h, h), (n, k, h, h))


def winograd(weight: np.ndarray, bias: np.ndarray, n: int, c: int, k: int, h: int) -> bytes:
    b, t = Builder(), h // 2
    basis = np.einsum("ai,bj->abij", B_T, B_T).reshape(16, 1, 4, 4)
    tiles = b.op("Conv", "x", b.const("bt", np.tile(basis, (c, 1, 1, 1))), output="tiles",
                 group=c, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])  # fmt: skip
    v = b.op("Reshape", tiles, b.const("s1", np.array([n, c, 16, t * t])), output="v")
    v = b.op("Transpose", v, output="vt", perm=[2, 0, 3, 1])
    v = b.op("Reshape", v, b.const("s2", np.array([16, n * t * t, c])), output="v3")
    u = np.einsum("ai,kcij,bj->abck", G, weight, G).reshape(16, c, k).astype(np.float32)
    m = b.op("MatMul", v, b.const("u", u), output="m")
    m = b.op("Reshape", m, b.const("s3", np.array([16, n * t * t * k])), output="m2")
    a = np.einsum("qa,rb->qrab", A_T, A_T).reshape(4, 16).astype(np.float32)
    o = b.op("MatMul", b.const("a", a), m, output="o")
    o = b.op("Reshape", o, b.const("s4", np.array([2, 2, n, t, t, k])), output="o6")
    o = b.op("Transpose", o, output="ot", perm=[2, 5, 3, 0, 4, 1])
    o = b.op("Reshape", o, b.const("s5", np.array([n, k, h, h])), output="o4")
    o = b.op("Add", o, b.const("b", bias.reshape(1, k, 1, 1)), output="biased")
    b.op("Relu", o, output="y")
    return b.model((n, c, h, h), (n, k, h, h))


def main() -> int:
    rng = np.random.default_rng(0)
    print(f"{'N x C -> K, H x W':<24}{'direct ms':>11}{'Winograd ms':>13}{'ratio':>7}{'diff':>10}")
    for n, c, k, h in SHAPES:
        weight = (rng.standard_normal((k, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(np.float32)
        bias = rng.standard_normal(k).astype(np.float32)
        x = rng.standard_normal((n, c, h, h)).astype(np.float32)
        sessions = {
            build.__name__: ort.InferenceSession(
                build(weight, bias, n, c, k, h), session_options(1), providers=[CPU]
            )
            for build in (direct, winograd)
        }
        outputs = {name: s.run(None, {"x": x})[0] for name, s in sessions.items()}
        scale = np.abs(outputs["direct"]).max()
        diff = np.abs(outputs["direct"] - outputs["winograd"]).max() / scale
        times = {name: [] for name in sessions}
        for _ in range(7):
            for name, session in sessions.items():
                started = time.thread_time()
                session.run(None, {"x": x})
                times[name].append(time.thread_time() - started)
        d, w = (statistics.median(times[name]) * 1e3 for name in ("direct", "winograd"))
        print(f"{f'{n} x {c} -> {k}, {h} x {h}':<24}{d:11.1f}{w:13.1f}{w / d:7.2f}{diff:10.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
