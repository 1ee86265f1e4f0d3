"""Print the squares found in each scored image.

    python examples/squares/show.py build/squares-out

Reads one result object per input (``{"one_square.json": {"detection_out": [[[...]]]}}``):
the record's rows ``[0, label, score, xmin, ymin, xmax, ymax]`` (coordinates in [0, 1]),
or the single row ``[0, -1, -1, -1, -1, -1, -1]`` of an image without a detection.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SIZE = 32  # pixels


def describe(rows: list[list[float]]) -> list[str]:
    """One line per detection, in pixels."""
    found = [row for row in rows if row[1] >= 0]
    return [
        f"square {score:.4f} at x {xmin * SIZE:g}-{xmax * SIZE:g}, y {ymin * SIZE:g}-{ymax * SIZE:g}"
        for _, _, score, xmin, ymin, xmax, ymax in found
    ]


def main() -> int:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "build/squares-out")
    files = sorted(p for p in results.iterdir() if p.is_file() and p.name.endswith(".json"))
    for path in files:
        (rows,) = json.loads(path.read_bytes())[path.name]["detection_out"]
        lines = describe(rows)
        print(f"{path.name}: {len(lines)} square(s)")
        for line in lines:
            print(f"  {line}")
    return 0 if files else 1


if __name__ == "__main__":
    sys.exit(main())
