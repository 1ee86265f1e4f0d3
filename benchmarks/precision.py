"""What bf16 buys and costs: each model on OpenVINO at f32 and at bf16, against ONNX Runtime f32.

    .venv/bin/python benchmarks/precision.py --models lenet,googlenet,resnet50_1by2 --batches 16,64

The three scorers alternate on one probe batch (`caffebatch.runtime.choice.pick`, the
measurement `engine = auto` and `--precision bf16` use), so the load of a shared machine
falls on all; each row gives the median of the rounds' call-time ratios to ONNX Runtime f32
(below 1: faster) and the largest deviation from its outputs, absolute and relative to
the output's scale. Needs the openvino extra and a CPU with AMX or AVX512-BF16.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is a folder of the repository

from benchmarks.engine import MODELS
from caffebatch.model import compile_package
from caffebatch.package import open_package
from caffebatch.runtime.backends import BF16, F32, OPENVINO, check_cpu
from caffebatch.runtime.choice import pick, probe
from caffebatch.runtime.scorer import Scorer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="lenet,googlenet,resnet50_1by2")
    parser.add_argument("--batches", default="16,64")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "benchmarks")
    args = parser.parse_args()
    check_cpu(BF16)
    print(f"{'model':<15}{'batch':>6}  {'scorer':<16}{'time / ort f32':>15}{'max abs':>10}"
          f"{'/ scale':>10}")  # fmt: skip
    for name in args.models.split(","):
        compiled = compile_package(open_package(MODELS[name](args.work)))
        model = compiled.onnx.SerializeToString()

        def scorer(engine: str, precision: str, model: bytes = model) -> Scorer:
            return Scorer(model, threads=args.threads, engine=engine, spin=False,
                          precision=precision)  # fmt: skip

        reference = scorer("onnxruntime", F32)
        others = {f"{OPENVINO} {F32}": scorer(OPENVINO, F32), f"{OPENVINO} {BF16}": scorer(OPENVINO, BF16)}
        for batch in (int(b) for b in args.batches.split(",")):
            choice = pick(reference, others, probe(compiled.inputs, batch), seconds=args.seconds,
                          min_calls=5, exact=False)  # fmt: skip
            for trial in choice.trials:
                label = "onnxruntime f32" if trial.engine == "onnxruntime" else trial.engine
                print(f"{name:<15}{batch:>6}  {label:<16}{trial.relative_time:>15.2f}"
                      f"{trial.max_abs:>10.1e}{trial.deviation:>10.1e}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
