"""Write examples/digits/ from the LeNet reference test set (tests/reference/lenet/test_set.npz).

Each digit becomes one input object in the seed's format, ``{"data": [[[[...]]]]}`` (1x1x28x28,
float32 in shortest round-trip form), named ``digit_NNN.json``; their labels go to labels.json,
next to (not among) the inputs. Run: ``.venv/bin/python scripts/make_digits.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
TEST_SET = ROOT / "tests/reference/lenet/test_set.npz"
OUT = ROOT / "examples/digits"


def main() -> None:
    test_set = np.load(TEST_SET)
    images, labels = test_set["data"], test_set["label"].astype(int)
    inputs = OUT / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    names = {}
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"digit_{index:03d}.json"
        record = {"data": image[np.newaxis].astype(np.float32)}
        (inputs / name).write_bytes(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY))
        names[name] = int(label)
    (OUT / "labels.json").write_text(json.dumps(names, indent=1) + "\n")
    print(f"wrote {len(names)} inputs to {inputs}")


if __name__ == "__main__":
    main()
