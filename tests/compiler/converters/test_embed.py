"""Embed against numpy indexing of the weight table by truncated ids."""

from __future__ import annotations

import re

import numpy as np
import pytest

from caffebatch.errors import LayerError
from tests.compiler.converters._reference import assert_matches_reference
from tests.compiler.netbuilder import layer, run

RNG = np.random.default_rng(17)
TABLE = RNG.standard_normal((10, 4)).astype(np.float32)
BIAS = RNG.standard_normal(4).astype(np.float32)


def embed_layer(bias=True, **param):
    blobs = [TABLE, BIAS] if bias else [TABLE]
    return layer(
        "emb",
        "Embed",
        ["ids"],
        ["emb"],
        blobs=blobs,
        embed_param={"input_dim": 10, "num_output": 4, "bias_term": bias, **param},
    )


@pytest.mark.parametrize("shape", [(3,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_embed_looks_up_rows(shape, bias):
    ids = RNG.integers(0, 10, shape).astype(np.float32)
    y = run([embed_layer(bias)], {"ids": ids}, ["emb"])["emb"]
    expected = TABLE[ids.astype(int)] + (BIAS if bias else 0)
    assert y.shape == (*shape, 4)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_non_integer_ids_are_truncated_like_a_cast_to_int():
    ids = np.array([[2.7, -0.5, 9.99, 0.0]], np.float32)
    y = run([embed_layer()], {"ids": ids}, ["emb"])["emb"]
    np.testing.assert_allclose(y, TABLE[[[2, 0, 9, 0]]] + BIAS, rtol=1e-6)


def test_out_of_range_ids_give_nan_rows_and_spare_other_records():
    ids = np.array([[1, 10, 3], [-1, 2, np.nan], [4, 5, 6]], np.float32)
    y = run([embed_layer()], {"ids": ids}, ["emb"])["emb"]
    bad = np.array([[False, True, False], [True, False, True], [False, False, False]])
    assert np.isnan(y[bad]).all()
    np.testing.assert_allclose(y[~bad], TABLE[ids[~bad].astype(int)] + BIAS, rtol=1e-6)


# (id, blobs, embed_param, message fragment)
REFUSALS = [
    (
        "wrong_table",
        [np.zeros((9, 4)), np.zeros(4)],
        {"input_dim": 10, "num_output": 4},
        "expected (10, 4)",
    ),
    ("missing_bias", [np.zeros((10, 4))], {"input_dim": 10, "num_output": 4}, "bias (blob 1"),
    ("no_input_dim", [], {"num_output": 4}, "must be positive"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refuses(case):
    _, blobs, param, message = case
    emb = layer("emb", "Embed", ["ids"], ["emb"], blobs=blobs, embed_param=param)
    with pytest.raises(LayerError, match=re.escape(message)):
        run([emb], {"ids": np.zeros((2, 3), np.float32)}, ["emb"])


def test_reference_model_matches_caffe():
    assert_matches_reference("zoo_embed")
