"""Embed: a table lookup of float-encoded integer ids.

Caffe truncates each input value to an int and reads that row of the (input_dim,
num_output) weight; the top is the input shape plus (num_output,). Caffe checks the
range only in debug builds (a release build reads outside the table). A compiled model
cannot refuse one record of a batch, so an id outside [0, input_dim) gives a row of
NaN: the record's outputs show that it was bad, and the other records are unaffected.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from caffebatch.caffe.net import Layer
from caffebatch.compiler.converters._checks import neuron_bottom, refuse
from caffebatch.compiler.converters._spatial import expect_blobs, scratch
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.registry import Tensor, converts


@converts("Embed")
def embed(layer: Layer, inputs: list[Tensor], g: GraphBuilder) -> list[Tensor]:
    """Caffe Embed (bias_term); out-of-range ids give NaN rows (see the module docstring)."""
    ids = neuron_bottom(layer, inputs)
    p = layer.param.embed_param
    if p.input_dim <= 0 or p.num_output <= 0:
        refuse(
            layer,
            f"embed_param.input_dim ({p.input_dim}) and num_output ({p.num_output}) "
            "must be positive",
        )
    expect_blobs(layer, 1 + p.bias_term)
    table = layer.blob(0, (p.input_dim, p.num_output), "weight")
    if p.bias_term:  # folded into the table: every row gets the bias
        table = table + layer.blob(1, (p.num_output,), "bias")
    top = layer.tops[0]

    def temp(what: str) -> str:
        return scratch(g, layer, what)

    # trunc(x) lies in [0, input_dim) exactly when -1 < x < input_dim (and x is not NaN)
    above = g.op("Greater", ids.name, g.floats(-1.0, f"{layer.name}_low"), output=temp("above"))
    below = g.op(
        "Less", ids.name, g.floats(float(p.input_dim), f"{layer.name}_high"), output=temp("below")
    )
    valid = g.op("And", above, below, output=temp("valid"))
    safe = g.op("Where", valid, ids.name, g.floats(0.0, f"{layer.name}_zero"), output=temp("safe"))
    rows = g.op("Cast", safe, output=temp("rows"), to=TensorProto.INT64)
    looked_up = g.op(
        "Gather", g.initializer(table, f"{layer.name}_table"), rows, output=temp("lookup"), axis=0
    )
    guard = g.op(
        "Where",
        valid,
        g.floats(0.0, f"{layer.name}_ok"),
        g.floats(np.nan, f"{layer.name}_nan"),
        output=temp("guard"),
    )
    g.op(
        "Add",
        looked_up,
        g.op("Unsqueeze", guard, g.ints([-1], f"{layer.name}_last"), output=temp("guard_row")),
        output=top,
    )
    return [Tensor(top, (*ids.shape, p.num_output))]
