"""Output layouts: how a batch's values split per record, and how the model records them."""

from __future__ import annotations

import numpy as np
import onnx

from caffebatch.compiler import layouts
from caffebatch.compiler.artifact import load_compiled, save_compiled
from caffebatch.model import load_model
from caffebatch.runtime.scorer import Scorer
from tests.jobs.conftest import LENET, ROOT

ROWS = np.array([[[[0, 1, 0.9, 0.1, 0.1, 0.2, 0.2],
                   [0, 2, 0.8, 0.3, 0.3, 0.4, 0.4],
                   [2, 1, 0.7, 0.5, 0.5, 0.6, 0.6]]]], np.float32)


def test_batch_values_give_each_record_its_row():
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(layouts.record_value(layouts.BATCH, values, 1), values[1])


def test_shared_values_give_every_record_the_whole_blob():
    values = np.arange(8, dtype=np.float32).reshape(1, 2, 4)
    for index in range(3):
        np.testing.assert_array_equal(layouts.record_value(layouts.SHARED, values, index),
                                      values[0])


def test_rows_give_each_record_its_own_rows_as_image_zero():
    first = layouts.record_value(layouts.ROWS, ROWS, 0)
    np.testing.assert_array_equal(first, ROWS[:, 0, :2])
    third = layouts.record_value(layouts.ROWS, ROWS, 2)
    np.testing.assert_array_equal(third, np.float32([[[0, 1, 0.7, 0.5, 0.5, 0.6, 0.6]]]))
    assert ROWS[0, 0, 2, 0] == 2  # the batch's blob is left as it is


def test_a_record_without_rows_gets_caffes_row_for_no_detection():
    none = layouts.record_value(layouts.ROWS, ROWS, 1)
    np.testing.assert_array_equal(none, [[[0, -1, -1, -1, -1, -1, -1]]])
    fake = np.array([[[[0, -1, -1, -1, -1, -1, -1], [1, -1, -1, -1, -1, -1, -1]]]], np.float32)
    np.testing.assert_array_equal(layouts.record_value(layouts.ROWS, fake, 1), none)


def test_the_layouts_live_in_the_onnx_model_and_survive_saving(tmp_path):
    compiled = load_model(ROOT / "examples/squares-ssd")
    assert compiled.output_layouts == {"detection_out": layouts.ROWS}
    save_compiled(compiled, tmp_path)
    assert load_compiled(tmp_path).output_layouts == {"detection_out": layouts.ROWS}
    exported = onnx.load_model(str(tmp_path / "model.onnx"))
    assert layouts.of_model(exported) == {"detection_out": layouts.ROWS}
    scorer = Scorer(exported.SerializeToString(), threads=1)
    assert scorer.layouts == {"detection_out": layouts.ROWS}


def test_a_model_of_batch_outputs_records_nothing():
    compiled = load_model(LENET)
    assert compiled.output_layouts == {}
    assert not [p for p in compiled.onnx.metadata_props if p.key == layouts.METADATA_KEY]
