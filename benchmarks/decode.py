"""CPU per record of records.decode: its fast path (plain_records) against its exact path.

    .venv/bin/python benchmarks/decode.py [--rounds 9] [--against main] [--proofs]

LeNet: the 360 examples/digits inputs (1x28x28, about 5 KB each). GoogLeNet size: one record
of 1x3x224x224 random float32 values written by `json.dumps` (3.05 MB), as benchmarks/pipeline.py
writes them. Each round times every version in turn (the order alternating), with
time.process_time; the best round of each is printed, with the ratios to the exact path.
`--against REF` adds another commit's decode (main's, say) as a third version: its records.py
with its own plain_records.py as the fast path, both read with `git show`. Results go to
BENCHMARKS.md by hand.

`--proofs` times the fast path's two proofs of a shape against each other (plain_arrays with
walk_from 0: always the walk; sys.maxsize: always the skeleton) on records of 64 rows of L
values, and prints bytes per array, where plain_records.WALK_FROM chooses between them. It also
times reading the GoogLeNet-size record from a file in /dev/shm (tmpfs), CPU per read.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from caffebatch.jobs import records
from caffebatch.jobs.plain_records import _arrays, plain_arrays

LIMIT = 64 * 1024 * 1024
Decode = Callable[[str, bytes, dict[str, tuple[int, ...]], int], object]


def load(ref: str) -> Decode:
    """records.decode as of commit `ref`, with that commit's plain_records (if any) as its fast
    path: its records.py imports plain_arrays from this tree's package, so it is replaced."""
    modules = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in ("plain_records", "records"):
            shown = subprocess.run(["git", "show", f"{ref}:src/caffebatch/jobs/{name}.py"],
                                   cwd=ROOT, capture_output=True, check=False)
            if shown.returncode != 0:
                continue  # a commit before the fast path: records.py alone
            path = Path(folder) / f"{name}.py"
            path.write_bytes(shown.stdout)
            spec = importlib.util.spec_from_file_location(f"{name}_other", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses look their module up
            spec.loader.exec_module(module)
            modules[name] = module
    if "plain_records" in modules:
        modules["records"].plain_arrays = modules["plain_records"].plain_arrays
    return modules["records"].decode


def exactly(key: str, data: bytes, inputs: dict[str, tuple[int, ...]], limit: int) -> object:
    return records.decode_exactly(key, data, inputs)


def cpu_per_record(decode: Decode, objects: list[bytes], inputs, repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        for data in objects:
            decode("k", data, inputs, LIMIT)
    return (time.process_time() - started) / (repeat * len(objects))


def proof(walk_from: int) -> Decode:
    return lambda key, data, inputs, limit: plain_arrays(data, inputs, walk_from=walk_from)


def compare(label: str, versions: dict[str, Decode], objects, inputs, repeat, rounds,
            baseline: str = "exact") -> None:
    best = dict.fromkeys(versions, float("inf"))
    order = list(versions)
    for round_ in range(rounds):
        for name in order if round_ % 2 == 0 else reversed(order):
            best[name] = min(best[name], cpu_per_record(versions[name], objects, inputs, repeat))
    unit, scale = ("µs", 1e6) if best[baseline] < 1e-3 else ("ms", 1e3)
    figures = ", ".join(f"{name} {best[name] * scale:.2f} {unit}" for name in order)
    ratios = ", ".join(f"{name}/{baseline} {best[name] / best[baseline]:.3f}"
                       for name in order if name != baseline)
    print(f"{label}: {figures}; {ratios}")


def proofs(rounds: int, big: bytes) -> None:
    versions = {"skeleton": proof(sys.maxsize), "walk": proof(0)}
    rng = np.random.default_rng(1)
    for length in (8, 16, 24, 32, 48, 64):
        inputs = {"data": (64, length)}
        data = json.dumps({"data": rng.random((1, 64, length), dtype=np.float32).tolist()})
        per_array = len(data) / _arrays(inputs["data"])
        compare(f"64 rows of {length}, {per_array:.0f} bytes an array", versions,
                [data.encode()], inputs, repeat=max(1, 200_000 // len(data)), rounds=rounds,
                baseline="skeleton")
    with tempfile.NamedTemporaryFile(dir="/dev/shm") as file:
        file.write(big)
        file.flush()
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(10):
                Path(file.name).read_bytes()
            best = min(best, (time.process_time() - started) / 10)
    print(f"GoogLeNet size, read from /dev/shm: {best * 1e3:.2f} ms CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--against", help="another commit's decode, timed as 'other'")
    parser.add_argument("--proofs", action="store_true", help="time the two shape proofs too")
    arguments = parser.parse_args()
    versions: dict[str, Decode] = {"fast": records.decode, "exact": exactly}
    if arguments.against:
        versions["other"] = load(arguments.against)
    digits = [path.read_bytes() for path in sorted((ROOT / "examples/digits/inputs").iterdir())]
    compare("LeNet, 360 records, CPU per record", versions, digits, {"data": (1, 28, 28)},
            repeat=3, rounds=arguments.rounds)
    image = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    big = [json.dumps({"data": image.tolist()}).encode()]
    compare(f"GoogLeNet size, {len(big[0]) / 1e6:.2f} MB, CPU per record", versions, big,
            {"data": (3, 224, 224)}, repeat=1, rounds=arguments.rounds)
    if arguments.proofs:
        lenet, googlenet = {"data": (1, 28, 28)}, {"data": (3, 224, 224)}
        print(f"LeNet: {sum(map(len, digits)) / len(digits) / _arrays(lenet['data']):.0f} bytes "
              f"an array; GoogLeNet size: {len(big[0]) / _arrays(googlenet['data']):.0f}")
        skeleton_or_walk = {"skeleton": proof(sys.maxsize), "walk": proof(0)}
        compare("LeNet, the two proofs", skeleton_or_walk, digits, lenet, repeat=3,
                rounds=arguments.rounds, baseline="skeleton")
        compare("GoogLeNet size, the two proofs", skeleton_or_walk, big, googlenet, repeat=1,
                rounds=arguments.rounds, baseline="skeleton")
        proofs(arguments.rounds, big[0])


if __name__ == "__main__":
    main()
