"""Engine benchmark: caffebatch on each backend against its CPU peers, in one run.

    .venv/bin/python benchmarks/engine.py            # LeNet, ResNet-50-1by2, GoogLeNet
    .venv/bin/python benchmarks/engine.py --quick    # a smoke run of a few seconds per model

The runners: caffebatch's Scorer on ONNX Runtime and on OpenVINO (where the extra is
installed), OpenVINO as a user would run our exported ONNX (dynamic batch, f32 forced),
ONNX Runtime on our graph without our passes, and OpenCV's DNN module on the same
deploy.prototxt and .caffemodel. All first score the same random batch and must agree
with caffebatch; then, for each batch size, their calls alternate (so the noise of a
shared machine falls on all alike) until each has run for long enough; the median call
time gives images per second, the median of the rounds' ratios the ratio to caffebatch
on the backend `engine = auto` chooses at that batch. Before each batch size numpy's
sgemm rate is measured (a child process), and every rate is also given as its share.
The table goes to stdout; the results, with the machine they ran on, go to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
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
from caffebatch.model import choose_engine, compile_package
from caffebatch.package import open_package
from caffebatch.runtime.backends import ONNXRUNTIME, OPENVINO, installed
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


class Loaded(NamedTuple):
    """A model's runners, with what the report needs of it."""

    runners: dict[str, Runner]
    load_seconds: dict[str, float]
    record_shape: tuple[int, ...]
    macs: int  # multiply-accumulates per record
    compiled: object  # the CompiledModel, for engine = auto


def _timed(build: Callable[[], Runner]) -> tuple[Runner, float]:
    started = time.perf_counter()
    runner = build()
    return runner, time.perf_counter() - started


def scorer_runner(model: bytes, name: str, output: str, threads: int, engine: str) -> Runner:
    # No spinning: an ONNX Runtime thread that spin-waits after its call takes a core
    # from the runner timed next (OpenVINO on LeNet b64: 17.6 ms instead of 2.6).
    scorer = Scorer(model, threads=threads, engine=engine, spin=False)
    return lambda x: scorer({name: x})[output]


