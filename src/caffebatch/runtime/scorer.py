"""Scorer: one ONNX Runtime session, loaded once, scoring batches of any size."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime as ort

from caffebatch.errors import ModelError

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


class Scorer:
    """Scores batches with a compiled model.

    The session is built once in ``__init__``; ``__call__`` scores. A Scorer can be
    pickled (it keeps the model bytes, not the session), so any executor, a thread,
    a process or a Ray actor, can hold one.

    `threads` is ONNX Runtime's intra-op thread count (default: every core); `spin=False`
    keeps its idle threads from spin-waiting, for runs that share the cores with other work
    (see `session_options`).
    """

    def __init__(
        self,
        model: bytes,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        spin: bool = True,
    ) -> None:
        self._model = model
        self._threads = threads
        self._spin = spin
        self._providers = list(providers) if providers is not None else default_providers()
        try:
            self._session = ort.InferenceSession(
                model, session_options(threads, spin), providers=self._providers
            )
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            raise ModelError(f"ONNX Runtime cannot load the compiled model: {error}") from error
        self.inputs: dict[str, tuple[int, ...]] = {
            i.name: tuple(int(d) for d in i.shape[1:]) for i in self._session.get_inputs()
        }
        self.outputs: tuple[str, ...] = tuple(o.name for o in self._session.get_outputs())

    @property
    def providers(self) -> list[str]:
        """The execution providers the session actually uses."""
        providers: list[str] = self._session.get_providers()
        return providers

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Score one batch: input name -> (batch, *shape) float32, to output name -> array."""
        arrays = {name: np.ascontiguousarray(feeds[name], dtype=np.float32) for name in self.inputs}
        results = self._session.run(list(self.outputs), arrays)
        return dict(zip(self.outputs, results, strict=True))

    def __reduce__(self) -> tuple[object, ...]:  # rebuild the session where the scorer is unpickled
        return (_rebuild, (self._model, self._threads, self._providers, self._spin))


def _rebuild(model: bytes, threads: int | None, providers: list[str], spin: bool = True) -> Scorer:
    return Scorer(model, threads=threads, providers=providers, spin=spin)
