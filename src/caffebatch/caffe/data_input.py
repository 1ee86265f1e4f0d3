"""A deploy net that reads its input from a training data layer: that layer becomes an Input.

Some shipped deploy prototxts keep the data layer they were trained with (SegNet's
inference net reads a ``DenseImageData`` layer). When such a layer is the net's only
source of input (no Input layer, no net-level ``input``), its first top becomes an input:
shaped by the layer's parameters when they fix the shape, else by ``input_shapes`` from
deployment-meta.json. Its other tops (labels) stay training-only, so a layer reading them
is refused as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from caffebatch.caffe.proto import caffe_pb2
from caffebatch.errors import NetError

Shape = tuple[int, ...]


Image = caffe_pb2.DenseImageDataParameter | caffe_pb2.ImageDataParameter


def _image_shape(param: caffe_pb2.LayerParameter, p: Image) -> Shape | None:
    crop = param.transform_param.crop_size
    height, width = (crop, crop) if crop else (p.new_height, p.new_width)
    if not (height and width):
        return None
    return (p.batch_size or 1, 3 if p.is_color else 1, height, width)


def _dense_image(param: caffe_pb2.LayerParameter) -> Shape | None:
    return _image_shape(param, param.dense_image_data_param)


def _image(param: caffe_pb2.LayerParameter) -> Shape | None:
    return _image_shape(param, param.image_data_param)


def _memory(param: caffe_pb2.LayerParameter) -> Shape | None:
    p = param.memory_data_param
    dims = (p.batch_size, p.channels, p.height, p.width)
    return dims if all(dims) else None


def _dummy(param: caffe_pb2.LayerParameter) -> Shape | None:
    shapes = param.dummy_data_param.shape
    return tuple(int(d) for d in shapes[0].dim) if shapes else None


def _unfixed(param: caffe_pb2.LayerParameter) -> Shape | None:
    return None


# Data layer type -> the shape (batch first) its parameters fix, or None
FIXED_SHAPE: dict[str, Callable[[caffe_pb2.LayerParameter], Shape | None]] = {
    "DenseImageData": _dense_image,
    "ImageData": _image,
    "MemoryData": _memory,
    "DummyData": _dummy,
    "Data": _unfixed,
    "HDF5Data": _unfixed,
    "WindowData": _unfixed,
}
# Where each data layer keeps its batch size (DummyData's is in its shape)
BATCH_FIELD = {
    "DenseImageData": "dense_image_data_param",
    "ImageData": "image_data_param",
    "MemoryData": "memory_data_param",
    "Data": "data_param",
    "HDF5Data": "hdf5_data_param",
    "WindowData": "window_data_param",
}


def _batch(param: caffe_pb2.LayerParameter) -> int:
    field = BATCH_FIELD.get(param.type)
    return int(getattr(param, field).batch_size or 1) if field else 1


def replace_data_layer(
    params: list[caffe_pb2.LayerParameter], input_shapes: Mapping[str, Sequence[int]]
) -> list[caffe_pb2.LayerParameter]:
    """`params` with the net's only data layer turned into an Input layer, when it is one.

    Raises NetError when the shape is fixed neither by the layer nor by `input_shapes`,
    saying how to declare it.
    """
    if any(p.type == "Input" for p in params):
        return params
    data = [i for i, p in enumerate(params) if p.type in FIXED_SHAPE and p.top]
    if len(data) != 1:
        return params
    index = data[0]
    layer = params[index]
    top = layer.top[0]
    shape = _shape(layer, top, FIXED_SHAPE[layer.type](layer), _batch(layer), input_shapes)
    as_input = caffe_pb2.LayerParameter(name=layer.name, type="Input", top=[top])
    as_input.input_param.shape.add(dim=list(shape))
    replaced = [as_input]
    if len(layer.top) > 1:
        rest = caffe_pb2.LayerParameter()
        rest.CopyFrom(layer)
        del rest.top[0]
        replaced.append(rest)
    return params[:index] + replaced + params[index + 1 :]


def _shape(
    layer: caffe_pb2.LayerParameter,
    top: str,
    fixed: Shape | None,
    batch: int,
    input_shapes: Mapping[str, Sequence[int]],
) -> Shape:
    declared = input_shapes.get(top)
    if declared is not None:
        shape = (batch, *(int(d) for d in declared))
        if fixed is not None and shape[1:] != fixed[1:]:
            raise NetError(
                f"layer {layer.name!r} ({layer.type}) fixes input {top!r} to {list(fixed[1:])}, "
                f"but deployment-meta.json's input_shapes gives {list(declared)}"
            )
        return shape
    if fixed is None:
        raise NetError(
            f"layer {layer.name!r} ({layer.type}) is the net's only input, but its parameters do "
            f"not fix the shape of its top {top!r}: declare it in deployment-meta.json, e.g. "
            f'"input_shapes": {{"{top}": [3, 360, 480]}} (channels, height, width), or replace '
            "the layer with an Input layer"
        )
    return fixed
