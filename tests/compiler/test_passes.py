"""Graph-level passes: a rewritten model computes what the original computes.

Each test builds a small graph, optimizes it, checks what the pass removed, and runs
both models with ONNX Runtime (its own fusions off, so the graphs run as written) on
random inputs.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from caffebatch.compiler.compile import compile_net
from caffebatch.compiler.passes import optimize
from tests.compiler.netbuilder import layer, net

RNG = np.random.default_rng(7)
C = 4


def constant(name: str, array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def model(nodes, initializers, outputs=("y",)) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
        [
            helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", "C", "H", "W"])
            for o in outputs
        ],
        initializer=[
            constant("W", RNG.normal(size=(C, 3, 3, 3))),
            constant("b", RNG.normal(size=C)),
            *initializers,
        ],
    )
    # IR 10 as the compiler writes (graph.py): onnx's default follows onnx, and an older
    # onnxruntime in our range (1.31) refuses a newer IR
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def run(m: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        m.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"x": x})


def assert_same_outputs(original: onnx.ModelProto, optimized: onnx.ModelProto) -> None:
    onnx.checker.check_model(optimized, full_check=True)
    x = RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)
    for expected, actual in zip(run(original, x), run(optimized, x), strict=True):
        scale = float(np.max(np.abs(expected[np.isfinite(expected)])))
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * scale)


def optimize_copy(m: onnx.ModelProto) -> onnx.ModelProto:
    """`optimize` rewrites in place; the tests keep the original to compare with."""
    copy = onnx.ModelProto()
    copy.CopyFrom(m)
    return optimize(copy)


def op_types(m: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in m.graph.node]


def test_a_chain_of_per_channel_affine_nodes_folds_into_the_convolution():
    nodes = [
        helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c", "m"], ["c1"]),
        helper.make_node("Add", ["a", "c1"], ["c2"]),
        helper.make_node("Sub", ["c2", "s"], ["c3"]),
        helper.make_node("Div", ["c3", "d"], ["c4"]),
        helper.make_node("Sub", ["s", "c4"], ["c5"]),
        helper.make_node(
            "BatchNormalization", ["c5", "g", "beta", "mean", "var"], ["c6"], epsilon=1e-3
        ),
        helper.make_node("Relu", ["c6"], ["y"]),
    ]
    per_channel = lambda shape: RNG.uniform(0.5, 1.5, size=shape)
    initializers = [
        constant("m", per_channel((C, 1, 1))),
        constant("a", per_channel((1, C, 1, 1))),
        constant("s", per_channel(())),
        constant("d", per_channel((C, 1, 1))),
        constant("g", per_channel(C)),
        constant("beta", per_channel(C)),
        constant("mean", per_channel(C)),
        constant("var", per_channel(C)),
    ]
    original = model(nodes, initializers)
    optimized = optimize_copy(original)
    assert op_types(optimized) == ["Conv", "Relu"]
    assert {t.name for t in optimized.graph.initializer} == set(optimized.graph.node[0].input[1:])
    assert_same_outputs(original, optimized)


def test_a_convolution_without_bias_gets_one():
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["c"]),
        helper.make_node("Add", ["c", "a"], ["y"]),
    ]
    original = model(nodes, [constant("a", RNG.normal(size=(C, 1, 1)))])
    optimized = optimize_copy(original)
    assert op_types(optimized) == ["Conv"]
    assert len(optimized.graph.node[0].input) == 3
    assert_same_outputs(original, optimized)


@pytest.mark.parametrize(
    "case, nodes, initializers, outputs",
    [
        (
            "the output has a second reader",
            [
                helper.make_node("Conv", ["x", "W", "b"], ["c"]),
                helper.make_node("Mul", ["c", "m"], ["y"]),
                helper.make_node("Relu", ["c"], ["z"]),
            ],
            [constant("m", np.full((C, 1, 1), 2.0))],
            ("y", "z"),
        ),
        (
            "the convolution's output is a graph output",
            [
                helper.make_node("Conv", ["x", "W", "b"], ["c"]),
                helper.make_node("Mul", ["c", "m"], ["y"]),
            ],
            [constant("m", np.full((C, 1, 1), 2.0))],
            ("c", "y"),
        ),
        (
            "the constant varies along the width",
            [
                helper.make_node("Conv", ["x", "W", "b"], ["c"]),
                helper.make_node("Mul", ["c", "m"], ["y"]),
            ],
            [constant("m", RNG.normal(size=(1, 1, 1, 4)))],
            ("y",),
        ),
        (
            "the other operand is computed",
            [
                helper.make_node("Conv", ["x", "W", "b"], ["c"]),
                helper.make_node("Relu", ["c"], ["r"]),
                helper.make_node("Mul", ["c", "r"], ["y"]),
            ],
            [],
            ("y",),
        ),
        (
            "a divisor is zero (x / 0 is inf or nan, not x * inf)",
            [
                helper.make_node("Conv", ["x", "W", "b"], ["c"]),
                helper.make_node("Div", ["c", "m"], ["y"]),
            ],
            [constant("m", np.array([0.0, 1, 2, 3]).reshape(C, 1, 1))],
            ("y",),
        ),
        (
            "the divisor is the convolution",
            [
                helper.make_node("Conv", ["x", "W", "b"], ["c"]),
                helper.make_node("Div", ["m", "c"], ["y"]),
            ],
            [constant("m", np.full((C, 1, 1), 2.0))],
            ("y",),
        ),
    ],
)
def test_nothing_folds_when(case, nodes, initializers, outputs):
    original = model(nodes, initializers, outputs)
    optimized = optimize_copy(original)
    assert op_types(optimized) == op_types(original), case
    assert_same_outputs(original, optimized)


def test_batch_norm_and_scale_after_a_caffe_convolution_fold_and_match():
    """The ResNet pattern, through the real converters: Convolution, BatchNorm, Scale, ReLU."""
    w = RNG.normal(size=(C, 3, 3, 3))
    layers = [
        layer(
            "conv",
            "Convolution",
            ["x"],
            ["conv"],
            blobs=[w],
            convolution_param={"num_output": C, "kernel_size": [3], "bias_term": False},
        ),
        layer(
            "bn",
            "BatchNorm",
            ["conv"],
            ["conv@bn"],
            blobs=[RNG.normal(size=C), RNG.uniform(0.5, 2.0, size=C), [0.999]],
        ),
        layer(
            "scale",
            "Scale",
            ["conv@bn"],
            ["conv@scale"],
            blobs=[RNG.normal(size=C), RNG.normal(size=C)],
            scale_param={"bias_term": True},
        ),
        layer("relu", "ReLU", ["conv@scale"], ["conv@relu"]),
    ]
    caffe_net = net(layers, {"x": (1, 3, 6, 6)})
    original = compile_net(caffe_net, ["relu"], optimized=False).onnx
    optimized = compile_net(caffe_net, ["relu"]).onnx
    assert [t for t in op_types(optimized) if t != "Identity"] == ["Conv", "Relu"]
    assert_same_outputs(original, optimized)
