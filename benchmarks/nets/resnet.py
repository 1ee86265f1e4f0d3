"""A ResNet-50-style net with half the channels ("ResNet-50-1by2", as in Yahoo's open_nsfw).

Caffe's MSRA layout: every convolution has no bias and is followed by BatchNorm and
Scale (with bias), in place; bottleneck blocks add their shortcut with Eltwise SUM; the
stride of a stage sits on the first 1x1 convolution. About 1.07 G multiply-accumulates
per 224x224 image.
"""

from __future__ import annotations

from pathlib import Path

from .builder import NetWriter

# (blocks, bottleneck width, output width, stride of the first block)
STAGES = ((3, 32, 128, 1), (4, 64, 256, 2), (6, 128, 512, 2), (3, 256, 1024, 2))


def _conv_bn(
    net: NetWriter,
    name: str,
    bottom: str,
    out: int,
    kernel: int,
    stride: int = 1,
    pad: int = 0,
    relu: bool = True,
    gamma: float = 1.0,
) -> str:
    top = net.conv(name, bottom, out, kernel, stride, pad, bias=False)
    net.batch_norm(f"bn_{name}", top)
    net.scale(f"scale_{name}", top, gamma)
    return net.relu(f"relu_{name}", top) if relu else top


def _bottleneck(net: NetWriter, name: str, bottom: str, width: int, out: int, stride: int) -> str:
    if stride != 1 or net.channels[bottom] != out:
        shortcut = _conv_bn(net, f"{name}_branch1", bottom, out, 1, stride, relu=False)
    else:
        shortcut = bottom
    x = _conv_bn(net, f"{name}_branch2a", bottom, width, 1, stride)
    x = _conv_bn(net, f"{name}_branch2b", x, width, 3, 1, 1)
    # A small last gamma keeps the residual stream's scale steady, as trained ResNets do
    x = _conv_bn(net, f"{name}_branch2c", x, out, 1, relu=False, gamma=0.3)
    total = net.eltwise_sum(f"{name}", [shortcut, x])
    return net.relu(f"{name}_relu", total)


def write_resnet50_1by2(folder: Path, seed: int = 50) -> Path:
    """Write the net as a model folder; its output is `prob` (1000 classes)."""
    net = NetWriter("ResNet-50-1by2", (1, 3, 224, 224), seed)
    x = _conv_bn(net, "conv1", "data", 64, 7, 2, 3)
    x = net.pool("pool1", x, "MAX", 3, 2)
    for s, (blocks, width, out, stride) in enumerate(STAGES):
        for b in range(blocks):
            x = _bottleneck(
                net, f"res{s + 2}{chr(ord('a') + b)}", x, width, out, stride if b == 0 else 1
            )
    x = net.pool("pool5", x, "AVE", 7, 1)
    x = net.inner_product("fc1000", x, 1000, net.channels[x])
    net.softmax("prob", x)
    return net.write(folder, "prob")
