"""The scoring net: what the compiler sees of a Caffe model.

A `Net` holds the layers of the TEST phase in execution order, with their weights
attached and training-only layers removed. Blob names are made unique: Caffe lets a
layer write its output over its input ("in place", e.g. ReLU with bottom == top), so the
same Caffe blob name can stand for several values. The first value keeps the Caffe
name; each in-place rewrite gets ``<blob>@<layer>``. `Net.resolve` maps a name a user
gives (a layer or a Caffe blob) to the value it means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from caffebatch.caffe import data_input
from caffebatch.caffe.blobs import BlobGraph
from caffebatch.caffe.proto import caffe_pb2
from caffebatch.caffe.upgrade import needs_upgrade, upgrade_net
from caffebatch.errors import LayerError, NetError, WeightsError


@dataclass(frozen=True)
class Layer:
    """One layer of the scoring net.

    `bottoms` and `tops` are unique value names (see the module docstring); `param`
    is the layer's full LayerParameter, upgraded to the current format, so converters
    read e.g. ``layer.param.pooling_param`` with Caffe's defaults; `blobs` are its
    weights as float32 arrays in Caffe's blob shapes.
    """

    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    param: caffe_pb2.LayerParameter
    blobs: tuple[np.ndarray, ...] = ()
    # Indexes of blobs stored with the legacy 4-D dims (num, channels, height, width)
    legacy_blobs: frozenset[int] = frozenset()

    def blob(self, index: int, shape: Sequence[int], what: str = "") -> np.ndarray:
        """Weight blob `index` as a float32 array of `shape`, checked as Caffe checks it.

        This is Caffe's Blob::ShapeEquals, the rule Net::CopyTrainedLayersFrom applies. A
        blob saved with a shape must have exactly `shape`. Old weights files (before 2015)
        store every blob with the legacy 4-D dims (num, channels, height, width), aligned on
        the right: a bias of C values is (1, 1, 1, C), an InnerProduct weight (1, 1, N, K).
        Such a blob is accepted when `shape`, padded on the left with 1s to 4 axes, equals
        those dims; a mere equal count is not enough. `what` names the blob in errors.
        """
        shape = tuple(int(d) for d in shape)
        label = f"{what} (blob {index})" if what else f"weight blob {index}"
        if index >= len(self.blobs):
            raise LayerError(
                self.name,
                self.type,
                f"expected {label} of shape {shape}, but the layer has {len(self.blobs)} blob(s)",
            )
        array = self.blobs[index]
        if index in self.legacy_blobs:
            matches = len(shape) <= 4 and (1,) * (4 - len(shape)) + shape == array.shape
        else:
            matches = array.shape == shape
        if not matches:
            raise LayerError(
                self.name, self.type, f"{label} has shape {array.shape}, expected {shape}"
            )
        return np.asarray(array, dtype=np.float32).reshape(shape)


@dataclass(frozen=True)
class Net:
    """A Caffe net ready to compile: inputs with their declared shapes, and layers."""

    name: str
    inputs: dict[str, tuple[int, ...]]
    layers: tuple[Layer, ...]
    # Caffe blob name -> the unique name of its last value
    latest: dict[str, str] = field(default_factory=dict)
    # Input layer name -> its top (the first, if it declares several)
    input_layers: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> str:
        """The value an output name means: a blob's last value, else a layer's (first) top.

        Blobs come first because that is what Caffe hands out by name: after
        ``bn1 -> Scale(in place)``, the blob ``bn1`` holds the scaled values.
        """
        if name in self.latest:
            return self.latest[name]
        if name in self.inputs:
            return name
        for layer in self.layers:
            if layer.name == name and layer.tops:
                return layer.tops[0]
        raise KeyError(name)

    @property
    def declared_batch(self) -> int:
        """The batch size the prototxt declares (the first dim of the first input)."""
        first = next(iter(self.inputs.values()))
        return first[0] if first else 1


# ---------------------------------------------------------------------------
# Building the scoring net from Caffe's messages

# Layer types that take part in training only. Scoring drops them, with their tops;
# a kept layer that reads one of those tops is refused (deploy nets declare Input layers).
TRAINING_ONLY = {
    "Data": "reads a training database",
    "ImageData": "reads training images",
    "HDF5Data": "reads training data from HDF5",
    "MemoryData": "takes training data from memory",
    "WindowData": "reads training windows",
    "DummyData": "generates training data",
    "DenseImageData": "reads training images and label maps (caffe-segnet)",
    "HDF5Output": "writes blobs to HDF5 while training",
    "Accuracy": "measures accuracy against labels",
    "SoftmaxWithLoss": "is a training loss",
    "EuclideanLoss": "is a training loss",
    "HingeLoss": "is a training loss",
    "InfogainLoss": "is a training loss",
    "MultinomialLogisticLoss": "is a training loss",
    "SigmoidCrossEntropyLoss": "is a training loss",
    "ContrastiveLoss": "is a training loss",
}

# Layer types the net itself handles (not the compiler), with what they become.
HANDLED_BY_NET = {"Input": "becomes a graph input"}


def build_net(
    deploy: caffe_pb2.NetParameter,
    weights: caffe_pb2.NetParameter | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> Net:
    """The scoring net of a network definition, with the trained weights attached.

    Both messages may be in any Caffe format: they are upgraded here (`upgrade_net`).
    Layers are kept as in Caffe's TEST phase, training-only layers are dropped, Input
    layers become `Net.inputs`, and weights are matched by layer name; weights layers
    that the deploy net lacks are ignored, as Caffe ignores them. Two layers may share
    a name, as in Caffe; the weights go to the first (Caffe's CopyTrainedLayersFrom).

    A net whose only input is a data layer (SegNet's deploy reads a DenseImageData layer)
    gets that layer's first top as its input, shaped by the layer's parameters when they
    fix it, or else by `input_shapes` (top -> shape without the batch axis).

    Raises NetError for what Caffe refuses while building the net (an unknown bottom, a
    top produced twice, an in-place layer on a blob that another layer also reads, no
    inputs) and WeightsError for weights that do not decode into arrays or do not match.
    """
    deploy = upgrade_net(deploy)
    state = caffe_pb2.NetState()
    state.CopyFrom(deploy.state)
    state.phase = caffe_pb2.TEST  # the file's level and stages stay, as in Caffe's Net::Init
    params = [p for p in deploy.layer if _included(p, state)]
    params = data_input.replace_data_layer(params, input_shapes or {})
    if weights is not None and needs_upgrade(weights):
        weights = upgrade_net(weights)  # copied only when old: weights can be large
    trained = _layers_by_name(weights) if weights is not None else {}

    inputs: dict[str, tuple[int, ...]] = {}
    input_layers: dict[str, str] = {}
    graph = BlobGraph()
    kept: list[tuple[caffe_pb2.LayerParameter, tuple[str, ...], tuple[str, ...]]] = []
    for param in params:
        bottoms, tops = graph.add(param, training_only=param.type in TRAINING_ONLY)
        if param.type == "Input":
            inputs.update(_input_shapes(param))
            if param.top:
                input_layers[param.name] = param.top[0]
        elif param.type not in TRAINING_ONLY:
            kept.append((param, bottoms, tops))
    graph.check()
    if not inputs:
        raise NetError(
            "the net has no inputs: declare them with an Input layer "
            "(or the older net-level `input` with `input_shape`)"
        )
    named: set[str] = set()
    layers = []
    for param, bottoms, tops in kept:
        first = param.name not in named
        named.add(param.name)
        layers.append(_layer(param, bottoms, tops, trained.get(param.name) if first else None))
    return Net(
        name=deploy.name,
        inputs=inputs,
        layers=tuple(layers),
        latest=graph.latest_kept(),
        input_layers=input_layers,
    )


def _rule_met(state: caffe_pb2.NetState, rule: caffe_pb2.NetStateRule) -> bool:
    """Caffe's StateMeetsRule."""
    return not (
        (rule.HasField("phase") and rule.phase != state.phase)
        or (rule.HasField("min_level") and state.level < rule.min_level)
        or (rule.HasField("max_level") and state.level > rule.max_level)
        or any(stage not in state.stage for stage in rule.stage)
        or any(stage in state.stage for stage in rule.not_stage)
    )


def _included(param: caffe_pb2.LayerParameter, state: caffe_pb2.NetState) -> bool:
    """Caffe's FilterNet: no include rule means included unless an exclude rule is met."""
    if param.include and param.exclude:
        raise NetError(
            f"layer {param.name!r} has both include and exclude rules; Caffe takes one kind"
        )
    if param.include:
        return any(_rule_met(state, rule) for rule in param.include)
    return not any(_rule_met(state, rule) for rule in param.exclude)


def _layers_by_name(net: caffe_pb2.NetParameter) -> dict[str, caffe_pb2.LayerParameter]:
    # Caffe's CopyTrainedLayersFrom gives a weights layer to the first deploy layer of its name.
    by_name: dict[str, caffe_pb2.LayerParameter] = {}
    for param in net.layer:
        by_name.setdefault(param.name, param)
    return by_name


def _input_shapes(param: caffe_pb2.LayerParameter) -> dict[str, tuple[int, ...]]:
    shapes = list(param.input_param.shape)
    # Caffe's InputLayer: one shape for every top, or one shape per top.
    if len(shapes) == 1:
        shapes = shapes * len(param.top)
    if len(shapes) != len(param.top):
        raise NetError(
            f"Input layer {param.name!r} has {len(param.top)} top(s) but declares "
            f"{len(param.input_param.shape)} shape(s); expected one, or one per top"
        )
    result = {}
    for top, shape in zip(param.top, shapes, strict=True):
        dims = tuple(int(d) for d in shape.dim)
        if not dims or any(d <= 0 for d in dims):
            raise NetError(
                f"Input layer {param.name!r}: input {top!r} has shape {list(dims)}; "
                "expected positive dims"
            )
        result[top] = dims
    return result


def _layer(
    param: caffe_pb2.LayerParameter,
    bottoms: tuple[str, ...],
    tops: tuple[str, ...],
    trained: caffe_pb2.LayerParameter | None,
) -> Layer:
    source = param.blobs
    if trained is not None:
        if param.blobs and len(trained.blobs) != len(param.blobs):
            raise WeightsError(
                f"layer {param.name!r} ({param.type}): the network definition holds "
                f"{len(param.blobs)} blob(s), the weights file {len(trained.blobs)}"
            )
        source = trained.blobs
    arrays = tuple(_array(param, index, blob) for index, blob in enumerate(source))
    legacy = frozenset(index for index, blob in enumerate(source) if _is_legacy(blob))
    clean = caffe_pb2.LayerParameter()
    clean.CopyFrom(param)
    clean.ClearField("blobs")
    if not clean.HasField("phase"):
        clean.phase = caffe_pb2.TEST  # a layer inherits the net's phase, as in Caffe
    return Layer(param.name, param.type, bottoms, tops, clean, arrays, legacy)


_LEGACY_DIMS = ("num", "channels", "height", "width")


def _is_legacy(blob: caffe_pb2.BlobProto) -> bool:
    return any(blob.HasField(dim) for dim in _LEGACY_DIMS)


def _array(param: caffe_pb2.LayerParameter, index: int, blob: caffe_pb2.BlobProto) -> np.ndarray:
    """A blob as a read-only float32 array, shaped as Caffe's Blob::FromProto shapes it."""
    if _is_legacy(blob):
        shape = tuple(getattr(blob, dim) for dim in _LEGACY_DIMS)
    else:
        shape = tuple(int(d) for d in blob.shape.dim)
    if any(d < 0 for d in shape):  # Caffe's Blob::Reshape checks every dim >= 0
        raise WeightsError(
            f"layer {param.name!r} ({param.type}): weight blob {index} has shape {list(shape)}; "
            "expected dims of 0 or more"
        )
    values = blob.double_data if blob.double_data else blob.data
    count = int(np.prod(shape, dtype=np.int64))
    if len(values) != count:
        raise WeightsError(
            f"layer {param.name!r} ({param.type}): weight blob {index} has shape {list(shape)} "
            f"({count} values) but holds {len(values)} values"
        )
    array = np.asarray(values, dtype=np.float32).reshape(shape)
    array.flags.writeable = False
    return array
