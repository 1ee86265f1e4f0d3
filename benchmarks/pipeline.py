"""Batch-run throughput end to end vs the engine alone vs the loop a user would write.

    .venv/bin/python benchmarks/pipeline.py [--count 20000] [--s3-count 20000] [--baseline-count 2000]
        [--work /dev/shm] [--rounds 3] [--googlenet-count 200] [--rss-counts 200,2000]
        [--images 200] [--image-rss-counts 200,2000] [--image-threads 2]
        [--image-engine onnxruntime] [--no-processes] [--no-ray]

`--count 0`, `--googlenet-count 0` and `--images 0` skip the LeNet, the GoogLeNet-JSON and
the GoogLeNet-JPEG rows; a short run of all of them:
`--count 500 --s3-count 200 --baseline-count 100 --no-ray --rounds 1 --rss-counts 200
--googlenet-count 8 --images 32 --image-rss-counts 32,64 --work /dev/shm` (about a minute).

`--work` chooses the file system the folders live on: on this machine's ext4 disk, creating
one small file costs from 40 to over 600 µs of kernel CPU depending on what else writes to the
disk, which swamps everything else the run does; tmpfs (/dev/shm) shows the pipeline's own cost.
benchmarks/pipeline_costs.py breaks a run's CPU per record down by stage.

Measures, in one process and one run (the machine is noisy, so only ratios within a run count):
- in turn, `--rounds` times, on the same records: the engine alone (already decoded, in memory,
  batches of 64), end to end folder to folder with threads, and with `processes=2`;
  each with records/s and CPU µs per record (worker processes' CPU included);
- a plain loop a user might write: read a file, `json` parse, one forward pass, write;
- GoogLeNet-size JSON records (1x3x224x224): engine alone against end to end, in turn;
- GoogLeNet on 224x224 JPEGs (benchmarks/pipeline_jpeg.py): `caffebatch score` as a user runs
  it, the engine alone on the same decoded records and an OpenCV 4 loop, in turn, with the
  CLI's peak RSS over `--image-rss-counts` images;
- S3 to S3 against moto on 127.0.0.1;
- peak RSS of folder-to-folder runs over `--rss-counts` inputs (each in a fresh process);
- the Ray column (unless --no-ray): the same runs on a local Ray of --ray-cpus CPUs, its start-up
  and the per-record overhead it adds over the local executor.
Results go to BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.measure import Rate, RunScorer, cpu_seconds, run_child
from caffebatch.jobs import Location, RunOptions, run_batch
from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer

DIGITS = ROOT / "examples/digits/inputs"
LENET = ROOT / "examples/lenet"


def make_inputs(folder: Path, count: int) -> list[Path]:
    """`count` distinct input files (the 360 digits, repeated under new names)."""
    folder.mkdir(parents=True, exist_ok=True)
    digits = [p.read_bytes() for p in sorted(DIGITS.iterdir())]
    paths = []
    for index in range(count):
        path = folder / f"in_{index:06d}.json"
        path.write_bytes(digits[index % len(digits)])
        paths.append(path)
    return paths


def engine_alone(model, scorer: RunScorer, paths: list[Path], batch: int = 64) -> Rate:
    """The run's Scorer alone on the same records, decoded beforehand, called as a run calls it."""
    from caffebatch.jobs.records import decode

    name = next(iter(model.inputs))
    data = np.stack([decode(p.name, p.read_bytes(), model.inputs, 64 << 20).arrays[name]
                     for p in paths])
    return scorer.alone(name, data, batch)


def end_to_end(model, source: Location, target: Location, scorer: Scorer | None = None,
               executor=None, processes: int = 0) -> Rate:
    cpu = cpu_seconds()
    summary = run_batch(model, source, target,
                        RunOptions(run_id="bench", processes=processes), scorer=scorer,
                        executor=executor)
    assert summary.status == "SUCCESS", summary
    if processes:
        # The workers fork from the forkserver, which reaps them: stop it, and their CPU
        # (with its own) lands in RUSAGE_CHILDREN. (A private call; benchmarks only.)
        from multiprocessing import forkserver
        forkserver._forkserver._stop()
    wall = (summary.finished_at - summary.started_at).total_seconds()
    return Rate(summary.scored, wall, cpu_seconds() - cpu)