def openvino_plain_runner(model: bytes, name: str, output: str, threads: int) -> Runner:
    """OpenVINO as a user would call it on our ONNX file: dynamic batch, f32 forced."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(model), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
    })
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> np.ndarray:
        request.infer({name: x})
        return request.get_tensor(output).data.copy()

    return run


def opencv_runner(package, threads: int) -> Runner:
    import cv2

    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromCaffe(str(package.prototxt), str(package.weights))
    output = package.meta.output_layers[0]

    def run(x: np.ndarray) -> np.ndarray:
        net.setInput(x)
        return net.forward(output)

    return run


def load_runners(folder: Path, threads: int) -> Loaded:
    """Every peer on one model: caffebatch on each backend, and the straightforward others."""
    package = open_package(folder)
    compiled, compile_seconds = _timed(lambda: compile_package(package))
    ((name, shape),) = compiled.inputs.items()
    output = compiled.outputs[0]
    ours = compiled.onnx.SerializeToString()
    plain = compile_package(package, optimized=False).onnx.SerializeToString()
    builds: dict[str, Callable[[], Runner]] = {
        f"caffebatch {ONNXRUNTIME}": lambda: scorer_runner(ours, name, output, threads, ONNXRUNTIME),
        "onnxruntime, our graph without our passes": lambda: scorer_runner(
            plain, name, output, threads, ONNXRUNTIME
        ),
        "opencv": lambda: opencv_runner(package, threads),
    }
    if OPENVINO in installed():
        builds[f"caffebatch {OPENVINO}"] = lambda: scorer_runner(
            ours, name, output, threads, OPENVINO
        )
        builds["openvino on our onnx"] = lambda: openvino_plain_runner(ours, name, output, threads)
    runners, seconds = {}, {"compile": compile_seconds}
    for label, build in builds.items():
        runners[label], seconds[label] = _timed(build)
    return Loaded(runners, seconds, shape, compiled.macs, compiled)


def disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference, relative to the output's scale."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) or 1.0))


def balanced_orders(count: int) -> list[list[int]]:
    """Orders of `count` runners in which each one runs right after every other equally often
    (a Williams design: `count` orders, twice as many when `count` is odd), and in every place.

    A runner's call time depends on the one before it: the call after OpenCV's took 12% longer
    on LeNet b64 (OpenCV's thread pool still holds the cores), and rotating one order, as this
    benchmark did before, put the same runner there in every round.
    """
    first, low, high = [0], 1, count - 1
    while low <= high:
        first.append(low)
        if low != high:
            first.append(high)
        low, high = low + 1, high - 1
    orders = [[(place + shift) % count for place in first] for shift in range(count)]
    if count % 2:
        orders += [order[::-1] for order in orders]
    return orders


def call_seconds(
    runners: dict[str, Runner],
    x: np.ndarray,
    settings: Settings,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Alternate the runners on `x` until each ran `min_calls` times and `seconds` long.

    Returns each runner's call times, in rounds: the i-th times of all runners ran back to
    back, in the orders of `balanced_orders`, taken in turn. `clock` may be
    `time.thread_time` for single-threaded runners: CPU time, which other processes on the
    machine barely disturb.
    """
    times: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        run(x)  # warm up: first calls allocate
    names = list(runners)
    orders = balanced_orders(len(names))
    rounds = 0
    while (any(len(t) < settings.min_calls or sum(t) < settings.seconds for t in times.values())
           or rounds % len(orders)):  # whole cycles: every runner after every other alike
        for index in orders[rounds % len(orders)]:
            name = names[index]
            started = clock()
            runners[name](x)
            times[name].append(clock() - started)
        rounds += 1
    return times


SGEMM = """
import os, time, numpy as np
n = 2048
a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
a @ b
best = float("inf")
for _ in range(8):
    started = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - started)
print(2 * n ** 3 / best / 1e9)
"""


def sgemm_gflops(threads: int) -> float:
    """numpy's float32 matmul rate now, in a child without OPENBLAS_CORETYPE / _L2_SIZE.

    Those variables, where set, halve OpenBLAS's rate on this machine; they are unset for
    this yardstick only (PERFORMANCE.md). Best of 8 products of 2048x2048 matrices.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    done = subprocess.run([sys.executable, "-c", SGEMM], env=env, capture_output=True,
                          text=True, check=True, timeout=300)
    return float(done.stdout.strip())


REFERENCE_RUNNER = f"caffebatch {ONNXRUNTIME}"


def benchmark_model(model: str, settings: Settings) -> dict:
    folder = MODELS[model](settings.work)
    loaded = load_runners(folder, settings.threads)
    runners, shape = loaded.runners, loaded.record_shape
    rng = np.random.default_rng(0)
    sample = rng.random((4, *shape), dtype=np.float32)
    expected = runners[REFERENCE_RUNNER](sample)
    errors = {name: disagreement(run(sample), expected) for name, run in runners.items()}
    result = {
        "model": model,
        "macs_per_image": loaded.macs,
        "load_seconds": loaded.load_seconds,
        "disagreement": errors,
        "agree": all(e <= AGREEMENT for e in errors.values()),
        "batches": [],
    }
    for batch in settings.batches:
        sgemm = sgemm_gflops(settings.threads)  # before each row: the load changes
        chosen = choose_engine(loaded.compiled, "auto", batch=batch, threads=settings.threads)
        ours = f"caffebatch {chosen.engine or ONNXRUNTIME}"
        x = rng.random((batch, *shape), dtype=np.float32)
        clock = time.thread_time if settings.cpu_time else time.perf_counter
        times = call_seconds(runners, x, settings, clock)
        rates = {name: batch / statistics.median(t) for name, t in times.items()}
        # The median of the rounds' ratios: the load a round saw falls on every runner
        ratios = {
            name: statistics.median(o / p for o, p in zip(times[ours], t, strict=True))
            for name, t in times.items()
        }
        result["batches"].append(
            {
                "batch": batch,
                "auto_engine": chosen.engine or ONNXRUNTIME,
                "auto_trials": (chosen.engine_choice or {}).get("trials"),
                "images_per_second": rates,
                "ratio_to_caffebatch": ratios,  # above 1: the peer is faster
                "sgemm_gflops": sgemm,
                "share_of_sgemm": {
                    name: 2 * loaded.macs * rate / 1e9 / sgemm for name, rate in rates.items()
                },
                "calls": len(times[ours]),
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
        "openvino": _version("openvino"),
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


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def table(results: list[dict]) -> str:
    """One line per model, batch and runner: img/s, the ratio to caffebatch, share of sgemm."""
    lines = [f"{'model':<14}{'batch':>6}  {'runner':<44}{'img/s':>10}{'/ ours':>8}{'sgemm':>7}"]
    for result in results:
        for row in result["batches"]:
            lines.append(f"{result['model']:<14}{row['batch']:>6}  auto chose "
                         f"{row['auto_engine']}; sgemm {row['sgemm_gflops']:.0f} GFLOP/s")
            for name, rate in row["images_per_second"].items():
                lines.append(
                    f"{'':<20}  {name:<44}{rate:>10,.1f}{row['ratio_to_caffebatch'][name]:>8.2f}"
                    f"{row['share_of_sgemm'][name]:>7.0%}"
                )
        worst = max(result["disagreement"].items(), key=lambda item: item[1])
        verdict = "agree" if result["agree"] else "DISAGREE"
        lines.append(f"{'':<20}  outputs {verdict}: largest difference {worst[1]:.1e} of the "
                     f"scale ({worst[0]})")
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
