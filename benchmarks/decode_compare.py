"""records.decode of this tree against another version of records.py, interleaved, on LeNet.

    .venv/bin/python benchmarks/decode_compare.py --against /tmp/records_before.py [--rounds 9]

Decodes every examples/digits input (360 LeNet records, about 5 KB each) `--repeat` times
per round with each version in turn (the order alternating), and prints each version's best
round in µs per record and the ratio this / other. Both run in one process, so machine load
hits both alike. Results go to BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from caffebatch.jobs import records

INPUTS = {"data": (1, 28, 28)}
LIMIT = 64 * 1024 * 1024


def load(path: str):
    spec = importlib.util.spec_from_file_location("records_other", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["records_other"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def one_round(decode, objects: list[tuple[str, bytes]], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for key, data in objects:
            decode(key, data, INPUTS, LIMIT)
    return (time.perf_counter() - started) / (repeat * len(objects)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", required=True, help="another records.py")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    other = load(arguments.against)
    objects = [(p.name, p.read_bytes()) for p in sorted((ROOT / "examples/digits/inputs").iterdir())]
    best = {"this": float("inf"), "other": float("inf")}
    versions = [("this", records.decode), ("other", other.decode)]
    for round_ in range(arguments.rounds):
        for name, decode in versions if round_ % 2 == 0 else reversed(versions):
            best[name] = min(best[name], one_round(decode, objects, arguments.repeat))
    print(f"this: {best['this']:.1f} µs/record, other: {best['other']:.1f} µs/record, "
          f"this/other: {best['this'] / best['other']:.3f}")


if __name__ == "__main__":
    main()
