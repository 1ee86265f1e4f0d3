"""GoogLeNet on 224x224 JPEGs: `caffebatch score` as a user runs it, the engine, an OpenCV loop.

benchmarks/pipeline.py runs this (`--jpeg-images N`, 0 skips it). In turn, `rounds` times, the
order rotating each round, on the same N JPEGs in a folder of `work`:
- caffebatch end to end: `caffebatch score MODEL --input JPEGS --output OUT --transform T.json
  --threads 2 --engine E` in a fresh process, folder to folder, as a user runs it. Its rate is
  the run's own (summary.json: listing to last write); the process's (start-up and model
  compilation included), its CPU and its peak RSS are reported beside it;
- the engine alone: the same JPEGs decoded and transformed by caffebatch beforehand, in memory,
  scored by a Scorer as the run builds it and called as the run calls it (its threads split
  among two passes at once, no spinning: measure.RunScorer), in the run's batches;
- the loop an OpenCV 4 user would write: `cv2.imread`, `cv2.dnn.blobFromImage`, `net.forward`
  one image at a time on `cv2.dnn.readNetFromCaffe` of the same prototxt and caffemodel, and
  one JSON result file per image, with `cv2.setNumThreads(2)`.
Then `caffebatch score` over each of `rss_counts` images, once each, for its peak RSS.

The transform is `{"data": {"size": [224, 224], "mean": [104, 117, 123]}}`, which is
`blobFromImage(image, 1.0, (224, 224), (104, 117, 123))`. The JPEGs are photo-like (smooth
colour fields, a few sharp-edged discs, sensor-like noise; quality 90-96): 19-36 kB each.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from benchmarks.measure import ChildRun, Rate, RunScorer, cpu_seconds, run_child
from benchmarks.nets.googlenet import write_googlenet
from caffebatch.inputs import InputSpec, parse_transforms
from caffebatch.inputs.formats import decode
from caffebatch.jobs import Location, plan_run
from caffebatch.jobs.executors.chunked import scoring_split
from caffebatch.model import choose_engine, load_model

SIZE = 224
MEAN_BGR = (104.0, 117.0, 123.0)
TRANSFORM = {"data": {"size": [SIZE, SIZE], "mean": list(MEAN_BGR)}}


def photo(index: int) -> tuple[np.ndarray, int]:
    """A photo-like 224x224 BGR image, different for each index, and its JPEG quality."""
    rng = np.random.default_rng(index)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    y, x = rows / SIZE, cols / SIZE
    planes = []
    for _ in range(3):
        (fx, fy), (px, py) = rng.uniform(1, 6, 2), rng.uniform(0, 2 * np.pi, 2)
        plane = 128 + 70 * np.sin(2 * np.pi * fx * x + px) * np.cos(2 * np.pi * fy * y + py)
        planes.append(plane + rng.uniform(-60, 60) * (x - 0.5) + rng.uniform(-60, 60) * (y - 0.5))
    image = np.stack(planes, axis=-1)
    for _ in range(rng.integers(3, 8)):  # objects: sharp edges are what JPEG spends bits on
        cy, cx, radius = *rng.uniform(0, SIZE, 2), rng.uniform(10, 60)
        image[(rows - cy) ** 2 + (cols - cx) ** 2 < radius ** 2] = rng.uniform(0, 255, 3)
    image += rng.normal(0, rng.uniform(8, 16), image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), int(rng.integers(90, 97))


def write_jpegs(folder: Path, count: int) -> list[Path]:
    """`count` distinct JPEG files in `folder`."""
    folder.mkdir(parents=True)
    paths = []
    for index in range(count):
        image, quality = photo(index)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        path = folder / f"img_{index:06d}.jpg"
        path.write_bytes(encoded.tobytes())
        paths.append(path)
    return paths


def linked(paths: list[Path], folder: Path) -> Path:
    """A folder holding `paths` as hard links (same file system: no copies)."""
    folder.mkdir()
    for path in paths:
        os.link(path, folder / path.name)
    return folder


@dataclass(frozen=True)
class Setup:
    """The model folder, the transform file and what both sides run with."""

    model_dir: Path
    transform_file: Path
    threads: int
    engine: str


@dataclass(frozen=True)
class ScoreRun:
    """One `caffebatch score`: the run's own rate, its steady rate, and the process's measures.

    `run`: summary.json's (listing to last write; CPU per record: the whole process's,
    start-up included). `steady`: from the first batch's last result to the last result, by
    the result files' mtimes, so it leaves out what a run pays once (planning, building the
    ONNX Runtime session, the first chunk's fetch and decode, the first, cold forward pass),
    as the engine-alone side, whose session is built and warm, does. `startup_s`: the run's
    start to the first batch's last result.
    """

    run: Rate
    steady: Rate
    startup_s: float
    child: ChildRun


def caffebatch_score(setup: Setup, source: Path, target: Path, batch: int) -> ScoreRun:
    """`caffebatch score` folder to folder in a fresh process (see ScoreRun)."""
    script = Path(sys.executable).with_name("caffebatch")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "caffebatch"]
    child = run_child([*command, "score", str(setup.model_dir), "--input", str(source),
                       "--output", str(target), "--transform", str(setup.transform_file),
                       "--threads", str(setup.threads), "--engine", setup.engine,
                       "--run-id", "bench"])
    summary = json.loads((target / "_caffebatch/bench/summary.json").read_text())
    assert summary["status"] == "SUCCESS" and summary["failed"] == 0, summary
    count = summary["scored"]
    written = sorted(entry.stat().st_mtime_ns for entry in os.scandir(target) if entry.is_file())
    assert len(written) == count > batch, (len(written), count, batch)
    first, last = written[batch - 1] / 1e9, written[-1] / 1e9
    started = datetime.fromisoformat(summary["started_at"]).timestamp()
    return ScoreRun(Rate(count, summary["seconds"], child.cpu),
                    Rate(count - batch, last - first, child.cpu * (count - batch) / count),
                    first - started, child)




def opencv_loop(net: cv2.dnn.Net, paths: list[Path], out: Path) -> Rate:
    """What an OpenCV 4 user writes: read, blobFromImage, forward, write, one image at a time."""
    out.mkdir()
    start, cpu = time.perf_counter(), cpu_seconds()
    for path in paths:
        image = cv2.imread(str(path))
        net.setInput(cv2.dnn.blobFromImage(image, 1.0, (SIZE, SIZE), MEAN_BGR))
        prob = net.forward()
        with open(out / f"{path.name}.json", "w") as file:
            json.dump({path.name: {"prob": prob.ravel().tolist()}}, file)
    return Rate(len(paths), time.perf_counter() - start, cpu_seconds() - cpu)


def decoded_records(model, paths: list[Path]) -> np.ndarray:
    """The JPEGs as the run's decoder makes them: (N, 3, 224, 224) float32."""
    spec = InputSpec(model.inputs, model.transforms)
    return np.stack([decode(p.name, p.read_bytes(), spec, 64 << 20).arrays["data"]
                     for p in paths])


