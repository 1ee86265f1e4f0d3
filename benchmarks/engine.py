"""Engine benchmark: images per second of caffebatch and of OpenCV's DNN module, same run.

    .venv/bin/python benchmarks/engine.py            # LeNet, ResNet-50-1by2, GoogLeNet
    .venv/bin/python benchmarks/engine.py --quick    # a smoke run of a few seconds per model

Both engines read the same deploy.prototxt and .caffemodel. For each model the two
engines first score the same random batch and must agree; then, for each batch size,
their calls alternate (so the noise of a shared machine falls on both alike) until
each has run for long enough, and the median call time gives images per second. The
table goes to stdout; the results, with the machine they ran on, go to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is a folder of the repository

from benchmarks.nets import write_googlenet, write_resnet50_1by2
from caffebatch.model import load_model
from caffebatch.package import open_package
from caffebatch.runtime.scorer import Scorer

# name -> how to get its model folder (given a folder for generated nets)
MODELS: dict[str, Callable[[Path], Path]] = {
    "lenet": lambda work: ROOT / "examples" / "lenet",
    "resnet50_1by2": lambda work: _generated(work / "resnet50_1by2", write_resnet50_1by2),
    "googlenet": lambda work: _generated(work / "googlenet", write_googlenet),
}
# Two fp32 engines differ by rounding (OpenCV's Winograd 3x3 convolutions round
# differently from ONNX Runtime's direct ones); the nets here differ by about 2e-6.
AGREEMENT = 1e-4

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...]
    batches: tuple[int, ...]
    seconds: float  # the least time each engine runs at one batch size
    min_calls: int
    threads: int
    work: Path
    json: Path
    cpu_time: bool = False  # time CPU seconds of the calling thread (with threads == 1)


def _generated(folder: Path, write: Callable[[Path], Path]) -> Path:
    """The net's folder, written on first use (delete it after changing a generator)."""
    if not (folder / "deployment-meta.json").exists():
        write(folder)
    return folder


class Caffebatch(NamedTuple):
    """The compiled model as a runner, with what the report needs of it."""

    run: Runner
    record_shape: tuple[int, ...]
    load_seconds: float
    macs: int  # multiply-accumulates per record


def caffebatch_runner(folder: Path, threads: int) -> Caffebatch:
    started = time.perf_counter()
    compiled = load_model(folder)
    scorer = Scorer(compiled.onnx.SerializeToString(), threads=threads)
    loaded = time.perf_counter() - started
    ((name, shape),) = compiled.inputs.items()
    output = compiled.outputs[0]
    return Caffebatch(lambda x: scorer({name: x})[output], shape, loaded, compiled.macs)


def opencv_runner(folder: Path, threads: int) -> tuple[Runner, float]:
    import cv2

    cv2.setNumThreads(threads)
    package = open_package(folder)
    started = time.perf_counter()
    net = cv2.dnn.readNetFromCaffe(str(package.prototxt), str(package.weights))
    loaded = time.perf_counter() - started
    output = package.meta.output_layers[0]

    def run(x: np.ndarray) -> np.ndarray:
        net.setInput(x)
        return net.forward(output)

    return run, loaded


def disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference, relative to the output's scale."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) or 1.0))


