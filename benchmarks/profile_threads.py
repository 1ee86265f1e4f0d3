"""Where each thread of a run spends its wall time, from a py-spy profile of the whole process.

    py-spy record -r 100 --threads --idle -f raw -o PROFILE.txt -- .venv/bin/caffebatch score ...
    .venv/bin/python benchmarks/profile_threads.py PROFILE.txt

With `--idle` every Python thread is sampled at the same rate whatever it does, so a thread's
samples are its wall time and a stage's share of them is the share of the run's wall time that
thread spent in it. Each sample goes to the first stage found walking its stack from the leaf
(so a decode inside a chunk counts as decoding, not as the chunk). ONNX Runtime's own worker
threads are not Python threads: the forward pass shows as the Python thread inside `Session.run`.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

# (stage, function as py-spy names it, only when it is the leaf frame)
STAGES = (
    ("forward pass (Session.run)", "Session.run", False),
    ("waits for the one-forward-pass lock", "ChunkWorker._score", True),
    ("image decode + transform", "decode_image", False),
    ("stack a batch", "stack", False),
    ("encode results", "encode", False),
    ("read inputs", "LocalStorage.get", False),
    ("write results", "write", False),
    ("list, plan, hand out chunks", "LocalExecutor.run", False),
    ("load and compile the model", "load_model", False),
    ("imports", "_call_with_frames_removed", False),
    ("idle (waits for work)", "Condition.wait", False),
    ("idle (waits for work)", "_worker", True),
)


def stage_of(frames: list[str]) -> str:
    """The stage of one sample's stack (root first, as py-spy writes it)."""
    for depth, frame in enumerate(reversed(frames)):
        function = frame.split(" (", 1)[0]
        for stage, name, leaf_only in STAGES:
            if function == name and (depth == 0 or not leaf_only):
                return stage
    return "other: " + frames[-1].split(" (", 1)[0]


def summarise(path: Path) -> dict[str, Counter[str]]:
    """Samples by thread name, then by stage."""
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for line in path.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1] if ": " in frames[0] else "(unnamed)"
        found[thread][stage_of(frames[1:] or frames)] += int(count)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy raw output (--threads --idle)")
    parser.add_argument("--rate", type=float, default=100, help="py-spy's samples per second")
    args = parser.parse_args()
    found = summarise(args.profile)
    total: Counter[str] = Counter()
    for thread, stages in sorted(found.items()):
        samples = sum(stages.values())
        print(f"{thread}: {samples / args.rate:.1f} s")
        for stage, count in stages.most_common(8):
            print(f"    {stage:40s} {count / args.rate:7.2f} s  {100 * count / samples:5.1f}%")
        total.update(stages)
    forward = total["forward pass (Session.run)"] / args.rate
    longest = max(sum(stages.values()) for stages in found.values()) / args.rate
    print(f"forward passes (one at a time) fill {forward:.1f} s of the process's {longest:.1f} s")


if __name__ == "__main__":
    main()