@dataclass(frozen=True)
class Sides:
    """What the three sides of a round need, built once."""

    setup: Setup
    source: Path  # the folder of the rounds' JPEGs
    paths: list[Path]  # the same JPEGs
    data: np.ndarray  # the same, decoded and transformed by caffebatch
    scorer: RunScorer
    batch: int
    net: cv2.dnn.Net


def jpeg_rounds(work: Path, images: int, rounds: int, threads: int, engine: str,
                rss_counts: list[int]) -> None:
    """Build everything in `work`, run the rounds and the RSS runs, print what they gave."""
    paths, sides = _prepare(work, images, threads, engine, max([images, *rss_counts]))
    found, scored = _rounds(sides, work, rounds)
    _summarise(found, scored, images)
    runs = []
    for count in rss_counts:
        folder = linked(paths[:count], work / f"rss-{count}")
        done = caffebatch_score(sides.setup, folder, work / f"rss-out-{count}", sides.batch)
        child = done.child
        runs.append((count, child))
        print(f"JPEG caffebatch score over {count:,} images: peak RSS {child.peak_rss_mib:.0f} MiB, "
              f"{done.run.rate:.1f}/s, steady {done.steady.rate:.1f}/s (process "
              f"{count / child.wall:.1f}/s, {1e3 * child.cpu / count:.1f} ms CPU per image)",
              flush=True)
    for (small, first), (large, second) in pairwise(runs):
        print(f"JPEG CPU per image from {small:,} to {large:,} images (start-up cancels out): "
              f"{1e3 * (second.cpu - first.cpu) / (large - small):.1f} ms", flush=True)


def _prepare(work: Path, images: int, threads: int, engine: str,
             count: int) -> tuple[list[Path], Sides]:
    """The model, `count` JPEGs, the first `images` of them decoded, and OpenCV's net."""
    model_dir = write_googlenet(work / "googlenet")
    transform_file = work / "transform.json"
    transform_file.write_text(json.dumps(TRANSFORM))
    started = time.perf_counter()
    paths = write_jpegs(work / "jpegs", count)
    sizes = sorted(p.stat().st_size for p in paths)
    print(f"JPEGs: {len(paths):,} made in {time.perf_counter() - started:.0f} s, "
          f"{sizes[0] / 1e3:.0f}-{sizes[-1] / 1e3:.0f} kB (median {sizes[len(sizes) // 2] / 1e3:.0f})",
          flush=True)
    source = linked(paths[:images], work / f"in-{images}")
    model = load_model(model_dir, parse_transforms(TRANSFORM, "the benchmark"))
    batch = plan_run(Location(str(source)), Location(str(work / "planned")), model).batch_size
    assert batch is not None  # planned with the model
    model = choose_engine(model, engine, batch=batch, threads=scoring_split(threads, None)[1])
    setup = Setup(model_dir, transform_file, threads, model.engine or "onnxruntime")
    scorer = RunScorer(model.onnx.SerializeToString(), threads, setup.engine)
    data = decoded_records(model, paths[:images])
    cv2.setNumThreads(threads)
    loading = time.perf_counter()
    net = cv2.dnn.readNetFromCaffe(str(model_dir / "deploy.prototxt"),
                                   str(model_dir / "weights.caffemodel"))
    _check_same_outputs(scorer, net, data[:1], paths[:1])  # OpenCV sets its layers up here
    loaded = time.perf_counter() - loading
    _check_same_outputs(scorer, net, data[1:3], paths[1:3])
    print(f"GoogLeNet on {images} JPEGs: {threads} threads each, engine {setup.engine}, "
          f"batch {batch}; cv2 {cv2.__version__}, its net read and first forward pass "
          f"{loaded:.1f} s", flush=True)
    return paths, Sides(setup, source, paths[:images], data, scorer, batch, net)


