"""How the values of a compiled model's output belong to the records of a batch.

Most outputs hold one row per record along the first axis (`BATCH`). Two Caffe layers
break that rule, and the compiled model says so, per output, in its ONNX metadata
(``caffebatch.output_layouts``, a JSON object of output name -> layout; outputs it does
not name are `BATCH`):

- `SHARED`: one value for the whole batch, whatever its size, with Caffe's own first
  axis of 1 (PriorBox's priors). Every record gets that value.
- `ROWS`: SSD's detections, Caffe's ``[1, 1, R, 7]`` blob for the whole batch, each row
  ``[image id, label, score, xmin, ymin, xmax, ymax]`` with the image id being the record's
  index in the batch. A record gets its own rows with image id 0, or Caffe's row for an
  image without detections, ``[0, -1, -1, -1, -1, -1, -1]``: what Caffe gives for that
  record alone in a batch of one.

`record_value` cuts one record's value out of a batch's output, with the batch axis (or
Caffe's leading 1) dropped, as every result does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import orjson

BATCH = "batch"
SHARED = "shared"
ROWS = "rows"

METADATA_KEY = "caffebatch.output_layouts"
BATCH_AXIS = "N"  # the symbolic name of the batch axis in the compiled model
ROWS_AXIS = "detections"  # the symbolic name of the rows axis of a ROWS output


def graph_dims(layout: str, shape: Sequence[int]) -> list[int | str]:
    """The dims an output of `layout` declares in the ONNX graph, symbolic where they vary."""
    if layout == SHARED:
        return list(shape)
    if layout == ROWS:
        return [1, 1, ROWS_AXIS, shape[-1]]
    return [BATCH_AXIS, *shape[1:]] if shape else []


def write(model: onnx.ModelProto, layouts: Mapping[str, str]) -> None:
    """Record the layouts other than BATCH in `model`'s metadata (nothing when all are)."""
    special = {name: layout for name, layout in layouts.items() if layout != BATCH}
    if special:
        onnx.helper.set_model_props(model, {METADATA_KEY: orjson.dumps(special).decode()})


def read(metadata: Mapping[str, str]) -> dict[str, str]:
    """The non-BATCH layouts recorded in a model's metadata map (ONNX or ONNX Runtime's)."""
    text = metadata.get(METADATA_KEY)
    return dict(orjson.loads(text)) if text else {}


def of_model(model: onnx.ModelProto) -> dict[str, str]:
    """The non-BATCH layouts of `model`'s outputs."""
    return read({prop.key: prop.value for prop in model.metadata_props})


def of_bytes(model: bytes) -> dict[str, str]:
    """The non-BATCH layouts of a serialized model's outputs."""
    return of_model(onnx.load_model_from_string(model))


def record_value(layout: str, values: np.ndarray, index: int) -> np.ndarray:
    """Record `index`'s value of an output of `layout` holding a whole batch's `values`."""
    if layout == SHARED:
        return np.asarray(values[0])
    if layout == ROWS:
        return _record_rows(values, index)
    return np.asarray(values[index])


def _record_rows(values: np.ndarray, index: int) -> np.ndarray:
    rows = values.reshape(-1, values.shape[-1])
    own = rows[rows[:, 0] == index]
    if len(own) == 0:
        # Caffe's DetectionOutput writes this row for each image when none has a detection
        own = np.full((1, rows.shape[1]), -1, dtype=values.dtype)
    else:
        own = own.copy()
    own[:, 0] = 0
    return np.asarray(own[np.newaxis])
