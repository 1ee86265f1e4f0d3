"""The ONNX Runtime backend: one InferenceSession with the options BENCHMARKS.md measured."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import onnxruntime as ort

from caffebatch.errors import ModelError
from caffebatch.runtime.backends import SessionOptions

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def default_providers() -> list[str]:
    """CUDA first when this ONNX Runtime build has it, then the CPU."""
    available = ort.get_available_providers()
    return [p for p in (CUDA, CPU) if p in available]


def session_options(threads: int | None = None, spin: bool = True) -> ort.SessionOptions:
    """The ONNX Runtime settings a Scorer uses; BENCHMARKS.md ("Engine") measures them.

    `threads` is the intra-op thread count (default: every core). With `spin` off, idle
    intra-op threads sleep instead of spin-waiting for the next parallel section: in a
    batch run, where decoding and writing share the cores, that saves CPU (about 15% per
    record on GoogLeNet) and costs the engine alone nothing measurable.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxRuntimeSession:
    """A compiled model on ONNX Runtime (CUDA when the build and the machine have it)."""

    def __init__(self, model: bytes, options: SessionOptions) -> None:
        providers = list(options.providers) if options.providers is not None else default_providers()
        try:
            self._session = ort.InferenceSession(
                model, session_options(options.threads, options.spin), providers=providers
            )
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            raise ModelError(f"ONNX Runtime cannot load the compiled model: {error}") from error
        self.inputs = {
            i.name: tuple(int(d) for d in i.shape[1:]) for i in self._session.get_inputs()
        }
        self.outputs = tuple(o.name for o in self._session.get_outputs())
        self.devices = self._session.get_providers()

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        results: list[np.ndarray] = self._session.run(list(self.outputs), dict(feeds))
        return results
