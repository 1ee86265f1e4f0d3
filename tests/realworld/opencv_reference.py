"""OpenCV 4.x as the reference for the real-world nets, with numpy for the layers it lacks.

OpenCV's Caffe importer has no BN (either fork's) and cannot build caffe-segnet's or
caffe-yolov3's Upsample from a prototxt; those run as OpenCV custom layers whose forward
is a short numpy statement of the fork's C++ (below). Their parameters come from our parse
of the prototxt, since OpenCV's schema lacks those fields; the file OpenCV reads has them
removed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf import text_format

from caffebatch.caffe.proto import caffe_pb2

# Layer types OpenCV runs as numpy custom layers, with the fields OpenCV cannot parse. OpenCV
# 4.x does build Axpy itself, but as a * bottom 2 + bottom 1 where SENet's axpy_layer.cpp
# computes a * bottom 1 + bottom 2.
CUSTOM = {"BN": "bn_param", "Upsample": "upsample_param", "Axpy": None}
PREFIX = "Numpy"  # OpenCV's importer special-cases some type names; ours are renamed


def numpy_bn(blobs: list[np.ndarray], param: caffe_pb2.BNParameter, x: np.ndarray) -> np.ndarray:
    """caffe-segnet (2 blobs, INFERENCE) or hszhao/PSPNet (4 blobs, TEST) BN forward."""
    if len(blobs) == 2:
        scale, shift = blobs
        return (x * scale + shift).astype(np.float32)
    slope, bias, mean, variance = blobs
    inv_std = np.power(variance + np.float32(param.eps), np.float32(-0.5))
    return ((x - mean) * inv_std * slope + bias).astype(np.float32)


def numpy_axpy(a: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SENet's AxpyLayer::Forward_cpu: top = y, then top += a[n, c] * x per (n, c) plane."""
    return (a.reshape(*a.shape[:2], *[1] * (x.ndim - 2)) * x + y).astype(np.float32)


def numpy_interp(x: np.ndarray, height: int, width: int, pad_beg: int, pad_end: int) -> np.ndarray:
    """PSPNet's caffe_cpu_interp2 (bilinear, aligned corners) on the cropped input."""
    cropped = x[
        :, :, -pad_beg : x.shape[2] + pad_end or None, -pad_beg : x.shape[3] + pad_end or None
    ]
    h1, w1 = cropped.shape[2:]
    if (h1, w1) == (height, width):
        return cropped.copy()

    def axis(size_in: int, size_out: int):
        # float32 as the C++ computes it: r = ratio * i, its floor, the next index, lambda
        ratio = np.float32(size_in - 1) / np.float32(size_out - 1) if size_out > 1 else 0
        r = np.float32(ratio) * np.arange(size_out, dtype=np.float32)
        low = r.astype(np.int64)
        return low, np.minimum(low + 1, size_in - 1), r - low.astype(np.float32)

    h0, hp, hl = axis(h1, height)
    w0, wp, wl = axis(w1, width)
    hl, wl = hl[:, None], wl[None, :]
    one = np.float32(1)
    rows0, rows1 = cropped[:, :, h0], cropped[:, :, hp]
    return (one - hl) * ((one - wl) * rows0[..., w0] + wl * rows0[..., wp]) + hl * (
        (one - wl) * rows1[..., w0] + wl * rows1[..., wp]
    )


