"""The supported-layers table in docs/layers.md is generated from the registry, and kept so."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from caffebatch.caffe.net import HANDLED_BY_NET, TRAINING_ONLY
from caffebatch.compiler.registry import converters
from caffebatch.compiler.support import REGENERATE, converted_rows, fork_rows, table

DOCS = Path(__file__).parents[2] / "docs" / "layers.md"

# Every BVLC Caffe layer that runs at inference, as issue 2 lists them
INFERENCE_LAYERS = """
    Input Convolution Deconvolution Pooling SPP InnerProduct LRN MVN BatchNorm Scale Bias
    Eltwise Concat Slice Split Flatten Reshape Crop Tile Reduction ArgMax Softmax ReLU PReLU
    ELU Sigmoid TanH AbsVal BNLL Power Exp Log Threshold Clip Swish Dropout Embed Silence
    Parameter
""".split()


def test_docs_table_matches_the_registry():
    assert DOCS.read_text() == table(), (
        f"docs/layers.md is out of date with the converter registry; regenerate it with\n"
        f"    {REGENERATE}"
    )


def test_module_prints_the_table():
    printed = subprocess.run(
        [sys.executable, "-m", "caffebatch.compiler.support"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert printed == table()


def test_every_layer_type_appears_once():
    listed = re.findall(r"^\| `(\w+)` \|", table(), flags=re.MULTILINE)
    assert len(listed) == len(set(listed))
    assert set(listed) == set(converters()) | set(HANDLED_BY_NET) | set(TRAINING_ONLY)


def test_every_converter_states_what_it_computes():
    for row in converted_rows():
        assert row.summary, f"the {row.layer_type} converter has no docstring"


def test_table_cells_are_not_split_by_formulas():
    # AbsVal's "|x|" must be escaped, or the Markdown row gets extra cells
    for line in table().splitlines():
        if line.startswith("| `"):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            assert len(cells) in (2, 3, 4), line  # fork rows also name the fork


def test_every_inference_layer_of_caffe_is_supported():
    supported = set(converters()) | set(HANDLED_BY_NET)
    assert [t for t in INFERENCE_LAYERS if t not in supported] == []


def test_fork_layers_have_their_own_table_naming_the_fork():
    fork_table = table().split("## Fork layers, converted to ONNX")[1].split("\n## ")[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", fork_table, flags=re.MULTILINE)
    assert {"BN", "Interp", "Upsample", "ShuffleChannel", "Axpy"} <= {t for t, _ in rows}
    assert all(fork.strip() for _, fork in rows)
    bvlc_table = table().split("## Converted to ONNX")[1].split("## Fork layers")[0]
    assert "`Interp`" not in bvlc_table and "`Convolution`" in bvlc_table
    ssd = {row[0]: row[1] for row in fork_rows()}
    for layer_type in ("Permute", "PriorBox", "DetectionOutput", "Normalize"):
        assert ssd[layer_type] == "weiliu89/caffe (SSD)"
    assert not set(ssd) & {row.layer_type for row in converted_rows()}
