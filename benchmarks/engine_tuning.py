"""Which engine settings pay: the caffebatch graph under variants, timed in one run.

    .venv/bin/python benchmarks/engine_tuning.py --models resnet50_1by2,googlenet --batch 16

Each variant is a compiled graph (with or without the graph passes) and a set of ONNX
Runtime session options. The variants' calls alternate on the same input, so the noise
of a shared machine falls on all of them alike; the table gives each variant's median
images per second and its ratio to the first (the settings `Scorer` uses today).
BENCHMARKS.md records what this showed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is a folder of the repository

from benchmarks.engine import MODELS, Settings, call_seconds
from caffebatch.compiler.compile import compile_net
from caffebatch.model import load_net
from caffebatch.package import open_package
from caffebatch.runtime.scorer import session_options

Level = ort.GraphOptimizationLevel


def _options(threads: int, **changes) -> Callable[[], ort.SessionOptions]:
    """Scorer's session options, with `changes`: attributes, or config entries as `config`."""

    def make() -> ort.SessionOptions:
        options = session_options(threads)
        config = changes.get("config", {})
        for key, value in changes.items():
            if key != "config":
                setattr(options, key, value)
        for key, value in config.items():
            options.add_session_config_entry(key, value)
        return options

    return make


def variants(threads: int) -> dict[str, tuple[bool, Callable[[], ort.SessionOptions]]]:
    """name -> (graph passes on, session options); the first is the reference."""
    return {
        "scorer": (True, _options(threads)),
        "no graph passes": (False, _options(threads)),
        "level EXTENDED (no NCHWc)": (
            True,
            _options(threads, graph_optimization_level=Level.ORT_ENABLE_EXTENDED),
        ),
        "level BASIC": (True, _options(threads, graph_optimization_level=Level.ORT_ENABLE_BASIC)),
        "threads 1": (True, _options(1)),
        "no spinning": (True, _options(threads, config={"session.intra_op.allow_spinning": "0"})),
        "no memory pattern": (True, _options(threads, enable_mem_pattern=False)),
        "no CPU arena": (True, _options(threads, enable_cpu_mem_arena=False)),
        "deterministic": (True, _options(threads, use_deterministic_compute=True)),
        "parallel executor": (
            True,
            _options(
                threads, execution_mode=ort.ExecutionMode.ORT_PARALLEL, inter_op_num_threads=2
            ),
        ),
        "denormals as zero": (
            True,
            _options(threads, config={"session.set_denormal_as_zero": "1"}),
        ),
        "no spinning + no memory pattern": (
            True,
            _options(
                threads, enable_mem_pattern=False, config={"session.intra_op.allow_spinning": "0"}
            ),
        ),
        "scorer again (a control: order effects)": (True, _options(threads)),
    }


def compiled_bytes(folder: Path, optimized: bool) -> tuple[bytes, str, tuple[int, ...]]:
    package = open_package(folder)
    net = load_net(package)
    compiled = compile_net(net, package.meta.output_layers, optimized=optimized)
    ((name, shape),) = compiled.inputs.items()
    return compiled.onnx.SerializeToString(), name, shape


def _runner(session: ort.InferenceSession, input_name: str) -> Callable[[np.ndarray], list]:
    return lambda x: session.run(None, {input_name: x})


def tune(
    model: str, batch: int, settings: Settings, only: list[str] | None, clock: Callable[[], float]
) -> dict[str, dict[str, float]]:
    """variant -> its median images per second, and the median of its rounds' speed-ups."""
    folder = MODELS[model](settings.work)
    graphs = {optimized: compiled_bytes(folder, optimized) for optimized in (True, False)}
    runners = {}
    for name, (optimized, options) in variants(settings.threads).items():
        if only and name not in only and name != "scorer":
            continue
        model_bytes, input_name, shape = graphs[optimized]
        session = ort.InferenceSession(model_bytes, options(), providers=["CPUExecutionProvider"])
        runners[name] = _runner(session, input_name)
    x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
    times = call_seconds(runners, x, settings, clock)
    reference = times["scorer"]
    return {
        name: {
            "images_per_second": batch / statistics.median(t),
            "speedup": statistics.median(r / v for r, v in zip(reference, t)),
        }
        for name, t in times.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="resnet50_1by2,googlenet")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--min-calls", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time CPU seconds of the calling thread (meaningful with --threads 1 only)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated variant names (the reference always runs)"
    )
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "benchmarks")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "engine_tuning.json"
    )
    args = parser.parse_args()
    settings = Settings(
        (), (args.batch,), args.seconds, args.min_calls, args.threads, args.work, args.json
    )
    only = [v for v in args.only.split(",") if v] or None
    report = {}
    for model in args.models.split(","):
        clock = time.thread_time if args.cpu_time else time.perf_counter
        rates = tune(model, args.batch, settings, only, clock)
        report[model] = rates
        print(f"\n{model}, batch {args.batch}, {args.threads} threads")
        for name, rate in rates.items():
            print(f"  {name:<28}{rate['images_per_second']:>10,.1f} img/s{rate['speedup']:>7.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "command": " ".join(sys.argv),
                "batch": args.batch,
                "threads": args.threads,
                "clock": "thread CPU time" if args.cpu_time else "wall",
                "results": report,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