def alternate(model, scorer: RunScorer, paths: list[Path], work: str, rounds: int,
              batch: int, processes: bool) -> dict[str, list[Rate]]:
    """Engine alone and end to end (threads, and 2 worker processes) in turn, `rounds` times.

    Other sessions' load comes and goes within seconds on this machine, so one measurement of
    each, minutes apart, can make the ratio anything; alternating and comparing within a
    round compares them under the same load.
    """
    found: dict[str, list[Rate]] = {"engine": [], "threads": [], "processes": []}
    source = Location(f"{work}/in")
    for index in range(rounds):
        found["engine"].append(engine_alone(model, scorer, paths, batch))
        found["threads"].append(end_to_end(model, source, Location(f"{work}/out-t{index}")))
        if processes:
            found["processes"].append(end_to_end(model, source, Location(f"{work}/out-p{index}"),
                                                 processes=2))
        engine = found["engine"][-1].rate
        print(f"round {index + 1}: " + ", ".join(
            f"{kind} {rates[-1]} ({rates[-1].rate / engine:.2f})"
            for kind, rates in found.items() if rates), flush=True)
    return found


def baseline(scorer: Scorer, paths: list[Path], out: Path) -> Rate:
    """What a user might write first: one file, one json.load, one forward pass, one write."""
    out.mkdir(parents=True, exist_ok=True)
    start, cpu = time.perf_counter(), cpu_seconds()
    for path in paths:
        with open(path) as file:
            record = json.load(file)
        data = np.array(record["data"], dtype=np.float32).reshape(1, 1, 28, 28)
        prob = scorer({"data": data})["prob"][0]
        with open(out / path.name, "w") as file:
            json.dump({path.name: {"prob": prob.tolist()}}, file)
    return Rate(len(paths), time.perf_counter() - start, cpu_seconds() - cpu)


def googlenet(work: Path, count: int, rounds: int) -> dict[str, list[Rate]]:
    """GoogLeNet-size JSON records (1x3x224x224, 2.8 MB each): end to end against the engine."""
    from benchmarks.nets.googlenet import write_googlenet
    from caffebatch.jobs.plan import plan_run

    model = load_model(write_googlenet(work / "googlenet"))
    rng = np.random.default_rng(3)
    folder = work / "in"
    folder.mkdir()
    paths = []
    for index in range(count):
        path = folder / f"img_{index:05d}.json"
        image = rng.random((1, 3, 224, 224), dtype=np.float32)
        path.write_text(json.dumps({"data": image.tolist()}))
        paths.append(path)
    batch = plan_run(Location(str(folder)), Location(str(work / "out")), model).batch_size
    scorer = RunScorer(model.onnx.SerializeToString())
    return alternate(model, scorer, paths, str(work), rounds, batch, processes=False)


def peak_rss_mib(count: int, where: str | None) -> float:
    """Peak RSS of a fresh process that runs folder to folder over `count` inputs."""
    extra = ["--work", where] if where else []
    return run_child([sys.executable, __file__, "--rss-child", str(count), *extra]).peak_rss_mib


def rss_child(count: int, where: str | None) -> None:
    with tempfile.TemporaryDirectory(dir=where) as work:
        make_inputs(Path(work) / "in", count)
        model = load_model(LENET)
        end_to_end(model, Location(f"{work}/in"), Location(f"{work}/out"))


def start_ray(cpus: int) -> float:
    """Start a local Ray as the Ray executor would; the seconds it took."""
    from caffebatch.jobs.executors.ray import RaySettings, connect

    start = time.perf_counter()
    connect(RaySettings(num_cpus=cpus, object_store_mib=128))
    return time.perf_counter() - start


