"""Where a folder-to-folder run's CPU goes, per record, stage by stage, on the LeNet example.

    .venv/bin/python benchmarks/pipeline_costs.py [--count 5000] [--rounds 3] [--work /dev/shm]

Runs the run's own stage functions one after the other on one thread (LocalStorage.get,
records.decode, batches.stack, the Scorer at batch 64, batches.results, LocalStorage.put) and
reports each one's CPU time per record, user and system apart (this thread's rusage, the best
of `--rounds`, so other processes on the machine inflate it less than wall time). From these
it states what bounds end-to-end / engine-alone on this machine:

- the Python side's user time (decoding, numpy, encoding, the interpreter) holds the GIL; its
  system time (open, read, write, rename) does not. In one process the user time runs on at
  most one core: rate <= 1 / python user;
- everything shares the cores: rate <= cores / (python user + system + engine CPU);
- the engine alone scores at 1 / engine wall time.
Results go to BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import LENET, make_inputs
from caffebatch.jobs.batches import Scored, results, stack
from caffebatch.jobs.records import decode
from caffebatch.jobs.storage.local import LocalStorage
from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer

BATCH = 64
LIMIT = 64 * 1024 * 1024  # the run's default max_record_bytes
PYTHON_STAGES = ("read", "decode", "stack", "encode", "write")


def thread_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime, usage.ru_stime


def one_round(model, scorer: Scorer, source: LocalStorage, target: LocalStorage,
              keys: list[str]) -> tuple[dict[str, tuple[float, float]], float]:
    """(user, system) CPU seconds per stage over `keys`, and the scorer's wall seconds."""
    cpu = dict.fromkeys(PYTHON_STAGES, (0.0, 0.0))
    score_wall = 0.0
    for offset in range(0, len(keys), BATCH):
        chunk = keys[offset:offset + BATCH]
        mark = thread_cpu()

        def lap(stage: str) -> None:
            nonlocal mark
            now = thread_cpu()
            user, system = cpu[stage]
            cpu[stage] = (user + now[0] - mark[0], system + now[1] - mark[1])
            mark = now

        data = [source.get(key, LIMIT) for key in chunk]
        lap("read")
        records = [decode(key, blob, model.inputs, LIMIT) for key, blob in zip(chunk, data)]
        lap("decode")
        batch = stack(records)
        lap("stack")
        start = time.perf_counter()
        outputs = scorer(batch.feeds)
        score_wall += time.perf_counter() - start
        mark = thread_cpu()  # ONNX Runtime's own threads are not this thread's time
        encoded = list(results(Scored(batch.keys, outputs)))
        lap("encode")
        for key, blob in encoded:
            target.put(key, blob)
        lap("write")
    return cpu, score_wall


def engine_cpu(scorer: Scorer, model, keys: list[str], source: LocalStorage) -> float:
    """The scorer's CPU per record at batch 64, over all its threads (process CPU time)."""
    batch = stack([decode(k, source.get(k, LIMIT), model.inputs, LIMIT) for k in keys[:BATCH]])
    rounds = max(1, len(keys) // BATCH)
    start = time.process_time()
    for _ in range(rounds):
        scorer(batch.feeds)
    return (time.process_time() - start) / (rounds * BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="ONNX Runtime threads (default: every core)")
    parser.add_argument("--work", default=None, help="where the folders go (default: the temp dir)")
    args = parser.parse_args()

    model = load_model(LENET)
    scorer = Scorer(model.onnx.SerializeToString(), threads=args.threads)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        make_inputs(Path(work) / "in", args.count)
        source = LocalStorage(Path(work) / "in")
        keys = [entry.key for entry in source.list()]
        best: dict[str, tuple[float, float]] = {}
        best_wall = float("inf")
        for index in range(args.rounds):
            target = LocalStorage(Path(work) / f"out{index}")
            target.prepare()
            cpu, wall = one_round(model, scorer, source, target, keys)
            best = {k: min(v, best.get(k, v), key=sum) for k, v in cpu.items()}
            best_wall = min(best_wall, wall)
        score_cpu = engine_cpu(scorer, model, keys, source)

    per = {stage: (user / len(keys) * 1e6, system / len(keys) * 1e6)
           for stage, (user, system) in best.items()}
    user = sum(per[stage][0] for stage in PYTHON_STAGES)
    system = sum(per[stage][1] for stage in PYTHON_STAGES)
    engine_wall = best_wall / len(keys) * 1e6
    engine = score_cpu * 1e6
    print("µs CPU per record   user  system")
    for stage in PYTHON_STAGES:
        print(f"{stage:18s} {per[stage][0]:6.1f} {per[stage][1]:7.1f}")
    print(f"{'python side':18s} {user:6.1f} {system:7.1f}")
    print(f"engine: {engine:.1f} µs CPU, {engine_wall:.1f} µs wall per record "
          f"({1e6 / engine_wall:,.0f} records/s alone, {args.threads or cores} thread(s))")
    gil_bound = 1e6 / user
    core_bound = cores * 1e6 / (user + system + engine)
    bound = min(gil_bound, core_bound)
    print(f"end to end <= min(1 / user, {cores} cores / (user + system + engine)) = "
          f"min({gil_bound:,.0f}, {core_bound:,.0f}) = {bound:,.0f} records/s")
    print(f"end-to-end / engine alone <= {bound * engine_wall / 1e6:.2f}")


if __name__ == "__main__":
    main()