def call_seconds(
    runners: dict[str, Runner],
    x: np.ndarray,
    settings: Settings,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Alternate the runners on `x` until each ran `min_calls` times and `seconds` long.

    Returns each runner's call times, in rounds: the i-th times of all runners ran
    back to back, in an order that rotates from round to round. `clock` may be `time.thread_time` for single-threaded runners: CPU
    time, which other processes on the machine barely disturb.
    """
    times: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        run(x)  # warm up: first calls allocate
    order = list(runners)
    while any(len(t) < settings.min_calls or sum(t) < settings.seconds for t in times.values()):
        for name in order:
            started = clock()
            runners[name](x)
            times[name].append(clock() - started)
        # Where a call sits in its round changes its time by up to 15% here (measured
        # with a control variant), so each round starts with the next runner.
        order = order[1:] + order[:1]
    return times


def benchmark_model(model: str, settings: Settings) -> dict:
    folder = MODELS[model](settings.work)
    loaded = caffebatch_runner(folder, settings.threads)
    caffebatch, shape = loaded.run, loaded.record_shape
    opencv, cv_load = opencv_runner(folder, settings.threads)
    rng = np.random.default_rng(0)
    sample = rng.random((4, *shape), dtype=np.float32)
    error = disagreement(caffebatch(sample), opencv(sample))
    result = {
        "model": model,
        "macs_per_image": loaded.macs,
        "load_seconds": {"caffebatch": loaded.load_seconds, "opencv": cv_load},
        "disagreement": error,
        "agree": error <= AGREEMENT,
        "batches": [],
    }
    for batch in settings.batches:
        x = rng.random((batch, *shape), dtype=np.float32)
        clock = time.thread_time if settings.cpu_time else time.perf_counter
        times = call_seconds({"caffebatch": caffebatch, "opencv": opencv}, x, settings, clock)
        rates = {name: batch / statistics.median(t) for name, t in times.items()}
        # The median of the rounds' ratios: the load a round saw falls on both engines
        ratio = statistics.median(cv / cb for cb, cv in zip(times["caffebatch"], times["opencv"]))
        result["batches"].append(
            {
                "batch": batch,
                "images_per_second": rates,
                "ratio_vs_opencv": ratio,
                "caffebatch_gflops": 2 * loaded.macs * rates["caffebatch"] / 1e9,
                "calls": len(times["caffebatch"]),
            }
        )
    return result


def machine(threads: int) -> dict:
    """What the numbers ran on: CPU, cores, thread counts and the libraries' versions."""
    import cv2
    import onnxruntime

    cpu = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.processor(),
    )
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads": threads,
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "environment": {
            k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_", "MKL_"))
        },
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def table(results: list[dict]) -> str:
    lines = [
        f"{'model':<15}{'batch':>6}{'caffebatch img/s':>18}{'OpenCV img/s':>14}{'ratio':>7}{'GFLOP/s':>9}"
    ]
    for result in results:
        for row in result["batches"]:
            rates = row["images_per_second"]
            lines.append(
                f"{result['model']:<15}{row['batch']:>6}{rates['caffebatch']:>18,.1f}"
                f"{rates['opencv']:>14,.1f}{row['ratio_vs_opencv']:>7.2f}{row['caffebatch_gflops']:>9.1f}"
            )
        verdict = "agree" if result["agree"] else "DISAGREE"
        lines.append(
            f"{'':<15}outputs {verdict}: max difference {result['disagreement']:.1e} of the scale"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS)
    )
    parser.add_argument("--batches", default="1,16,64")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="least time per engine and batch size"
    )
    parser.add_argument("--min-calls", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the calling thread's CPU seconds, which other processes barely "
        "disturb (needs --threads 1: both engines then run on that thread)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: short timings, batches 1 and 16"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "build" / "benchmarks",
        help="where the generated nets are written (and reused)",
    )
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "engine.json"
    )
    args = parser.parse_args(argv)
    models = tuple(m for m in args.models.split(",") if m)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    if args.cpu_time and args.threads != 1:
        parser.error("--cpu-time needs --threads 1")
    if args.quick:
        args.batches, args.seconds, args.min_calls = "1,16", 0.2, 2
    batches = tuple(int(b) for b in args.batches.split(","))
    return Settings(
        models,
        batches,
        args.seconds,
        args.min_calls,
        args.threads,
        args.work,
        args.json,
        args.cpu_time,
    )


def main(argv: list[str] | None = None) -> int:
    settings = parse(argv)
    results = []
    for model in settings.models:
        results.append(benchmark_model(model, settings))
        print(table(results[-1:]), flush=True)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(settings.threads),
        "settings": {
            "batches": settings.batches,
            "seconds": settings.seconds,
            "min_calls": settings.min_calls,
            "clock": "thread CPU time" if settings.cpu_time else "wall",
        },
        "results": results,
    }
    settings.json.parent.mkdir(parents=True, exist_ok=True)
    settings.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{table(results)}\n\nresults written to {settings.json}")
    return 0 if all(r["agree"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
