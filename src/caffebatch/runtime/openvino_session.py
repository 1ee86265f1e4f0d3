"""The OpenVINO backend: the same ONNX model compiled by OpenVINO for this machine's CPU.

OpenVINO chooses bfloat16 by itself on CPUs that compute it natively (AMX, AVX512-BF16),
which moves LeNet's outputs by 6.5e-3, far outside Caffe's numerics; so the precision is
always set: float32 unless bf16 was asked for.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from caffebatch.errors import ModelError
from caffebatch.runtime.backends import BF16, SessionOptions

DEVICE = "CPU"
PRECISIONS = {"f32": "f32", BF16: "bf16"}  # our setting -> INFERENCE_PRECISION_HINT


SHAPES_KEPT = 4  # batch sizes compiled at once: a run's batch, its last one, a few others


class OpenVinoSession:
    """A compiled model on OpenVINO's CPU plugin: `streams` streams of `threads` threads.

    The model is compiled for each batch size it meets (the last `SHAPES_KEPT` kept):
    with static shapes OpenVINO's CPU kernels ran 7-15% faster than with a dynamic batch
    axis (LeNet, batch 1-64), and a batch run meets two sizes, its own and the last.
    OpenVINO infer requests are not thread-safe, so each calling thread gets its own.
    """

    def __init__(self, model: bytes, options: SessionOptions) -> None:
        import openvino as ov

        config = {
            "INFERENCE_PRECISION_HINT": PRECISIONS[options.precision],
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": options.streams,
            # OpenVINO's threads are the streams' together; ours are per call
            "INFERENCE_NUM_THREADS": (options.threads or os.cpu_count() or 1) * options.streams,
        }
        self._core, self._model, self._config = ov.Core(), model, config
        try:
            read = self._core.read_model(model)
        except Exception as error:  # OpenVINO raises RuntimeError for everything
            raise ModelError(f"OpenVINO cannot read the compiled model: {error}") from error
        self.inputs = {
            port.any_name: tuple(d.get_length() for d in port.partial_shape[1:])
            for port in read.inputs
        }
        self.outputs = tuple(port.any_name for port in read.outputs)
        self.devices = [f"OpenVINO {DEVICE} ({options.precision})"]
        self._lock = threading.Lock()
        self._by_batch: OrderedDict[int, Any] = OrderedDict()
        self._requests = threading.local()  # batch -> infer request, per thread
        self._compile(1)  # fail now, not at the first batch, when OpenVINO cannot run it

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        batch = len(next(iter(feeds.values())))
        compiled = self._compile(batch)
        requests = self._requests.__dict__.setdefault("by_batch", {})
        request = requests.get(batch)
        if request is None or request[0] is not compiled:
            request = requests[batch] = (compiled, compiled.create_infer_request())
        request[1].infer(dict(feeds))
        # The request's output tensors are overwritten by its next call: copy them out.
        return [request[1].get_output_tensor(i).data.copy() for i in range(len(self.outputs))]

    def _compile(self, batch: int) -> Any:
        with self._lock:
            if batch in self._by_batch:
                self._by_batch.move_to_end(batch)
                return self._by_batch[batch]
            try:
                model = self._core.read_model(self._model)
                model.reshape({name: [batch, *shape] for name, shape in self.inputs.items()})
                compiled = self._core.compile_model(model, DEVICE, self._config)
            except Exception as error:  # OpenVINO raises RuntimeError for everything
                raise ModelError(
                    f"OpenVINO cannot compile the model for batch {batch}: {error}"
                ) from error
            self._by_batch[batch] = compiled
            while len(self._by_batch) > SHAPES_KEPT:
                self._by_batch.popitem(last=False)
            return compiled
