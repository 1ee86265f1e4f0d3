"""A broken model file is refused with a ModelError, never with anything else.

Publishing takes untrusted prototxts and caffemodels; whatever the bytes, the answer must
be a compiled model or a refusal that says what is wrong.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caffebatch.caffe.net import build_net
from caffebatch.caffe.read import read_caffemodel, read_prototxt
from caffebatch.compiler.compile import compile_net
from caffebatch.errors import ModelError

LENET = Path(__file__).parents[2] / "examples" / "lenet"
PROTOTXT = (LENET / "deploy.prototxt").read_text()
TOKENS = [" ", "\n", "{", "}", ":", '"', "-1", "0", "99999", "1e40", "axis: 3", "top: \"x\"",
          "bottom: \"data\"", "type: \"Eltwise\"", "kernel_size: 0", "stride: 0", "pad: 9",
          "num_output: 0", "group: 7", "layer {", "dim: 0", "inner_product_param {"]


def compiles_or_refuses(prototxt: Path, weights: Path | None = None) -> None:
    try:
        net = build_net(read_prototxt(prototxt), read_caffemodel(weights) if weights else None)
        outputs = [net.layers[-1].tops[0]] if net.layers and net.layers[-1].tops else list(net.inputs)
        compile_net(net, outputs)
    except ModelError as error:
        assert str(error)


@st.composite
def edited_prototxts(draw) -> str:
    text = PROTOTXT
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 12)):]
    return text


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edited_prototxts())
def test_an_edited_prototxt_compiles_or_is_refused(tmp_path, text):
    prototxt = tmp_path / "deploy.prototxt"
    prototxt.write_text(text)
    compiles_or_refuses(prototxt)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_corrupted_weights_are_refused_or_ignored(tmp_path, data):
    original = (LENET / "lenet_iter_2000.caffemodel").read_bytes()
    at = data.draw(st.integers(0, len(original) - 1))
    span = data.draw(st.integers(1, 64))
    junk = data.draw(st.binary(min_size=0, max_size=span))
    weights = tmp_path / "weights.caffemodel"
    weights.write_bytes(original[:at] + junk + original[at + span:])
    compiles_or_refuses(LENET / "deploy.prototxt", weights)
