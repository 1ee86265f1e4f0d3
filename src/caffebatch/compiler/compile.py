"""compile_net: the one loop that turns a scoring net into an ONNX model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import onnx

from caffebatch.caffe.net import Layer, Net
from caffebatch.compiler import layouts, macs
from caffebatch.compiler.graph import GraphBuilder
from caffebatch.compiler.passes import optimize
from caffebatch.compiler.registry import Tensor, converter_for
from caffebatch.errors import LayerError, NetError, UnsupportedLayerError

if TYPE_CHECKING:
    from caffebatch.inputs.transform import Transform


@dataclass(frozen=True)
class LayerInfo:
    """What `caffebatch inspect` shows of one layer."""

    name: str
    type: str
    tops: tuple[Tensor, ...]
    macs: int


@dataclass(frozen=True)
class CompiledModel:
    """An ONNX model with what scoring needs to know about it.

    `inputs` maps each input name to its shape without the batch axis; `outputs`
    lists the output names in the order the user asked for them. `engine` is the backend
    to score it on (None: ONNX Runtime) at `precision` (``f32``, or an opt-in ``bf16``),
    and `engine_choice` what was measured to choose it (`caffebatch.model.choose_engine`);
    `engine_choices` keeps every choice measured, one per batch size and precision. All
    are kept in compiled.json. What the model package adds (caffebatch.model fills it in):
    `transforms`, by input name, for the inputs that take images, and `labels`, the class
    names of its labels file.
    """

    onnx: onnx.ModelProto
    inputs: dict[str, tuple[int, ...]]
    outputs: tuple[str, ...]
    layers: tuple[LayerInfo, ...]
    declared_batch: int
    engine: str | None = None
    engine_choice: dict[str, Any] | None = None
    precision: str = "f32"
    engine_choices: tuple[dict[str, Any], ...] = ()
    transforms: Mapping[str, Transform] = field(default_factory=dict)
    labels: tuple[str, ...] | None = None

    @property
    def output_layouts(self) -> dict[str, str]:
        """The outputs whose first axis is not the batch axis, with their `layouts` name."""
        return layouts.of_model(self.onnx)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per record over the whole net."""
        return sum(layer.macs for layer in self.layers)


def compile_net(
    net: Net,
    outputs: Sequence[str],
    inputs: Sequence[str] | None = None,
    *,
    optimized: bool = True,
) -> CompiledModel:
    """Compile `net` to ONNX, with one graph output per name in `outputs`.

    Every layer is converted (and so checked), even one that no output needs, because
    Caffe refuses a net with any invalid layer. `inputs` restricts and orders the graph
    inputs (default: all of the net's inputs). `optimized` runs the graph-level passes
    (`caffebatch.compiler.passes`), which change no output beyond float rounding.
    """
    unsupported = [(l.name, l.type) for l in net.layers if converter_for(l.type) is None]
    if unsupported:
        raise UnsupportedLayerError(unsupported)

    input_names = list(inputs) if inputs is not None else list(net.inputs)
    for name in input_names:
        if name not in net.inputs:
            raise NetError(f"input {name!r} is not an input of the net; it has {sorted(net.inputs)}")

    g = GraphBuilder()
    # Converters name their intermediates freely; no intermediate may take a blob's name.
    g.reserve(top for layer in net.layers for top in layer.tops)
    values: dict[str, Tensor] = {}
    for name in input_names:
        g.input(name, net.inputs[name])
        values[name] = Tensor(name, net.inputs[name])

    infos = []
    for layer in net.layers:
        missing = [b for b in layer.bottoms if b not in values]
        if missing:
            raise NetError(f"layer {layer.name!r} ({layer.type}): unknown bottom blob(s) {missing}")
        bottoms = [values[b] for b in layer.bottoms]
        convert = converter_for(layer.type)
        if convert is None:  # refused above; kept for the type checker
            raise UnsupportedLayerError([(layer.name, layer.type)])
        _refuse_rows_bottoms(layer, bottoms)
        tops = _with_layout(convert(layer, bottoms, g), bottoms)
        if [t.name for t in tops] != list(layer.tops):
            raise LayerError(layer.name, layer.type, "converter produced the wrong tops")
        for top in tops:
            if any(d <= 0 for d in top.shape):
                raise LayerError(layer.name, layer.type, f"output {top.name!r} would be empty: {top.shape}")
            values[top.name] = top
        infos.append(LayerInfo(layer.name, layer.type, tuple(tops), macs.count(layer, bottoms, tops)))

    graph_outputs = []
    output_layouts: dict[str, str] = {}
    for name in outputs:
        try:
            value = values[net.resolve(name)]
        except KeyError:
            raise NetError(f"output {name!r} is neither a layer nor a blob of the net") from None
        graph_outputs.append((name, value.name, value.shape))
        output_layouts[name] = value.layout

    model = g.build(graph_outputs, net.name or "caffebatch", output_layouts)
    if optimized:
        model = optimize(model)
    return CompiledModel(
        onnx=model,
        inputs={name: net.inputs[name][1:] for name in input_names},
        outputs=tuple(outputs),
        layers=tuple(infos),
        declared_batch=net.declared_batch,
    )


def _refuse_rows_bottoms(layer: Layer, bottoms: list[Tensor]) -> None:
    """Refuse a layer fed with detection rows: their count varies, and they mix the records."""
    rows = [b.name for b in bottoms if b.layout == layouts.ROWS]
    if rows:
        raise LayerError(
            layer.name, layer.type,
            f"bottom(s) {rows} hold the detections of the whole batch (a variable number of "
            "rows, keyed by record); caffebatch can only output them, not feed them to a layer",
        )


def _with_layout(tops: list[Tensor], bottoms: list[Tensor]) -> list[Tensor]:
    """A layer computing only from values shared by the batch (priors) shares its tops too."""
    if bottoms and all(b.layout == layouts.SHARED for b in bottoms):
        return [t._replace(layout=layouts.SHARED) if t.layout == layouts.BATCH else t for t in tops]
    return tops
