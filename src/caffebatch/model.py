"""load_model: a model package (folder or archive) to a compiled ONNX model.

This is the engine's front door: the CLI, batch runs and the service all call it.

    package ──► read prototxt + caffemodel ──► build_net (TEST phase, weights) ──► compile_net
            └─► transforms (images -> input tensors), labels ─────────────────────────┘
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from pathlib import Path

from caffebatch.caffe.net import Net, build_net
from caffebatch.caffe.read import read_caffemodel, read_prototxt
from caffebatch.compiler.compile import CompiledModel, compile_net
from caffebatch.errors import NetError
from caffebatch.inputs.transform import TransformSpec, resolve_all
from caffebatch.package import ModelPackage, open_package

Transforms = Mapping[str, TransformSpec]


def load_net(package: ModelPackage) -> Net:
    """Read and build the scoring net of an opened package."""
    shown = package.prototxt.relative_to(package.root).as_posix()
    return build_net(
        read_prototxt(package.prototxt, shown_as=shown),
        read_caffemodel(package.weights),
        input_shapes=package.meta.input_shapes,
    )


def compile_package(package: ModelPackage, transforms: Transforms | None = None, *,
                    optimized: bool = True) -> CompiledModel:
    """Compile an opened package, with the inputs and outputs its deployment-meta.json names.

    `transforms` (by input layer) replace the ones deployment-meta.json declares for the
    layers they name; the others stay. `optimized=False` skips the graph passes (benchmarks
    compare against that graph).
    """
    net = load_net(package)
    layers = {name: _input_value(net, name) for name in package.meta.input_layers}
    compiled = compile_net(net, package.meta.output_layers, inputs=list(layers.values()),
                           optimized=optimized)
    declared = {**package.meta.transforms, **(transforms or {})}
    shapes = {layer: compiled.inputs[value] for layer, value in layers.items()}
    resolved = resolve_all(declared, shapes, package.root)
    return dataclasses.replace(
        compiled,
        transforms={layers[layer]: transform for layer, transform in resolved.items()},
        labels=package.labels,
    )


def load_model(path: str | Path, transforms: Transforms | None = None) -> CompiledModel:
    """Compile the model at `path`: a model folder (with deployment-meta.json) or an archive.

    `transforms` override deployment-meta.json's, layer by layer (see `compile_package`).
    Raises a `ModelError` subclass that says what is wrong and where.
    """
    path = Path(path)
    if path.is_dir():
        return compile_package(open_package(path), transforms)
    with tempfile.TemporaryDirectory(prefix="caffebatch-model-") as workdir:
        return compile_package(open_package(path, Path(workdir)), transforms)


def _input_value(net: Net, name: str) -> str:
    """An `input_layers` entry names an Input layer (or a net-level input); its top is the input."""
    if name in net.inputs:
        return name
    if name in net.input_layers:
        return net.input_layers[name]
    raise NetError(
        f"deployment-meta.json names input layer {name!r}, but the net's Input layers are "
        f"{sorted(net.input_layers)} and its inputs {sorted(net.inputs)}"
    )


def choose_engine(
    compiled: CompiledModel,
    setting: str = "auto",
    *,
    batch: int,
    threads: int | None = None,
    precision: str = "f32",
) -> CompiledModel:
    """`compiled` with the backend (and precision) that the `engine` setting says to score on.

    A backend named outright at f32 is used as is (ExtraMissingError when its extra is
    missing). Otherwise a choice recorded with the model for this batch size and precision
    is kept; else the candidates are measured on a probe batch of `batch` records
    (`caffebatch.runtime.choice`) and the choice is added to the model's `engine_choices`:
    at f32 the fastest backend that matches ONNX Runtime (nothing to measure with ONNX
    Runtime alone), at ``bf16`` the fastest that offers it, with its deviation from f32.
    """
    from caffebatch.runtime import choice

    engine = choice.named(setting, precision)
    if engine is not None:
        return dataclasses.replace(compiled, engine=engine, engine_choice=None, precision="f32")
    kept = choice.recorded(compiled.engine_choices, setting, batch=batch, precision=precision)
    choices = compiled.engine_choices
    if kept is None:
        measured = choice.choose(
            compiled.onnx.SerializeToString(), compiled.inputs, batch=batch, threads=threads,
            engine=setting, precision=precision,
        )
        if measured is None:
            return dataclasses.replace(compiled, engine=None, engine_choice=None, precision="f32")
        kept = measured.to_json()
        choices = (*choices, kept)
    elif (compiled.engine, compiled.engine_choice, compiled.precision) == (
        kept["engine"], kept, precision
    ):
        return compiled  # as recorded: the same object, so callers can tell nothing changed
    return dataclasses.replace(
        compiled, engine=kept["engine"], engine_choice=dict(kept), precision=precision,
        engine_choices=choices,
    )