def ray_executor():
    from caffebatch.jobs.executors.ray import RayExecutor

    return RayExecutor()  # joins the Ray that start_ray started


def ray_data_rate(model, source: Path, out: Path) -> float:
    """The folder-to-folder run as the obvious Ray Data pipeline (needs ``ray[data]``).

    Kept to measure the choice docs/ray.md explains: it has no per-record errors, no resume
    and holds every key in the driver (`from_items`), and it is still the slower one.
    """
    import ray.data

    from caffebatch.jobs.batches import encode
    from caffebatch.jobs.records import decode

    inputs, onnx = dict(model.inputs), model.onnx.SerializeToString()

    def load(batch):
        keys = list(batch["key"])
        arrays = [decode(k, (source / k).read_bytes(), inputs, 1 << 20).arrays["data"] for k in keys]
        return {"key": np.array(keys), "data": np.stack(arrays)}

    class Score:
        def __init__(self):
            self.scorer = Scorer(onnx, threads=1)

        def __call__(self, batch):
            return {"key": batch["key"], "prob": self.scorer({"data": batch["data"]})["prob"]}

    def write(batch):
        for key, prob in zip(batch["key"], batch["prob"], strict=True):
            (out / key).write_bytes(encode(str(key), {"prob": prob}))
        return {"n": np.array([len(batch["key"])])}

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    keys = sorted(p.name for p in source.iterdir())
    dataset = (ray.data.from_items([{"key": k} for k in keys]).map_batches(load, batch_size=64)
               .map_batches(Score, batch_size=64, concurrency=1, num_cpus=1)
               .map_batches(write, batch_size=64))
    done = sum(int(b["n"].sum()) for b in dataset.iter_batches(batch_size=None))
    assert done == len(keys)
    return done / (time.perf_counter() - start)


