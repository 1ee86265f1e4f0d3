"""Where each engine spends its time: caffebatch and OpenCV, per kind of layer, same batch.

    .venv/bin/python benchmarks/engine_profile.py --model googlenet --batch 16 --threads 1

caffebatch's side is ONNX Runtime's own profiler on the Scorer's session (so the
NCHWc layout transform has run: its ReorderInput/ReorderOutput nodes get their own
row); OpenCV's side is `Net.getPerfProfile` after each forward pass. Both are grouped
by Caffe layer kind (convolutions by kernel size), so the two columns compare like for
like. The last line says what share of OpenCV's time caffebatch would need to fit in to
be `--goal` times faster, and how much of that the convolutions alone already take.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is a folder of the repository

from benchmarks.engine import MODELS
from caffebatch.model import compile_package, load_net
from caffebatch.package import open_package
from caffebatch.runtime.scorer import session_options

REORDERS = "layout reorders (NCHWc)"


def layer_kinds(folder: Path) -> dict[str, str]:
    """Caffe layer name -> its kind: the type, and a convolution's kernel size."""
    kinds = {}
    for layer in load_net(open_package(folder)).layers:
        kind = layer.type
        if layer.type == "Convolution":
            p = layer.param.convolution_param
            k = p.kernel_h or (p.kernel_size[0] if p.kernel_size else 1)
            kind = f"Convolution {k}x{k}"
        kinds[layer.name] = kind
    return kinds


def kind_of(node: str, kinds: dict[str, str]) -> str:
    """The kind of the Caffe layer an ONNX Runtime node came from (longest name match)."""
    if node.startswith(("ReorderInput", "ReorderOutput")):
        return REORDERS
    # Node names start with the layer's top or name ("conv2/norm2__scale_nchwc",
    # "inception_3a/1x1@inception_3a/1x1_relu_nchwc"); the top is the layer's name here.
    matches = [name for name in kinds if node.startswith(name)]
    return kinds[max(matches, key=len)] if matches else node


def caffebatch_profile(folder: Path, x: np.ndarray, threads: int, calls: int) -> dict:
    model = compile_package(open_package(folder)).onnx.SerializeToString()
    kinds = layer_kinds(folder)
    with tempfile.TemporaryDirectory() as work:
        options = session_options(threads)
        options.enable_profiling = True
        options.profile_file_prefix = f"{work}/profile"
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        session.run(None, feed)  # warm-up: allocates; its events are dropped below
        started = time.perf_counter()
        for _ in range(calls):
            session.run(None, feed)
        wall = (time.perf_counter() - started) / calls
        events = json.loads(Path(session.end_profiling()).read_text())
    by_kind, by_op = collections.Counter(), collections.Counter()
    seen = set()
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        node = event["name"][: -len("_kernel_time")]
        if node not in seen:  # the node's first run is the warm-up call
            seen.add(node)
            continue
        seconds = event["dur"] / 1e6 / calls
        by_kind[kind_of(node, kinds)] += seconds
        by_op[event["args"]["op_name"]] += seconds
    return {"wall_per_call": wall, "by_kind": by_kind, "by_op": by_op}


def opencv_profile(
    folder: Path, x: np.ndarray, threads: int, calls: int, winograd: bool = True
) -> dict:
    import cv2

    cv2.setNumThreads(threads)
    package = open_package(folder)
    net = cv2.dnn.readNetFromCaffe(str(package.prototxt), str(package.weights))
    net.enableWinograd(winograd)  # its 3x3 convolutions; on by default
    output = package.meta.output_layers[0]
    kinds = layer_kinds(folder)
    net.setInput(x)
    net.forward(output)
    by_kind = collections.Counter()
    started = time.perf_counter()
    for _ in range(calls):
        net.setInput(x)
        net.forward(output)
        _, per_layer = net.getPerfProfile()
        for name, ticks in zip(net.getLayerNames(), per_layer.ravel()):
            by_kind[kinds.get(name, name)] += ticks / cv2.getTickFrequency() / calls
    wall = (time.perf_counter() - started) / calls
    return {"wall_per_call": wall, "by_kind": by_kind}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="googlenet", choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--goal", type=float, default=2.0)
    parser.add_argument(
        "--opencv-no-winograd",
        action="store_true",
        help="OpenCV computes 3x3 convolutions directly, as ONNX Runtime does",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "benchmarks")
    args = parser.parse_args()
    folder = MODELS[args.model](args.work)
    shape = compile_package(open_package(folder)).inputs
    ((_, record),) = shape.items()
    x = np.random.default_rng(0).random((args.batch, *record), dtype=np.float32)
    ours = caffebatch_profile(folder, x, args.threads, args.calls)
    theirs = opencv_profile(folder, x, args.threads, args.calls, not args.opencv_no_winograd)
    total_ours, total_cv = sum(ours["by_kind"].values()), sum(theirs["by_kind"].values())
    print(f"{args.model}, batch {args.batch}, {args.threads} thread(s), ms per call")
    print(f"{'layer kind':<28}{'caffebatch':>12}{'OpenCV':>10}{'OpenCV / ours':>15}")
    kinds = sorted(set(ours["by_kind"]) | set(theirs["by_kind"]), key=lambda k: -ours["by_kind"][k])
    for kind in kinds:
        a, b = ours["by_kind"][kind] * 1e3, theirs["by_kind"][kind] * 1e3
        if a + b >= 0.05:
            ratio = f"{b / a:15.2f}" if a > 0 else f"{'':>15}"
            print(f"{kind:<28}{a:12.1f}{b:10.1f}{ratio}")
    print(f"{'total (kernels)':<28}{total_ours * 1e3:12.1f}{total_cv * 1e3:10.1f}"
          f"{total_cv / total_ours:15.2f}")
    print(f"{'wall per call':<28}{ours['wall_per_call'] * 1e3:12.1f}"
          f"{theirs['wall_per_call'] * 1e3:10.1f}")
    print("\nONNX Runtime, by op type:")
    for op, seconds in ours["by_op"].most_common():
        print(f"  {op:<26}{seconds * 1e3:10.1f} ms {100 * seconds / total_ours:5.1f}%")
    budget = total_cv / args.goal
    convolutions = sum(v for k, v in ours["by_kind"].items() if k.startswith("Convolution"))
    print(f"\n{args.goal}x OpenCV needs caffebatch within {budget * 1e3:.1f} ms; its convolutions "
          f"alone take {convolutions * 1e3:.1f} ms ({convolutions / budget:.0%} of that budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
