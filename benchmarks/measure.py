"""What the pipeline benchmarks measure: records/s with CPU per record, and a child's peak RSS."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from caffebatch.jobs.executors.chunked import scoring_split
from caffebatch.runtime.scorer import Scorer


def cpu_seconds() -> float:
    """User + system CPU of this process and of the children it has waited for."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                        resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Rate:
    """Records per second and CPU microseconds per record of one measurement."""

    def __init__(self, count: int, wall: float, cpu: float) -> None:
        self.rate, self.cpu_us = count / wall, 1e6 * cpu / count

    def __str__(self) -> str:
        return f"{self.rate:9,.1f}/s {self.cpu_us:9,.0f} µs CPU"


class RunScorer:
    """A Scorer as a batch run builds it (threads split among its passes, no spinning), and
    the engine alone on records already decoded, called as the run calls it."""

    def __init__(self, model: bytes, threads: int | None = None, engine: str | None = None):
        self.passes, per_pass = scoring_split(threads, None)
        self.scorer = Scorer(model, threads=per_pass, spin=False, engine=engine,
                             streams=self.passes)

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.scorer(feeds)

    def alone(self, name: str, data: np.ndarray, batch: int) -> Rate:
        """Score `data` in batches of `batch`, `passes` batches at once; records/s, CPU."""
        pieces = [{name: data[offset:offset + batch]} for offset in range(0, len(data), batch)]
        start, cpu = time.perf_counter(), cpu_seconds()
        with ThreadPoolExecutor(self.passes) as pool:
            for _ in pool.map(self.scorer, pieces):
                pass
        return Rate(len(data), time.perf_counter() - start, cpu_seconds() - cpu)


# A child's ru_maxrss starts at its parent's RSS at the fork (it survives exec), so a command
# is started by this small helper process, which reports its own child's peak, wall and CPU.
_CHILD = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - start
if done.returncode:
    sys.exit(f"exit status {done.returncode}: {done.stderr[-4000:]}")
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mib": usage.ru_maxrss / 1024}))
"""


@dataclass(frozen=True)
class ChildRun:
    """A command run in a fresh process: its wall time, CPU seconds and peak RSS."""

    wall: float
    cpu: float
    peak_rss_mib: float


def run_child(command: list[str]) -> ChildRun:
    """Run `command` (its output discarded) and measure it; RuntimeError with its stderr's
    tail when it fails."""
    result = subprocess.run([sys.executable, "-c", _CHILD, *command],
                            capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed, {result.stderr}")
    return ChildRun(**json.loads(result.stdout.strip().splitlines()[-1]))