def s3_to_s3(model, count: int, ray: bool) -> tuple[float, float, float | None]:
    """(end-to-end records/s, moto's one-client GET rate, on Ray records/s) for `count` inputs."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.s3server import S3Server

    digits = [p.read_bytes() for p in sorted(DIGITS.iterdir())]
    with S3Server() as server:
        source, target = server.create_bucket(), server.create_bucket()
        client = server.client()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: client.put_object(Bucket=source, Key=f"in_{i:06d}.json",
                                                      Body=digits[i % len(digits)]), range(count)))
        start = time.perf_counter()
        for index in range(200):
            client.get_object(Bucket=source, Key=f"in_{index:06d}.json")["Body"].read()
        get_rate = 200 / (time.perf_counter() - start)
        rate = end_to_end(model, server.location(f"s3://{source}"), server.location(f"s3://{target}"))
        on_ray = None
        if ray:
            on_ray = end_to_end(model, server.location(f"s3://{source}"),
                                server.location(f"s3://{server.create_bucket()}"),
                                executor=ray_executor())
    return rate, get_rate, on_ray


def _ratios(name: str, found: dict[str, list[Rate]]) -> None:
    engine = found["engine"]
    for kind in ("threads", "processes"):
        for index, rate in enumerate(found[kind]):
            print(f"{name} round {index + 1}, {kind}: end to end {rate} / engine alone "
                  f"{engine[index]} = {rate.rate / engine[index].rate:.2f}")


def lenet_rows(args: argparse.Namespace) -> None:
    """The LeNet rows: rounds against the engine, the plain loop, S3, Ray and peak RSS."""
    model = load_model(LENET)
    rows: dict[str, Rate] = {}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        paths = make_inputs(Path(work) / "in", args.count)
        lenet = alternate(model, RunScorer(model.onnx.SerializeToString()), paths, work,
                          args.rounds, 64, args.processes)
        # a user's loop: ONNX Runtime's defaults (every core, spinning), one record a call
        plain = baseline(Scorer(model.onnx.SerializeToString()), paths[: args.baseline_count],
                         Path(work) / "baseline")
        rows["plain loop (json, batch 1)"] = plain
        if args.ray:
            ray_start = start_ray(args.ray_cpus)
            rows["Ray: first run on the fresh local Ray"] = end_to_end(
                model, Location(f"{work}/in"), Location(f"{work}/ray-cold"), executor=ray_executor())
            rows["Ray: end to end, folder to folder"] = end_to_end(
                model, Location(f"{work}/in"), Location(f"{work}/ray"), executor=ray_executor())
            if args.ray_data:
                rows["Ray Data prototype, folder to folder"] = ray_data_rate(
                    model, Path(work) / "in", Path(work) / "ray-data")
    if args.s3_count:
        (rows["end to end, S3 to S3 (moto)"], get_rate,
         on_ray) = s3_to_s3(model, args.s3_count, args.ray)
        print(f"moto GETs/s, one client: {get_rate:,.0f}")
        if on_ray is not None:
            rows["Ray: end to end, S3 to S3 (moto)"] = on_ray
    for name, rate in rows.items():
        print(f"{name:48s} {rate}")
    _ratios("LeNet", lenet)
    for kind in ("threads", "processes"):
        for rate in lenet[kind]:
            print(f"LeNet {kind} / plain loop: {rate.rate / plain.rate:.1f}x")
    if args.ray:
        print(f"Ray start-up ({args.ray_cpus} CPUs): {ray_start:.1f} s")
    counts = _counts(args.rss_counts)
    peaks = [peak_rss_mib(count, args.work) for count in counts]
    print("peak RSS, folder to folder: " + ", ".join(
        f"{count:,} inputs {peak:.0f} MiB" for count, peak in zip(counts, peaks, strict=True)))


def _counts(text: str) -> list[int]:
    return [int(word) for word in text.split(",") if word]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="LeNet inputs; 0 skips LeNet")
    parser.add_argument("--s3-count", type=int, default=20_000)
    parser.add_argument("--baseline-count", type=int, default=2_000)
    parser.add_argument("--googlenet-count", type=int, default=200,
                        help="GoogLeNet-size records (2.8 MB of JSON each); 0 skips them")
    parser.add_argument("--rss-counts", default="200,2000",
                        help="LeNet inputs of the peak-RSS runs, comma-separated")
    parser.add_argument("--images", type=int, default=200,
                        help="224x224 JPEGs for GoogLeNet's image rounds; 0 skips them")
    parser.add_argument("--image-rss-counts", default="200,2000",
                        help="JPEGs of the `caffebatch score` peak-RSS runs, comma-separated")
    parser.add_argument("--image-threads", type=int, default=2,
                        help="threads of caffebatch's engine and of OpenCV in the image rounds")
    parser.add_argument("--image-engine", default="onnxruntime",
                        choices=["onnxruntime", "openvino", "auto"],
                        help="caffebatch's backend in the image rounds (auto: chosen once here)")
    parser.add_argument("--no-processes", dest="processes", action="store_false",
                        help="skip the --processes 2 column")
    parser.add_argument("--no-ray", dest="ray", action="store_false", help="skip the Ray column")
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count())
    parser.add_argument("--ray-data", action="store_true", help="also the Ray Data prototype")
    parser.add_argument("--work", default=None, help="where the folders go (default: the temp dir)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="engine alone and end to end alternate this many times")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child, args.work)

    if args.count:
        lenet_rows(args)
    if args.googlenet_count:
        with tempfile.TemporaryDirectory(dir=args.work) as work:
            _ratios("GoogLeNet", googlenet(Path(work), args.googlenet_count, args.rounds))
    if args.images:
        from benchmarks.pipeline_jpeg import jpeg_rounds

        with tempfile.TemporaryDirectory(dir=args.work) as work:
            jpeg_rounds(Path(work), args.images, args.rounds, args.image_threads,
                        args.image_engine, _counts(args.image_rss_counts))
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