def _rounds(sides: Sides, work: Path, rounds: int) -> tuple[dict[str, list[Rate]],
                                                             list[ScoreRun]]:
    """The three sides in turn, `rounds` times, the order rotating: rates (the CLI's steady
    ones under "steady"), and the CLI's runs."""
    found: dict[str, list[Rate]] = {"caffebatch": [], "engine": [], "opencv": [], "steady": []}
    scored: list[ScoreRun] = []

    def run_caffebatch(index: int) -> Rate:
        done = caffebatch_score(sides.setup, sides.source, work / f"out-{index}", sides.batch)
        scored.append(done)
        found["steady"].append(done.steady)
        shutil.rmtree(work / f"out-{index}")
        return done.run

    def run_opencv(index: int) -> Rate:
        rate = opencv_loop(sides.net, sides.paths, work / f"opencv-{index}")
        shutil.rmtree(work / f"opencv-{index}")
        return rate

    run: dict[str, Callable[[int], Rate]] = {
        "caffebatch": run_caffebatch,
        "engine": lambda index: sides.scorer.alone("data", sides.data, sides.batch),
        "opencv": run_opencv,
    }
    names = list(run)
    for index in range(rounds):
        order = names[index % 3:] + names[:index % 3]
        for name in order:
            found[name].append(run[name](index))
        end_to_end, engine, loop = (found[name][-1] for name in names)
        last = scored[-1]
        print(f"JPEG round {index + 1} ({', '.join(order)}): caffebatch {end_to_end} "
              f"(steady {last.steady.rate:.1f}/s after {last.startup_s:.2f} s to its first "
              f"batch; process {len(sides.paths) / last.child.wall:.1f}/s, "
              f"{last.child.peak_rss_mib:.0f} MiB), engine {engine}, opencv {loop}; "
              f"caffebatch / engine {end_to_end.rate / engine.rate:.2f} "
              f"(steady {last.steady.rate / engine.rate:.2f}), "
              f"caffebatch / opencv {end_to_end.rate / loop.rate:.2f} "
              f"(steady {last.steady.rate / loop.rate:.2f})", flush=True)
    return found, scored


def _check_same_outputs(scorer: RunScorer, net: cv2.dnn.Net, data: np.ndarray,
                        paths: list[Path]) -> None:
    """Both sides score the same tensors (a benchmark of different work would mean nothing)."""
    ours = scorer({"data": data})["prob"]
    for row, path in zip(ours, paths, strict=True):
        blob = cv2.dnn.blobFromImage(cv2.imread(str(path)), 1.0, (SIZE, SIZE), MEAN_BGR)
        net.setInput(blob)
        theirs = net.forward().ravel()
        assert np.allclose(row.ravel(), theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max()), path


def _summarise(found: dict[str, list[Rate]], scored: list[ScoreRun], images: int) -> None:
    median = statistics.median
    ends, engines, loops = found["caffebatch"], found["engine"], found["opencv"]
    steady = found["steady"]
    processes = [images / run.child.wall for run in scored]
    print(f"JPEG medians over {len(ends)} rounds, records/s (CPU µs per record): "
          f"caffebatch {median(r.rate for r in ends):.1f} "
          f"({median(r.cpu_us for r in ends):,.0f}, whole process), "
          f"steady {median(r.rate for r in steady):.1f} after "
          f"{median(run.startup_s for run in scored):.2f} s to the first batch, "
          f"process {median(processes):.1f}, "
          f"engine {median(r.rate for r in engines):.1f} "
          f"({median(r.cpu_us for r in engines):,.0f}), "
          f"opencv {median(r.rate for r in loops):.1f} ({median(r.cpu_us for r in loops):,.0f})")
    print("JPEG ratios, per round: " + "; ".join([
        _ratios("caffebatch / engine", [e.rate for e in ends], [g.rate for g in engines]),
        _ratios("steady / engine", [e.rate for e in steady], [g.rate for g in engines]),
        _ratios("caffebatch / opencv", [e.rate for e in ends], [o.rate for o in loops]),
        _ratios("steady / opencv", [e.rate for e in steady], [o.rate for o in loops]),
        _ratios("caffebatch process / opencv", processes, [o.rate for o in loops]),
    ]), flush=True)


def _ratios(name: str, tops: list[float], bottoms: list[float]) -> str:
    ratios = [top / bottom for top, bottom in zip(tops, bottoms, strict=True)]
    return (f"{name} " + ", ".join(f"{ratio:.2f}" for ratio in ratios)
            + f" (median {statistics.median(ratios):.2f})")
