"""Other ways to write Caffe's LRN in ONNX, each timed inside the whole GoogLeNet.

    .venv/bin/python benchmarks/lrn_forms.py --threads 1 --cpu-time --seconds 6
    .venv/bin/python benchmarks/lrn_forms.py --threads 2 --seconds 8

Each form replaces the LRN converter while the net compiles (the rest of the graph is
the same), and runs with the Scorer's session options. All forms and OpenCV alternate
on the same batch; the table gives images per second, the median of the rounds'
ratios to OpenCV and to the converter's own form, and each form's largest difference
from OpenCV (Caffe's LRN is exact in every form but "no LRN").
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is a folder of the repository

from benchmarks.engine import MODELS, Settings, call_seconds, disagreement, opencv_runner
from caffebatch.compiler import registry
from caffebatch.compiler.converters import normalization
from caffebatch.compiler.converters._spatial import scratch
from caffebatch.compiler.registry import Tensor
from caffebatch.model import compile_package
from caffebatch.package import open_package
from caffebatch.runtime.scorer import session_options

OWN = "converter: squares, banded 1x1 conv, 2 Sqrt, Mul, Div"


def _scale(g, layer, x):  # k + alpha/n * window sum of squares, as the converter builds it
    return normalization._across_channels(g, layer, x, layer.param.lrn_param)


def _out(layer, x):
    return [Tensor(layer.tops[0], x.shape)]


def onnx_lrn(layer, inputs, g):
    (x,), p = inputs, layer.param.lrn_param
    g.op("LRN", x.name, output=layer.tops[0], size=p.local_size, alpha=p.alpha, beta=p.beta,
         bias=p.k)  # fmt: skip
    return _out(layer, x)


def pow_mul(layer, inputs, g):
    (x,), p = inputs, layer.param.lrn_param
    inverse = g.op("Pow", _scale(g, layer, x), g.floats(-p.beta, f"{layer.name}_nbeta"),
                   output=scratch(g, layer, "inverse"))  # fmt: skip
    g.op("Mul", x.name, inverse, output=layer.tops[0])
    return _out(layer, x)


def _roots(g, layer, s):
    root = g.op("Sqrt", s, output=scratch(g, layer, "sqrt"))
    return root, g.op("Sqrt", root, output=scratch(g, layer, "fourth_root"))


def reciprocal_mul(layer, inputs, g):
    (x,) = inputs
    root, fourth = _roots(g, layer, _scale(g, layer, x))
    power = g.op("Mul", root, fourth, output=scratch(g, layer, "power"))
    inverse = g.op("Reciprocal", power, output=scratch(g, layer, "inverse"))
    g.op("Mul", x.name, inverse, output=layer.tops[0])
    return _out(layer, x)


def two_divs(layer, inputs, g):
    (x,) = inputs
    root, fourth = _roots(g, layer, _scale(g, layer, x))
    half = g.op("Div", x.name, root, output=scratch(g, layer, "half"))
    g.op("Div", half, fourth, output=layer.tops[0])
    return _out(layer, x)


def fourth_root_over_s(layer, inputs, g):
    (x,) = inputs
    s = _scale(g, layer, x)
    _, fourth = _roots(g, layer, s)
    inverse = g.op("Div", fourth, s, output=scratch(g, layer, "inverse"))  # s^0.25 / s
    g.op("Mul", x.name, inverse, output=layer.tops[0])
    return _out(layer, x)


def depthwise_reorder(layer, inputs, g):
    # An identity depthwise Conv makes ONNX Runtime reorder s^-0.75 into NCHWc, so the
    # last Mul runs blocked and x needs no reorder out: 2 reorders per LRN instead of 3.
    (x,) = inputs
    s = _scale(g, layer, x)
    _, fourth = _roots(g, layer, s)
    inverse = g.op("Div", fourth, s, output=scratch(g, layer, "inverse"))
    channels = x.shape[1]
    ones = g.initializer(np.ones((channels, 1, 1, 1), np.float32), f"{layer.name}_ones")
    blocked = g.op("Conv", inverse, ones, output=scratch(g, layer, "blocked"),
                   kernel_shape=[1, 1], group=channels)  # fmt: skip
    g.op("Mul", x.name, blocked, output=layer.tops[0])
    return _out(layer, x)


def channel_view_conv(layer, inputs, g):
    # The window sum as a (n, 1) convolution over a (N, 1, C, H*W) view of the squares
    (x,), p = inputs, layer.param.lrn_param
    channels, height, width = x.shape[1:]
    half = (p.local_size - 1) // 2
    squares = g.op("Mul", x.name, x.name, output=scratch(g, layer, "squares"))
    view = g.op("Reshape", squares, g.ints([0, 1, channels, height * width], f"{layer.name}_v"),
                output=scratch(g, layer, "view"))  # fmt: skip
    weight = np.full((1, 1, p.local_size, 1), p.alpha / p.local_size, np.float32)
    summed = g.op("Conv", view, g.initializer(weight, f"{layer.name}_window"),
                  g.floats(np.full(1, p.k), f"{layer.name}_k"), output=scratch(g, layer, "sum"),
                  kernel_shape=[p.local_size, 1], pads=[half, 0, half, 0])  # fmt: skip
    s = g.op("Reshape", summed, g.ints([0, channels, height, width], f"{layer.name}_s"),
             output=scratch(g, layer, "scale"))  # fmt: skip
    root, fourth = _roots(g, layer, s)
    power = g.op("Mul", root, fourth, output=scratch(g, layer, "power"))
    g.op("Div", x.name, power, output=layer.tops[0])
    return _out(layer, x)


def matmul_band_nchw(layer, inputs, g):
    # The whole LRN on a (N, C, H*W) view: the Reshape makes ONNX Runtime reorder x out of
    # NCHWc once (shared by the squares and the Div), the window sum is a MatMul with the
    # band, and only the result is reordered back: 2 reorders per LRN instead of 3.
    (x,), p = inputs, layer.param.lrn_param
    channels, height, width = x.shape[1:]
    half = (p.local_size - 1) // 2
    view = g.op("Reshape", x.name, g.ints([0, channels, height * width], f"{layer.name}_v"),
                output=scratch(g, layer, "view"))  # fmt: skip
    squares = g.op("Mul", view, view, output=scratch(g, layer, "squares"))
    band = np.zeros((channels, channels), np.float32)
    for c in range(channels):
        band[c, max(0, c - half) : c + half + 1] = p.alpha / p.local_size
    summed = g.op("MatMul", g.initializer(band, f"{layer.name}_band"), squares,
                  output=scratch(g, layer, "sum"))  # fmt: skip
    s = g.op("Add", summed, g.floats(p.k, f"{layer.name}_k"), output=scratch(g, layer, "scale"))
    root, fourth = _roots(g, layer, s)
    power = g.op("Mul", root, fourth, output=scratch(g, layer, "power"))
    y = g.op("Div", view, power, output=scratch(g, layer, "y"))
    g.op("Reshape", y, g.ints([0, channels, height, width], f"{layer.name}_shape"),
         output=layer.tops[0])  # fmt: skip
    return _out(layer, x)


def no_lrn(layer, inputs, g):  # not Caffe's result: the bound on what any LRN form can gain
    (x,) = inputs
    g.op("Identity", x.name, output=layer.tops[0])
    return _out(layer, x)


FORMS: dict[str, Callable | None] = {
    OWN: None,
    "ONNX LRN op (caffe2onnx's graph)": onnx_lrn,
    "Pow(s, -beta), Mul": pow_mul,
    "Reciprocal, Mul": reciprocal_mul,
    "x / sqrt(s) / s^0.25 (two Div)": two_divs,
    "x * (s^0.25 / s)": fourth_root_over_s,
    "depthwise identity conv: 2 reorders": depthwise_reorder,
    "(n,1) conv over a (N,1,C,HW) view": channel_view_conv,
    "whole LRN on a (N,C,HW) view, MatMul band: 2 reorders": matmul_band_nchw,
    "no LRN at all (not exact; a bound)": no_lrn,
}


@contextlib.contextmanager
def lrn_converter(form: Callable | None):
    """Compile with `form` as the LRN converter (benchmark only: swaps a registry entry)."""
    registry.converters()  # loads the built-in converters
    own = registry._CONVERTERS["LRN"]
    registry._CONVERTERS["LRN"] = form or own
    try:
        yield
    finally:
        registry._CONVERTERS["LRN"] = own


def _session(model: bytes, threads: int, work: Path) -> tuple[ort.InferenceSession, int]:
    """The Scorer's session on `model`, and how many NCHWc reorders ONNX Runtime put in it."""
    options = session_options(threads)
    optimized = work / "lrn_form.optimized.onnx"
    options.optimized_model_filepath = str(optimized)
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(str(optimized), load_external_data=False).graph.node
    return session, sum(node.op_type in ("ReorderInput", "ReorderOutput") for node in nodes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpu-time", action="store_true", help="CPU seconds (with --threads 1)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--min-calls", type=int, default=5)
    parser.add_argument("--forms", default=None,
                        help="comma-separated numbers of the forms to run (0: the converter's)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "benchmarks")
    args = parser.parse_args()
    if args.cpu_time and args.threads != 1:
        parser.error("--cpu-time needs --threads 1")
    folder = MODELS["googlenet"](args.work)
    opencv = opencv_runner(open_package(folder), args.threads)
    x = np.random.default_rng(0).random((args.batch, 3, 224, 224), dtype=np.float32)
    reference = opencv(x[:4])
    runners, errors = {}, {}
    chosen = list(FORMS.items())
    if args.forms is not None:
        chosen = [chosen[int(i)] for i in args.forms.split(",")]
    reorders = {}
    for name, form in chosen:
        with lrn_converter(form):
            model = compile_package(open_package(folder)).onnx.SerializeToString()
        session, reorders[name] = _session(model, args.threads, args.work)
        feed = session.get_inputs()[0].name
        runners[name] = lambda a, session=session, feed=feed: session.run(None, {feed: a})[0]
        errors[name] = disagreement(runners[name](x[:4]), reference)
    runners["OpenCV"] = opencv
    errors["OpenCV"] = 0.0
    settings = Settings((), (args.batch,), args.seconds, args.min_calls, args.threads, args.work,
                        Path("unused.json"))  # fmt: skip
    clock = time.thread_time if args.cpu_time else time.perf_counter
    times = call_seconds(runners, x, settings, clock)
    print(f"GoogLeNet, batch {args.batch}, {args.threads} thread(s), "
          f"{'CPU' if args.cpu_time else 'wall'} time")  # fmt: skip
    print(f"{'LRN form':<56}{'img/s':>8}{'/ OpenCV':>10}{'/ converter':>13}{'vs OpenCV':>11}"
          f"{'reorders':>10}")  # fmt: skip
    for name, t in times.items():
        rate = args.batch / statistics.median(t)
        to_cv = statistics.median(c / v for c, v in zip(times["OpenCV"], t))
        own = times.get(OWN, t)
        to_own = statistics.median(o / v for o, v in zip(own, t))
        print(f"{name:<56}{rate:8.2f}{to_cv:10.2f}{to_own:13.3f}{errors[name]:11.1e}"
              f"{reorders.get(name, ''):>10}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
