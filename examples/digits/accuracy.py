"""Print the accuracy of scored digits against their labels.

    python examples/digits/accuracy.py build/digits-out [.png]

Reads one result object per input (``{"digit_000.json": {"prob": [...]}}``) from the folder
and compares the most probable class with examples/digits/labels.json. The labels name the JSON
inputs; with a suffix (``.png``), the result of ``digit_000.png`` stands for ``digit_000.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LABELS = Path(__file__).resolve().parent / "labels.json"


def accuracy(results: Path, labels: dict[str, int],
             suffix: str = ".json") -> tuple[int, int, list[str]]:
    """(correct, scored, keys without a result)."""
    correct, scored, missing = 0, 0, []
    for name, label in sorted(labels.items()):
        key = Path(name).with_suffix(suffix).name
        path = results / key
        if not path.is_file():
            missing.append(key)
            continue
        prob = json.loads(path.read_bytes())[key]["prob"]
        scored += 1
        correct += max(range(len(prob)), key=prob.__getitem__) == label
    return correct, scored, missing


def main() -> int:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "build/digits-out")
    suffix = sys.argv[2] if len(sys.argv) > 2 else ".json"
    labels = json.loads(LABELS.read_text())
    correct, scored, missing = accuracy(results, labels, suffix)
    if missing:
        print(f"{len(missing)} digit(s) have no result, e.g. {missing[:3]}")
    print(f"accuracy: {correct}/{scored} = {correct / max(scored, 1):.4f} (Caffe's own: 359/360 = 0.9972)")
    return 0 if scored and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
