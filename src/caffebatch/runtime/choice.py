"""engine = auto: score a probe batch on every installed backend, keep the fastest that matches.

ONNX Runtime is the reference: another backend is kept only when its outputs on the probe
match ONNX Runtime's within Caffe's tolerance (rtol 1e-4, atol 1e-5 x the output's scale,
as the reference tests) and it is faster by more than `margin` (10%), so noise on a
shared machine does not flip the choice back and forth. The choice depends on the batch
size (OpenVINO lost 2x to ONNX Runtime on LeNet at batch 1 and won at 64), so the probe
batch should be the one the runs will use.

A reduced precision (``bf16``) is opt-in: its candidates are the backends that offer it,
none of them matches Caffe's numerics, and what it costs in accuracy is measured here on
the same probe, against ONNX Runtime at f32, and recorded with the choice to be printed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from caffebatch.errors import ExtraMissingError
from caffebatch.runtime.backends import (
    AUTO,
    BACKENDS,
    F32,
    ONNXRUNTIME,
    backend,
    check_cpu,
    installed,
)
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
    max_abs: float = 0.0  # max |ours - reference|
    precision: str = F32
    mismatch: str = ""  # how the first output that disagrees differs ("" when all agree)


@dataclass(frozen=True)
class Choice:
    """The backend kept, and every trial behind it (recorded with the compiled model)."""

    engine: str
    batch: int
    trials: tuple[Trial, ...]
    precision: str = F32

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "batch": self.batch, "precision": self.precision,
                "trials": [asdict(trial) for trial in self.trials]}


def probe(inputs: Mapping[str, tuple[int, ...]], batch: int) -> dict[str, np.ndarray]:
    """A fixed batch in [0, 1): valid for every Caffe input we run (indices floor to 0)."""
    rng = np.random.default_rng(0)
    return {name: rng.random((batch, *shape), dtype=np.float32) for name, shape in inputs.items()}


def matches(
    actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray]
) -> tuple[bool, float, float, str]:
    """Whether every output agrees within Caffe's tolerance; the largest deviation, scaled
    (by the reference output's largest magnitude) and absolute, over the outputs of equal
    shape; and how the first output that disagrees differs."""
    ok, worst, worst_abs, how = True, 0.0, 0.0, ""
    for name, want in expected.items():
        got = actual[name]
        if got.shape != want.shape:  # e.g. a detector's rows: another number of boxes kept
            ok, how = False, how or f"{name}: shape {got.shape}, expected {want.shape}"
            continue
        scale = float(np.nanmax(np.abs(want), initial=0.0)) or 1.0
        difference = float(np.nanmax(np.abs(got - want), initial=0.0))
        worst, worst_abs = max(worst, difference / scale), max(worst_abs, difference)
        if not np.allclose(got, want, rtol=RTOL, atol=ATOL_SCALE * scale, equal_nan=True):
            ok, how = False, how or f"{name}: off by up to {difference / scale:.1e} of its scale"
    return ok, worst, worst_abs, how


def pick(
    reference: Scorer,
    candidates: Mapping[str, Scorer],
    feeds: Mapping[str, np.ndarray],
    *,
    seconds: float = 0.3,
    min_calls: int = 3,
    margin: float = 0.1,
    exact: bool = True,
) -> Choice:
    """The fastest of `reference` and `candidates` whose outputs match the reference's.

    Calls alternate between the scorers, round by round, so a busy spell falls on all, and
    speed is compared by the median of each round's ratio to the reference, which holds up
    better than medians of times while other processes' load swings. With `exact` off (a
    reduced precision, asked for), the fastest candidate is kept whatever it deviates, and
    the reference (Caffe's f32) only measures that deviation.
    """
    scorers = {reference.engine: reference, **candidates}
    expected = reference(feeds)  # also the warm-up call
    agreement = {name: matches(s(feeds), expected) for name, s in candidates.items()}
    agreement[reference.engine] = (True, 0.0, 0.0, "")
    times: dict[str, list[float]] = {name: [] for name in scorers}
    while any(len(t) < min_calls or sum(t) < seconds for t in times.values()):
        for name, scorer in scorers.items():
            started = time.perf_counter()
            scorer(feeds)
            times[name].append(time.perf_counter() - started)
    base = times[reference.engine]
    trials = tuple(
        Trial(name, statistics.median(t), agreement[name][1], agreement[name][0],
              statistics.median(mine / theirs for mine, theirs in zip(t, base, strict=True)),
              agreement[name][2], scorers[name].precision, agreement[name][3])
        for name, t in times.items()
    )
    batch = len(next(iter(feeds.values())))
    if not exact:
        fastest = min(trials[1:], key=lambda trial: trial.relative_time)
        return Choice(fastest.engine, batch, trials, fastest.precision)
    best, best_time = reference.engine, 1.0
    for trial in trials:
        if trial.matches and trial.relative_time * (1 + margin) < best_time:
            best, best_time = trial.engine, trial.relative_time
    return Choice(best, batch, trials)


def choose(
    model: bytes,
    inputs: Mapping[str, tuple[int, ...]],
    *,
    batch: int,
    threads: int | None = None,
    engine: str = AUTO,
    precision: str = F32,
) -> Choice | None:
    """Measure the candidates for `engine` at `precision` on `model`, on a probe of `batch`.

    At f32 the candidates are every installed backend (None when ONNX Runtime is the only
    one: nothing to choose). At a reduced precision they are the backends that offer it,
    or the one `engine` names, and ONNX Runtime at f32 measures their deviation.
    """
    if precision == F32:
        held = operators(model)
        others = [
            name for name in installed()
            if name != ONNXRUNTIME and not held & BACKENDS[name].unfaithful.keys()
        ]
        if not others:
            return None
    else:
        check_cpu(precision)
        others = [engine] if engine != AUTO else candidates_at(precision)
        for name in others:
            backend(name, precision)  # installed, offers it, and the CPU computes it
    # ONNX Runtime's threads spin-wait after each call, and took the cores from the
    # backend timed next: LeNet at batch 64 on OpenVINO took 17.6 ms instead of 2.6. Batch
    # runs score with spinning off too.
    reference = Scorer(model, threads=threads, engine=ONNXRUNTIME, spin=False)
    candidates = {
        name: Scorer(model, threads=threads, engine=name, spin=False, precision=precision)
        for name in others
    }
    return pick(reference, candidates, probe(inputs, batch), exact=precision == F32)


def operators(model: bytes) -> set[str]:
    """The ONNX operator types in `model`, those of its subgraphs (a Loop's body) too."""
    import onnx

    def walk(graph: onnx.GraphProto) -> Iterator[str]:
        for node in graph.node:
            yield node.op_type
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    yield from walk(attribute.g)
                for sub in attribute.graphs:
                    yield from walk(sub)

    return set(walk(onnx.load_from_string(model).graph))


def candidates_at(precision: str) -> list[str]:
    """The installed backends that run at `precision`; ExtraMissingError when there are none."""
    offering = [name for name, b in BACKENDS.items() if precision in b.precisions]
    usable = [name for name in offering if name in installed()]
    if not usable:
        how = "; ".join(f"{name}: {BACKENDS[name].install}" for name in offering)
        raise ExtraMissingError(
            f"precision {precision!r} needs a backend that offers it, and none is installed ({how})"
        )
    return usable


def named(setting: str, precision: str = F32) -> str | None:
    """The backend an `engine` setting names outright at f32, or None (auto, or bf16: measure).

    A named backend must be installed and offer `precision` (ExtraMissingError or
    ModelError says why not).
    """
    if setting == AUTO:
        return None
    backend(setting, precision)
    return setting if precision == F32 else None


def recorded(
    choices: Sequence[Mapping[str, Any]], setting: str, *, batch: int, precision: str = F32
) -> Mapping[str, Any] | None:
    """A choice measured before for this setting, batch size and precision, whose backend is
    still installed; None: measure again."""
    for choice in choices:
        same = (choice.get("batch"), choice.get("precision", F32)) == (batch, precision)
        fits = setting == AUTO or choice.get("engine") == setting
        if same and fits and choice.get("engine") in installed():
            return choice
    return None


def deviation_line(choice: Mapping[str, Any]) -> str | None:
    """What a reduced precision costs, for the log: None when the choice is at f32."""
    if choice.get("precision", F32) == F32:
        return None
    kept = next(t for t in choice["trials"] if t["engine"] == choice["engine"] and
                t.get("precision", F32) == choice["precision"])
    return (
        f"precision {choice['precision']} on {choice['engine']}: outputs differ from f32 "
        f"(ONNX Runtime) by up to {kept['max_abs']:.2e} absolute, {kept['deviation']:.2e} "
        f"relative to the output's scale, on a probe batch of {choice['batch']} "
        f"(Caffe's tolerance: {RTOL:g} relative)"
    )
