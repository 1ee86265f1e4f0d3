"""How the Scorer's threads should be set in a batch run, where decoding shares the cores.

    .venv/bin/python benchmarks/scorer_threads.py --work /dev/shm

For LeNet (examples/lenet, the digits repeated) and the generated GoogLeNet (random
224x224 images), this runs `run_batch` folder to folder with three Scorers, in turn,
`--rounds` times: ONNX Runtime on every core (the default, its idle threads spin-wait),
on every core without spinning (`Scorer(spin=False)`), and on one
thread. It reports records per second and the process's CPU time per record (user +
system) of each run, and the engine alone (scoring decoded batches, nothing else).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is a folder of the repository

from benchmarks.engine import MODELS
from caffebatch.jobs import Location, RunOptions, run_batch
from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer

DIGITS = ROOT / "examples" / "digits" / "inputs"


def scorers(model_bytes: bytes) -> dict[str, Scorer]:
    return {
        f"{os.cpu_count()} threads, spinning (default)": Scorer(model_bytes),
        f"{os.cpu_count()} threads, no spinning": Scorer(model_bytes, spin=False),
        "1 thread": Scorer(model_bytes, threads=1),
    }


def write_inputs(model: str, folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    if model == "lenet":
        digits = [p.read_bytes() for p in sorted(DIGITS.iterdir())]
        records = (digits[i % len(digits)] for i in range(count))
    else:
        rng = np.random.default_rng(0)
        images = [rng.random((1, 3, 224, 224), dtype=np.float32) for _ in range(8)]
        records = (
            orjson.dumps({"data": images[i % 8]}, option=orjson.OPT_SERIALIZE_NUMPY)
            for i in range(count)
        )
    for index, record in enumerate(records):
        (folder / f"in_{index:06d}.json").write_bytes(record)


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def end_to_end(
    model, scorer: Scorer, source: Path, target: Path, count: int
) -> tuple[float, float]:
    """(records/s, CPU µs per record) of one folder-to-folder run."""
    cpu, started = cpu_seconds(), time.perf_counter()
    summary = run_batch(model, Location(str(source)), Location(str(target)),
                        RunOptions(run_id="bench"), scorer=scorer)  # fmt: skip
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    assert summary.status == "SUCCESS" and summary.scored == count, summary
    shutil.rmtree(target)
    return count / wall, 1e6 * cpu / count


def engine_alone(scorer: Scorer, shape: tuple[int, ...], batch: int, seconds: float):
    x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
    (name,) = scorer.inputs
    scorer({name: x})
    calls, cpu, started = 0, cpu_seconds(), time.perf_counter()
    while time.perf_counter() - started < seconds:
        scorer({name: x})
        calls += 1
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return calls * batch / wall, 1e6 * cpu / (calls * batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="lenet,googlenet")
    parser.add_argument("--lenet-count", type=int, default=5_000)
    parser.add_argument("--googlenet-count", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", default=None, help="where the folders go (default: temp dir)")
    parser.add_argument("--bench-work", type=Path, default=ROOT / "build" / "benchmarks")
    args = parser.parse_args()
    for name in args.models.split(","):
        model = load_model(MODELS[name](args.bench_work))
        count = getattr(args, f"{name}_count")
        ((_, shape),) = model.inputs.items()
        variants = scorers(model.onnx.SerializeToString())
        runs = {variant: [] for variant in variants}
        alone = {variant: [] for variant in variants}
        with tempfile.TemporaryDirectory(dir=args.work) as work:
            write_inputs(name, Path(work) / "in", count)
            order = list(variants)
            for index in range(args.rounds):
                for variant in order:
                    target = Path(work) / f"out{index}"
                    runs[variant].append(
                        end_to_end(model, variants[variant], Path(work) / "in", target, count)
                    )
                    alone[variant].append(engine_alone(variants[variant], shape, 64, 2.0))
                order = order[1:] + order[:1]
        print(f"\n{name}: {count} records, folder to folder; rate records/s, CPU µs per record")
        for variant in variants:
            e2e = ", ".join(f"{r:,.0f} ({c:,.0f} µs)" for r, c in runs[variant])
            eng = ", ".join(f"{r:,.0f} ({c:,.0f} µs)" for r, c in alone[variant])
            print(f"  {variant:<32} end to end: {e2e}\n  {'':<32} engine alone: {eng}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
