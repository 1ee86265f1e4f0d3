"""Upgrade old Caffe network formats to the current one, as Caffe does on load.

Caffe's `UpgradeNetAsNeeded` runs an ordered list of steps, each applied only when the net
needs it; `STEPS` is that list here:

1. V0 -> V1: `layers { layer { type: "conv" kernelsize: 3 ... } }` (before 2014). V0 had
   "padding" layers; they are folded into the pad of the convolution or pooling they feed.
2. V1 -> current: `layers { type: CONVOLUTION blobs_lr: 1 }` becomes
   `layer { type: "Convolution" param { lr_mult: 1 } }`.
3. Net-level inputs: `input: "data"` with `input_shape {...}` or four `input_dim`s per input
   becomes one Input layer named "input" at the front of the net.
4. BatchNorm: drop the three `param {}` specs old nets declared for its statistics.

Like Caffe, upgrading leaves the legacy 4-D dims (num/channels/height/width) of weight blobs
alone; `caffebatch.caffe.net` reads them. Caffe's data-layer transformation upgrade is
not here: data layers are training-only and never scored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from google.protobuf.message import Message

from caffebatch.caffe.proto import caffe_pb2
from caffebatch.errors import NetError

NetParameter = caffe_pb2.NetParameter
V1 = caffe_pb2.V1LayerParameter


class Step(NamedTuple):
    """One upgrade: `apply` changes the net in place; it runs only when `needs` says so."""

    name: str
    needs: Callable[[NetParameter], bool]
    apply: Callable[[NetParameter], None]


def needs_upgrade(net: NetParameter) -> bool:
    """Whether any step applies: `upgrade_net` would change the net."""
    return any(step.needs(net) for step in STEPS)


def upgrade_net(net: NetParameter) -> NetParameter:
    """A copy of `net` in the current format (the input is not changed)."""
    upgraded = NetParameter()
    upgraded.CopyFrom(net)
    for step in STEPS:
        if step.needs(upgraded):
            step.apply(upgraded)
    return upgraded


# ---------------------------------------------------------------------------
# V0 -> V1

V0_TYPES = {
    "accuracy": V1.ACCURACY,
    "bnll": V1.BNLL,
    "concat": V1.CONCAT,
    "conv": V1.CONVOLUTION,
    "data": V1.DATA,
    "dropout": V1.DROPOUT,
    "euclidean_loss": V1.EUCLIDEAN_LOSS,
    "flatten": V1.FLATTEN,
    "hdf5_data": V1.HDF5_DATA,
    "hdf5_output": V1.HDF5_OUTPUT,
    "im2col": V1.IM2COL,
    "images": V1.IMAGE_DATA,
    "infogain_loss": V1.INFOGAIN_LOSS,
    "innerproduct": V1.INNER_PRODUCT,
    "lrn": V1.LRN,
    "multinomial_logistic_loss": V1.MULTINOMIAL_LOGISTIC_LOSS,
    "pool": V1.POOLING,
    "relu": V1.RELU,
    "sigmoid": V1.SIGMOID,
    "softmax": V1.SOFTMAX,
    "softmax_loss": V1.SOFTMAX_LOSS,
    "split": V1.SPLIT,
    "tanh": V1.TANH,
    "window_data": V1.WINDOW_DATA,
}

# V0 field -> {V1 type: (V1 parameter message, its field)}. V0 kept every layer's
# parameters in one flat message; V1 moved them into one message per layer type.
# The data layers' fields (source, batchsize, meanfile, ...) are not carried: training only.
V0_FIELDS: dict[str, dict[int, tuple[str | None, str]]] = {
    "num_output": {
        V1.CONVOLUTION: ("convolution_param", "num_output"),
        V1.INNER_PRODUCT: ("inner_product_param", "num_output"),
    },
    "biasterm": {
        V1.CONVOLUTION: ("convolution_param", "bias_term"),
        V1.INNER_PRODUCT: ("inner_product_param", "bias_term"),
    },
    "weight_filler": {
        V1.CONVOLUTION: ("convolution_param", "weight_filler"),
        V1.INNER_PRODUCT: ("inner_product_param", "weight_filler"),
    },
    "bias_filler": {
        V1.CONVOLUTION: ("convolution_param", "bias_filler"),
        V1.INNER_PRODUCT: ("inner_product_param", "bias_filler"),
    },
    "pad": {V1.CONVOLUTION: ("convolution_param", "pad"), V1.POOLING: ("pooling_param", "pad")},
    "kernelsize": {
        V1.CONVOLUTION: ("convolution_param", "kernel_size"),
        V1.POOLING: ("pooling_param", "kernel_size"),
    },
    "stride": {
        V1.CONVOLUTION: ("convolution_param", "stride"),
        V1.POOLING: ("pooling_param", "stride"),
    },
    "group": {V1.CONVOLUTION: ("convolution_param", "group")},
    "pool": {V1.POOLING: ("pooling_param", "pool")},
    "dropout_ratio": {V1.DROPOUT: ("dropout_param", "dropout_ratio")},
    "local_size": {V1.LRN: ("lrn_param", "local_size")},
    "alpha": {V1.LRN: ("lrn_param", "alpha")},
    "beta": {V1.LRN: ("lrn_param", "beta")},
    "k": {V1.LRN: ("lrn_param", "k")},
    "concat_dim": {V1.CONCAT: ("concat_param", "concat_dim")},
    "hdf5_output_param": {V1.HDF5_OUTPUT: (None, "hdf5_output_param")},
}
V0_COPIED = ("blobs", "blobs_lr", "weight_decay")


def _needs_v0(net: NetParameter) -> bool:
    return any(layer.HasField("layer") for layer in net.layers)


def _upgrade_v0(net: NetParameter) -> None:
    layers = _fold_v0_padding(list(net.layers))
    del net.layers[:]
    for old in layers:
        net.layers.add().CopyFrom(_v0_to_v1(old))


def _fold_v0_padding(layers: list[caffe_pb2.V1LayerParameter]) -> list[caffe_pb2.V1LayerParameter]:
    """Drop V0 padding layers, moving their pad into the conv or pool layer they feed."""
    padding_of: dict[str, caffe_pb2.V1LayerParameter] = {}  # padded blob -> padding layer
    kept = []
    for wrapper in layers:
        layer = caffe_pb2.V1LayerParameter()
        layer.CopyFrom(wrapper)
        if layer.layer.type == "padding":
            if len(layer.bottom) != 1 or len(layer.top) != 1:
                raise NetError(
                    f"V0 padding layer {layer.layer.name!r} must have one bottom and one top"
                )
            padding_of[layer.top[0]] = layer
            continue
        for index, bottom in enumerate(layer.bottom):
            padding = padding_of.get(bottom)
            if padding is None:
                continue
            if layer.layer.type not in ("conv", "pool"):
                raise NetError(
                    f"V0 padding layer {padding.layer.name!r} feeds layer {layer.layer.name!r} "
                    f"of type {layer.layer.type!r}; only conv and pool layers can take padding"
                )
            layer.bottom[index] = padding.bottom[0]
            layer.layer.pad = padding.layer.pad
        kept.append(layer)
    return kept


def _v0_to_v1(wrapper: caffe_pb2.V1LayerParameter) -> caffe_pb2.V1LayerParameter:
    v0 = wrapper.layer
    if v0.type not in V0_TYPES:
        raise NetError(
            f"V0 layer {v0.name!r} has unknown type {v0.type!r}; known: {sorted(V0_TYPES)}"
        )
    v1 = caffe_pb2.V1LayerParameter(name=v0.name, type=V0_TYPES[v0.type])
    v1.bottom.extend(wrapper.bottom)
    v1.top.extend(wrapper.top)
    for name in V0_COPIED:
        getattr(v1, name).extend(getattr(v0, name))
    for field, value in v0.ListFields():
        targets = V0_FIELDS.get(field.name)
        if targets is None:
            continue
        if v1.type not in targets:
            raise NetError(
                f"V0 layer {v0.name!r} of type {v0.type!r} has unexpected field {field.name!r}"
            )
        message_name, target = targets[v1.type]
        _set(getattr(v1, message_name) if message_name else v1, target, value)
    return v1


def _set(message: Message, field: str, value: object) -> None:
    descriptor = message.DESCRIPTOR.fields_by_name[field]
    if descriptor.is_repeated:
        getattr(message, field).append(value)
    elif descriptor.message_type is not None:
        getattr(message, field).CopyFrom(value)
    else:
        setattr(message, field, value)


# ---------------------------------------------------------------------------
# V1 -> current

V1_TYPE_NAMES = {
    V1.NONE: "",
    V1.ABSVAL: "AbsVal",
    V1.ACCURACY: "Accuracy",
    V1.ARGMAX: "ArgMax",
    V1.BNLL: "BNLL",
    V1.CONCAT: "Concat",
    V1.CONTRASTIVE_LOSS: "ContrastiveLoss",
    V1.CONVOLUTION: "Convolution",
    V1.DATA: "Data",
    V1.DECONVOLUTION: "Deconvolution",
    V1.DROPOUT: "Dropout",
    V1.DUMMY_DATA: "DummyData",
    V1.EUCLIDEAN_LOSS: "EuclideanLoss",
    V1.ELTWISE: "Eltwise",
    V1.EXP: "Exp",
    V1.FLATTEN: "Flatten",
    V1.HDF5_DATA: "HDF5Data",
    V1.HDF5_OUTPUT: "HDF5Output",
    V1.HINGE_LOSS: "HingeLoss",
    V1.IM2COL: "Im2col",
    V1.IMAGE_DATA: "ImageData",
    V1.INFOGAIN_LOSS: "InfogainLoss",
    V1.INNER_PRODUCT: "InnerProduct",
    V1.LRN: "LRN",
    V1.MEMORY_DATA: "MemoryData",
    V1.MULTINOMIAL_LOGISTIC_LOSS: "MultinomialLogisticLoss",
    V1.MVN: "MVN",
    V1.POOLING: "Pooling",
    V1.POWER: "Power",
    V1.RELU: "ReLU",
    V1.SIGMOID: "Sigmoid",
    V1.SIGMOID_CROSS_ENTROPY_LOSS: "SigmoidCrossEntropyLoss",
    V1.SILENCE: "Silence",
    V1.SOFTMAX: "Softmax",
    V1.SOFTMAX_LOSS: "SoftmaxWithLoss",
    V1.SPLIT: "Split",
    V1.SLICE: "Slice",
    V1.TANH: "TanH",
    V1.WINDOW_DATA: "WindowData",
    V1.THRESHOLD: "Threshold",
}

# V1 per-blob lists -> the field of the blob's ParamSpec they become
V1_PARAM_SPEC_FIELDS = {
    "param": "name",
    "blob_share_mode": "share_mode",
    "blobs_lr": "lr_mult",
    "weight_decay": "decay_mult",
}
V1_COPIED = ("bottom", "top", "include", "exclude", "blobs", "loss_weight")


def _needs_v1(net: NetParameter) -> bool:
    return len(net.layers) > 0


def _upgrade_v1(net: NetParameter) -> None:
    if net.layer:
        raise NetError("the net has both 'layer' and (old, V1) 'layers' entries; use one form")
    for old in net.layers:
        _v1_to_current(old, net.layer.add())
    del net.layers[:]


def _v1_to_current(v1: caffe_pb2.V1LayerParameter, layer: caffe_pb2.LayerParameter) -> None:
    if v1.HasField("name"):
        layer.name = v1.name
    if v1.HasField("type"):
        layer.type = V1_TYPE_NAMES[v1.type]
    for name in V1_COPIED:
        getattr(layer, name).extend(getattr(v1, name))
    for v1_field, spec_field in V1_PARAM_SPEC_FIELDS.items():
        for index, value in enumerate(getattr(v1, v1_field)):
            while len(layer.param) <= index:
                layer.param.add()
            setattr(layer.param[index], spec_field, value)
    for field, value in v1.ListFields():
        if field.name.endswith("_param") and field.name != "param":
            getattr(layer, field.name).CopyFrom(value)


# ---------------------------------------------------------------------------
# Net-level inputs -> an Input layer


def _needs_input(net: NetParameter) -> bool:
    return len(net.input) > 0


def _upgrade_input(net: NetParameter) -> None:
    names = list(net.input)
    shapes: list[list[int]] = []
    if net.input_shape:
        if len(net.input_shape) != len(names):
            raise NetError(
                f"the net declares {len(names)} input(s) {names} but "
                f"{len(net.input_shape)} input_shape(s)"
            )
        shapes = [list(shape.dim) for shape in net.input_shape]
    elif net.input_dim:
        if len(net.input_dim) != 4 * len(names):
            raise NetError(
                f"the net declares {len(names)} input(s) {names}, so 4 input_dim each "
                f"({4 * len(names)}), but has {len(net.input_dim)} input_dim"
            )
        dims = list(net.input_dim)
        shapes = [dims[4 * i : 4 * i + 4] for i in range(len(names))]
    # An `input` without shapes is how old .caffemodel files repeat the net's inputs:
    # dropping it is enough, as in Caffe.
    if shapes:
        layer = caffe_pb2.LayerParameter(name="input", type="Input", top=names)
        for dims in shapes:
            layer.input_param.shape.add().dim.extend(dims)
        rest = list(net.layer)
        del net.layer[:]
        net.layer.add().CopyFrom(layer)
        net.layer.extend(rest)
    net.ClearField("input")
    net.ClearField("input_shape")
    net.ClearField("input_dim")


# ---------------------------------------------------------------------------
# BatchNorm


def _needs_batch_norm(net: NetParameter) -> bool:
    return any(layer.type == "BatchNorm" and len(layer.param) == 3 for layer in net.layer)


def _upgrade_batch_norm(net: NetParameter) -> None:
    # Old BatchNorm definitions froze their three statistics blobs with lr_mult 0; the
    # layer now does that itself, and Caffe drops the specs.
    for layer in net.layer:
        if layer.type == "BatchNorm" and len(layer.param) == 3:
            layer.ClearField("param")


STEPS: tuple[Step, ...] = (
    Step("V0 layers -> V1 layers", _needs_v0, _upgrade_v0),
    Step("V1 layers -> current layers", _needs_v1, _upgrade_v1),
    Step("net-level input -> Input layer", _needs_input, _upgrade_input),
    Step("BatchNorm parameter specs", _needs_batch_norm, _upgrade_batch_norm),
)
