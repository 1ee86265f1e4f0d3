"""engine = auto: score a probe batch on every installed backend, keep the fastest that matches.

ONNX Runtime is the reference: another backend is kept only when its outputs on the probe
match ONNX Runtime's within Caffe's tolerance (rtol 1e-4, atol 1e-5 x the output's scale,
as the reference tests) and it is faster by more than `margin` (10%), so noise on a
shared machine does not flip the choice back and forth. The choice depends on the batch
size (OpenVINO lost 2x to ONNX Runtime on LeNet at batch 1 and won at 64), so the probe
batch should be the one the runs will use.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from caffebatch.runtime.backends import AUTO, ONNXRUNTIME, backend, installed
from caffebatch.runtime.scorer import Scorer

RTOL, ATOL_SCALE = 1e-4, 1e-5


@dataclass(frozen=True)
class Trial:
    """How one candidate did on the probe: median seconds per call and its deviation."""

    engine: str
    seconds_per_call: float
    deviation: float  # max |ours - reference| / the reference output's scale
    matches: bool
    relative_time: float = 1.0  # median over rounds of its call time / the reference's


@dataclass(frozen=True)
class Choice:
    """The backend kept, and every trial behind it (recorded with the compiled model)."""

    engine: str
    batch: int
    trials: tuple[Trial, ...]

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "batch": self.batch,
                "trials": [asdict(trial) for trial in self.trials]}


def probe(inputs: Mapping[str, tuple[int, ...]], batch: int) -> dict[str, np.ndarray]:
    """A fixed batch in [0, 1): valid for every Caffe input we run (indices floor to 0)."""
    rng = np.random.default_rng(0)
    return {name: rng.random((batch, *shape), dtype=np.float32) for name, shape in inputs.items()}


def matches(actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray]) -> tuple[bool, float]:
    """Whether every output agrees within Caffe's tolerance, and the largest scaled deviation."""
    ok, worst = True, 0.0
    for name, want in expected.items():
        got = actual[name]
        scale = float(np.nanmax(np.abs(want), initial=0.0)) or 1.0
        ok = ok and got.shape == want.shape and bool(
            np.allclose(got, want, rtol=RTOL, atol=ATOL_SCALE * scale, equal_nan=True)
        )
        if got.shape == want.shape:
            worst = max(worst, float(np.nanmax(np.abs(got - want), initial=0.0)) / scale)
    return ok, worst


def pick(
    reference: Scorer,
    candidates: Mapping[str, Scorer],
    feeds: Mapping[str, np.ndarray],
    *,
    seconds: float = 0.3,
    min_calls: int = 3,
    margin: float = 0.1,
) -> Choice:
    """The fastest of `reference` and `candidates` whose outputs match the reference's.

    Calls alternate between the scorers, round by round, so a busy spell falls on all, and
    speed is compared by the median of each round's ratio to the reference, which holds up
    better than medians of times while other processes' load swings.
    """
    scorers = {reference.engine: reference, **candidates}
    expected = reference(feeds)  # also the warm-up call
    agreement = {name: matches(s(feeds), expected) for name, s in candidates.items()}
    agreement[reference.engine] = (True, 0.0)
    times: dict[str, list[float]] = {name: [] for name in scorers}
    while any(len(t) < min_calls or sum(t) < seconds for t in times.values()):
        for name, scorer in scorers.items():
            started = time.perf_counter()
            scorer(feeds)
            times[name].append(time.perf_counter() - started)
    base = times[reference.engine]
    trials = tuple(
        Trial(name, statistics.median(t), agreement[name][1], agreement[name][0],
              statistics.median(mine / theirs for mine, theirs in zip(t, base, strict=True)))
        for name, t in times.items()
    )
    best, best_time = reference.engine, 1.0
    for trial in trials:
        if trial.matches and trial.relative_time * (1 + margin) < best_time:
            best, best_time = trial.engine, trial.relative_time
    batch = len(next(iter(feeds.values())))
    return Choice(best, batch, trials)


def choose(
    model: bytes, inputs: Mapping[str, tuple[int, ...]], *, batch: int, threads: int | None = None
) -> Choice | None:
    """Measure every installed backend on `model`; None when ONNX Runtime is the only one."""
    others = [name for name in installed() if name != ONNXRUNTIME]
    if not others:
        return None
    # ONNX Runtime's threads spin-wait after each call, and took the cores from the
    # backend timed next: LeNet at batch 64 on OpenVINO took 17.6 ms instead of 2.6. Batch
    # runs score with spinning off too.
    reference = Scorer(model, threads=threads, engine=ONNXRUNTIME, spin=False)
    candidates = {name: Scorer(model, threads=threads, engine=name, spin=False) for name in others}
    return pick(reference, candidates, probe(inputs, batch))


def resolve(setting: str, recorded: str | None) -> str | None:
    """The backend a setting names outright, a recorded auto choice, or None (measure).

    A named backend must be installed (ExtraMissingError says how); `auto` keeps a recorded
    choice while that backend is installed, else returns None: measure, or ONNX Runtime.
    """
    if setting != AUTO:
        return backend(setting).name
    if recorded is not None and recorded in installed():
        return recorded
    return None
