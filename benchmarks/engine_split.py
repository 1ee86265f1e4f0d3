"""One session on every core, or one single-thread session per core on a share of the batch.

    .venv/bin/python benchmarks/engine_split.py --models googlenet,resnet50_1by2 --seconds 8

ONNX Runtime splits each operator across its intra-op threads and waits for all of them
at the operator's end, so a core taken by another process stalls every operator. The
alternative here runs one single-thread session per core, each on its part of the batch
(Python threads; ONNX Runtime releases the GIL while it runs). Both and OpenCV (every
core) alternate on the same batch; ratios are medians of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is a folder of the repository

from benchmarks.engine import MODELS, Settings, call_seconds, opencv_runner
from caffebatch.model import load_model
from caffebatch.runtime.scorer import CPU, session_options


def runners(folder: Path, cores: int) -> dict:
    model = load_model(folder)
    ((name, _),) = model.inputs.items()
    onnx_bytes = model.onnx.SerializeToString()
    every_core = ort.InferenceSession(onnx_bytes, session_options(cores), providers=[CPU])
    singles = [
        ort.InferenceSession(onnx_bytes, session_options(1, spin=False), providers=[CPU])
        for _ in range(cores)
    ]
    pool = ThreadPoolExecutor(cores)

    def split(x: np.ndarray) -> np.ndarray:
        parts = np.array_split(x, cores)
        done = pool.map(lambda s, part: s.run(None, {name: part})[0], singles, parts)
        return np.concatenate(list(done))

    opencv, _ = opencv_runner(folder, cores)
    return {
        f"one session, {cores} threads (Scorer)": lambda x: every_core.run(None, {name: x})[0],
        f"{cores} single-thread sessions, batch split": split,
        "OpenCV": opencv,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="googlenet,resnet50_1by2")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--min-calls", type=int, default=7)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "benchmarks")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    settings = Settings((), (args.batch,), args.seconds, args.min_calls, cores, args.work,
                        Path("unused.json"))  # fmt: skip
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for model in args.models.split(","):
        folder = MODELS[model](args.work)
        engines = runners(folder, cores)
        ((_, shape),) = load_model(folder).inputs.items()
        x = np.random.default_rng(0).random((args.batch, *shape), dtype=np.float32)
        first, second, _ = engines
        np.testing.assert_allclose(engines[second](x), engines[first](x), rtol=1e-4, atol=1e-6)
        times = call_seconds(engines, x, settings)
        print(f"\n{model}, batch {args.batch}, wall time")
        for engine, t in times.items():
            to_cv = statistics.median(c / v for c, v in zip(times["OpenCV"], t))
            to_one = statistics.median(o / v for o, v in zip(times[first], t))
            rate = args.batch / statistics.median(t)
            print(f"  {engine:<40}{rate:8.1f} img/s{to_cv:8.2f}x OpenCV{to_one:8.3f}x one session")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
