"""Write examples/digits/ from the LeNet reference test set (tests/reference/lenet/test_set.npz).

Each digit becomes one input object in the seed's format, ``{"data": [[[[...]]]]}`` (1x1x28x28,
float32 in shortest round-trip form), named ``digit_NNN.json``; their labels go to labels.json,
next to (not among) the inputs. Each digit also becomes an 8-bit grey PNG, ``images/digit_NNN.png``.

The test set's values are not 8-bit (sklearn's 8x8 digits upscaled to 28x28, any value in
[0, 1]), so the PNGs hold round(value * 255): within half a grey level of the JSON digits, which
is what an 8-bit image can hold. Run: ``.venv/bin/python scripts/make_digits.py`` (needs OpenCV).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
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
    write_images(images, OUT / "images")


def write_images(images: np.ndarray, folder: Path) -> None:
    """One 8-bit grey PNG per digit; the JSON digit's values are in [0, 1]."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        pixels = np.round(image[0].astype(np.float64) * 255).astype(np.uint8)
        path = folder / f"digit_{index:03d}.png"
        if not cv2.imwrite(str(path), pixels):
            raise OSError(f"cannot write {path}")
    print(f"wrote {len(images)} images to {folder}")


if __name__ == "__main__":
    main()
