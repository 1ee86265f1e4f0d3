"""A GoogLeNet-style net: BVLC GoogLeNet's deploy net (without the training-only heads).

Inception modules join four branches with Concat; two LRN layers use AlexNet's
parameters; the poolings use Caffe's default CEIL rounding, so 112 -> 56 -> 28 -> 14 -> 7.
About 1.58 G multiply-accumulates per 224x224 image.
"""

from __future__ import annotations

from pathlib import Path

from .builder import NetWriter

# name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection), as in BVLC GoogLeNet
INCEPTIONS = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
POOL_AFTER = {"3b": "pool3/3x3_s2", "4e": "pool4/3x3_s2"}


def _conv_relu(
    net: NetWriter, name: str, bottom: str, out: int, kernel: int, stride: int = 1, pad: int = 0
) -> str:
    top = net.conv(name, bottom, out, kernel, stride, pad)
    return net.relu(f"{name}_relu", top)


def _inception(net: NetWriter, name: str, bottom: str, widths: tuple[int, ...]) -> str:
    one, reduce3, three, reduce5, five, projection = widths
    p = f"inception_{name}"
    b1 = _conv_relu(net, f"{p}/1x1", bottom, one, 1)
    b2 = _conv_relu(
        net, f"{p}/3x3", _conv_relu(net, f"{p}/3x3_reduce", bottom, reduce3, 1), three, 3, pad=1
    )
    b3 = _conv_relu(
        net, f"{p}/5x5", _conv_relu(net, f"{p}/5x5_reduce", bottom, reduce5, 1), five, 5, pad=2
    )
    pooled = net.pool(f"{p}/pool", bottom, "MAX", 3, 1, 1)
    b4 = _conv_relu(net, f"{p}/pool_proj", pooled, projection, 1)
    return net.concat(f"{p}/output", [b1, b2, b3, b4])


def write_googlenet(folder: Path, seed: int = 22) -> Path:
    """Write the net as a model folder; its output is `prob` (1000 classes)."""
    net = NetWriter("GoogleNet", (1, 3, 224, 224), seed)
    x = _conv_relu(net, "conv1/7x7_s2", "data", 64, 7, 2, 3)
    x = net.pool("pool1/3x3_s2", x, "MAX", 3, 2)
    x = net.lrn("pool1/norm1", x)
    x = _conv_relu(net, "conv2/3x3_reduce", x, 64, 1)
    x = _conv_relu(net, "conv2/3x3", x, 192, 3, pad=1)
    x = net.lrn("conv2/norm2", x)
    x = net.pool("pool2/3x3_s2", x, "MAX", 3, 2)
    for name, widths in INCEPTIONS.items():
        x = _inception(net, name, x, widths)
        if name in POOL_AFTER:
            x = net.pool(POOL_AFTER[name], x, "MAX", 3, 2)
    x = net.pool("pool5/7x7_s1", x, "AVE", 7, 1)
    x = net.dropout("pool5/drop_7x7_s1", x)
    x = net.inner_product("loss3/classifier", x, 1000, net.channels[x])
    net.softmax("prob", x)
    return net.write(folder, "prob")
