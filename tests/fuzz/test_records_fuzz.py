"""No input object, however broken, does anything but decode or raise a RecordError.

A record that raised anything else would escape the per-record error report and could
end the whole run; these properties search for such inputs.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caffebatch.errors import RecordError
from caffebatch.jobs.records import decode

INPUTS = {"data": (1, 2, 3)}
LIMIT = 64 * 1024

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=40,
)


def decoded_or_refused(data: bytes) -> None:
    try:
        record = decode("input.json", data, INPUTS, LIMIT)
    except RecordError as error:
        assert error.code and str(error), "a refusal has a code and says why"
        return
    array = record.arrays["data"]
    assert array.shape == INPUTS["data"] and array.dtype == np.float32
    assert np.isfinite(array).all()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=256))
def test_any_bytes(data):
    decoded_or_refused(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_document(document):
    decoded_or_refused(json.dumps(document).encode())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["data", "other"]), json_values, max_size=2))
def test_any_object_with_the_input_key(document):
    decoded_or_refused(json.dumps(document).encode())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
                 min_size=2, max_size=2),
        min_size=1, max_size=1,
    )
)
def test_every_well_formed_record_decodes_exactly(values):
    record = decode("input.json", json.dumps({"data": values}).encode(), INPUTS, LIMIT)
    np.testing.assert_array_equal(record.arrays["data"], np.asarray(values, dtype=np.float32))
