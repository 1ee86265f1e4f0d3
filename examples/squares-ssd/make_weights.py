"""Write squares.caffemodel and the example inputs: set by hand, the same on every run.

    .venv/bin/python examples/squares-ssd/make_weights.py

The net scores each 8x8 cell of a 32x32 image by its mean brightness m: the first
convolution gives (m, 1 - m), Normalize makes that a unit vector, and the confidence head
turns it into the logits (background, square) = (8 (1 - m), 8 m), up to the norm. The
location head predicts no offset, so a detection is its prior box. Of the three priors of
a cell (8x8, and 11x6 and 6x11 for aspect ratio 2 flipped), all equally confident, NMS
keeps the first: the 8x8 box of the cell.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from caffebatch.caffe.proto import caffe_pb2

HERE = Path(__file__).resolve().parent
INPUTS = HERE.parent / "squares" / "inputs"
SHARPNESS = 8.0
PRIORS = 3  # per cell
SIZE = 32


def weights() -> dict[str, list[np.ndarray]]:
    """Each weighted layer's blobs, in Caffe's order."""
    cells = np.zeros((2, 1, 8, 8), np.float32)
    cells[0], cells[1] = 1 / 64, -1 / 64
    conf = np.zeros((PRIORS * 2, 2, 1, 1), np.float32)
    for prior in range(PRIORS):
        conf[prior * 2 + 0, 1] = SHARPNESS  # background from 1 - m
        conf[prior * 2 + 1, 0] = SHARPNESS  # square from m
    return {
        "cells": [cells, np.array([0, 1], np.float32)],
        "cells_norm": [np.ones(1, np.float32)],
        "cells_mbox_loc": [np.zeros((PRIORS * 4, 2, 1, 1), np.float32),
                           np.zeros(PRIORS * 4, np.float32)],
        "cells_mbox_conf": [conf, np.zeros(PRIORS * 2, np.float32)],
    }


def caffemodel() -> bytes:
    net = caffe_pb2.NetParameter(name="squares-ssd")
    for name, blobs in weights().items():
        layer = net.layer.add(name=name)
        for blob in blobs:
            layer.blobs.add(shape={"dim": list(blob.shape)}, data=blob.ravel().tolist())
    return net.SerializeToString()


def image(*squares: tuple[int, int, int]) -> list:
    """A 1x1x32x32 record with bright squares given as (top, left, side) in pixels."""
    pixels = np.zeros((1, 1, SIZE, SIZE), np.float32)
    for top, left, side in squares:
        pixels[0, 0, top : top + side, left : left + side] = 1.0
    return pixels.tolist()


EXAMPLES = {
    "one_square.json": image((8, 16, 8)),
    "two_squares.json": image((0, 0, 8), (24, 24, 8)),
    "big_square.json": image((16, 0, 16)),
    "off_grid.json": image((4, 4, 8)),  # a quarter of four cells each: too faint
}


def main() -> None:
    (HERE / "squares.caffemodel").write_bytes(caffemodel())
    INPUTS.mkdir(parents=True, exist_ok=True)
    for name, data in EXAMPLES.items():
        (INPUTS / name).write_text(json.dumps({"data": data}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