def numpy_unpool(x: np.ndarray, mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """caffe-segnet UpsampleLayer::Forward_cpu: top[mask[i]] = bottom[i] per (n, c) plane."""
    n, c = x.shape[:2]
    top = np.zeros((n, c, height * width), np.float32)
    index = mask.reshape(n, c, -1).astype(np.int64)
    for i in range(n):
        for j in range(c):
            top[i, j, index[i, j]] = x[i, j].ravel()
    return top.reshape(n, c, height, width)


def numpy_nearest(x: np.ndarray, scale: int) -> np.ndarray:
    """caffe-yolov3 UpsampleLayer: out[h][w] = in[h // scale][w // scale]."""
    return x.repeat(scale, axis=2).repeat(scale, axis=3)


def numpy_convolution(
    x: np.ndarray, blobs: list[np.ndarray], param: caffe_pb2.ConvolutionParameter
) -> np.ndarray:
    """Caffe's 2-D Convolution forward (pad, stride, dilation, group), tap by tap."""

    def pair(values, h, w, default):
        return (h, w) if h else ((values[0],) * 2 if values else (default,) * 2)

    kh, kw = pair(param.kernel_size, param.kernel_h, param.kernel_w, 1)
    ph, pw = pair(param.pad, param.pad_h, param.pad_w, 0)
    sh, sw = pair(param.stride, param.stride_h, param.stride_w, 1)
    dh, dw = pair(param.dilation, 0, 0, 1)
    n, c, h, w = x.shape
    out_h, out_w = (
        (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1,
        (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1,
    )
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    weight, groups = blobs[0].astype(np.float64), param.group
    top = np.zeros((n, weight.shape[0], out_h, out_w))
    per_in, per_out = c // groups, weight.shape[0] // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                window = padded[
                    :,
                    g * per_in : (g + 1) * per_in,
                    i * dh : i * dh + sh * (out_h - 1) + 1 : sh,
                    j * dw : j * dw + sw * (out_w - 1) + 1 : sw,
                ]
                taps = weight[g * per_out : (g + 1) * per_out, :, i, j]
                top[:, g * per_out : (g + 1) * per_out] += np.einsum("oc,nchw->nohw", taps, window)
    if param.bias_term:
        top += blobs[1].reshape(1, -1, 1, 1)
    return top.astype(np.float32)


def _layer_class(definitions: dict[str, caffe_pb2.LayerParameter]):
    # OpenCV gives a custom layer neither its name nor our fields, and does not build the
    # layers in the file's order (4.14 builds the last one first): each carries its name in
    # the one field OpenCV hands over, python_param's param_str (see run_opencv).
    class Custom:
        def __init__(self, params, blobs):
            self.definition = definitions[params["param_str"]]
            self.blobs = [np.asarray(b, np.float32) for b in blobs]

        def getMemoryShapes(self, inputs):
            return [self._shape(inputs)]

        def _shape(self, inputs):
            shape = list(inputs[1] if self.definition.type == "Axpy" else inputs[0])
            if self.definition.type == "Upsample":
                shape[2:] = self._upsampled(shape)
            if self.definition.type == "Interp":
                shape[2:] = self._interp_size(shape)
            if self.definition.type == "Convolution":
                shape = list(
                    numpy_convolution(
                        np.zeros(shape, np.float32),
                        self._zeros(),
                        self.definition.convolution_param,
                    ).shape
                )
            return shape

        def _zeros(self):
            return [np.zeros_like(b) for b in self.blobs]

        def _upsampled(self, shape):
            p = self.definition.upsample_param
            if len(self.definition.bottom) == 1:
                scale = p.scale if p.HasField("scale") else 1
                return [shape[2] * scale, shape[3] * scale]
            if p.HasField("upsample_h"):
                return [p.upsample_h, p.upsample_w]
            sh, sw = (p.scale_h, p.scale_w) if p.HasField("scale_h") else (p.scale, p.scale)
            return [shape[2] * sh - int(p.pad_out_h), shape[3] * sw - int(p.pad_out_w)]

        def _interp_size(self, shape):
            p = self.definition.interp_param
            h, w = shape[2] + p.pad_beg + p.pad_end, shape[3] + p.pad_beg + p.pad_end
            if p.HasField("shrink_factor") and not p.HasField("zoom_factor"):
                return [(h - 1) // p.shrink_factor + 1, (w - 1) // p.shrink_factor + 1]
            if p.HasField("zoom_factor") and not p.HasField("shrink_factor"):
                z = p.zoom_factor
                return [h + (h - 1) * (z - 1), w + (w - 1) * (z - 1)]
            if p.HasField("height"):
                return [p.height, p.width]
            h, w = (h - 1) // p.shrink_factor + 1, (w - 1) // p.shrink_factor + 1
            z = p.zoom_factor
            return [h + (h - 1) * (z - 1), w + (w - 1) * (z - 1)]

        def forward(self, inputs):
            x = np.asarray(inputs[0], np.float32)
            if self.definition.type == "Convolution":
                return [numpy_convolution(x, self.blobs, self.definition.convolution_param)]
            if self.definition.type == "BN":
                return [numpy_bn(self.blobs, self.definition.bn_param, x)]
            if self.definition.type == "Axpy":
                a, x, y = (np.asarray(i, np.float32) for i in inputs)
                return [numpy_axpy(a, x, y)]
            if self.definition.type == "Interp":
                p = self.definition.interp_param
                return [numpy_interp(x, *self._interp_size(list(x.shape)), p.pad_beg, p.pad_end)]
            height, width = self._upsampled(list(x.shape))
            if len(inputs) == 2:
                return [numpy_unpool(x, np.asarray(inputs[1]), height, width)]
            return [numpy_nearest(x, height // x.shape[2])]

    return Custom


def run_opencv(
    deploy: caffe_pb2.NetParameter,
    caffemodel: Path | None,
    folder: Path,
    inputs: dict[str, np.ndarray],
    outputs: list[tuple[str, str]],
    numpy_layers: frozenset[str] = frozenset(),
) -> list[np.ndarray]:
    """Forward `inputs` through OpenCV; `outputs` are (layer name, its top) pairs.

    `numpy_layers` names layer types, or single layers by name, that run as numpy
    statements instead of OpenCV's own.

    OpenCV names some layers after their top (openpose_hand's Mconv7_stage6 becomes
    net_output), so a layer name it lacks is asked for by the top's name.
    """
    import cv2

    for_opencv = caffe_pb2.NetParameter()
    for_opencv.CopyFrom(deploy)
    registered = []
    named = {l.type for l in deploy.layer if l.name in numpy_layers}
    types = {t for t in numpy_layers if t not in {l.name for l in deploy.layer}} | named
    custom = {**CUSTOM, **{t: f"{t.lower()}_param" for t in types}}

    def runs_numpy(layer: caffe_pb2.LayerParameter) -> bool:
        return layer.type in CUSTOM or layer.type in numpy_layers or layer.name in numpy_layers

    seen: dict[str, int] = {}
    for layer in for_opencv.layer:  # OpenCV refuses two layers of one name; Caffe does not
        seen[layer.name] = seen.get(layer.name, 0) + 1
        if seen[layer.name] > 1:
            layer.name = f"{layer.name}#{seen[layer.name]}"
    definitions: dict[str, dict[str, caffe_pb2.LayerParameter]] = {t: {} for t in custom}
    for layer, definition in zip(for_opencv.layer, deploy.layer, strict=True):
        if runs_numpy(definition):
            definitions[layer.type][layer.name] = definition
            if custom[layer.type]:
                layer.ClearField(custom[layer.type])
            layer.python_param.param_str = layer.name
            layer.type = PREFIX + layer.type
    for layer_type, named in definitions.items():
        if named:
            cv2.dnn_registerLayer(PREFIX + layer_type, _layer_class(named))
            registered.append(PREFIX + layer_type)
    prototxt = folder / "opencv.prototxt"
    prototxt.write_text(text_format.MessageToString(for_opencv))
    try:
        net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel) if caffemodel else None)
        # OpenCV's default Winograd F(6x6, 3x3) for 3 x 3 stride-1 convolutions rounds to
        # 1e-5 of the output's scale, 50 times float32's rounding (colorization's conv2_1,
        # conv3_1, conv8_2 against float64): the reference computes them directly.
        net.enableWinograd(False)
        for name, value in inputs.items():
            net.setInput(value, name)
        known = set(net.getLayerNames())
        names = [layer if layer in known else top for layer, top in outputs]
        return [np.asarray(o) for o in net.forward(names)]
    finally:
        for layer_type in registered:
            cv2.dnn_unregisterLayer(layer_type)
