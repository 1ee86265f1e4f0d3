"""Scorer: one model loaded once on one backend, scoring batches of any size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from caffebatch.compiler import layouts
from caffebatch.runtime.backends import F32, ONNXRUNTIME, SessionOptions, backend
from caffebatch.runtime.onnxruntime_session import CPU, CUDA, default_providers, session_options

__all__ = ["CPU", "CUDA", "Scorer", "default_providers", "session_options"]


class Scorer:
    """Scores batches with a compiled model.

    The session is built once in ``__init__``; ``__call__`` scores. A Scorer can be
    pickled (it keeps the model bytes, not the session), so any executor, a thread,
    a process or a Ray actor, can hold one.

    `engine` names the backend (`caffebatch.runtime.backends`): ``onnxruntime`` (the
    default, also for None) or ``openvino``; ``auto`` is resolved before, by `runtime.choice`. `threads`
    is the backend's thread count (default: every core); `spin=False` keeps ONNX Runtime's
    idle threads from spin-waiting, for runs that share the cores with other work (see
    `session_options`). `precision` is ``f32`` (Caffe's) unless ``bf16`` is asked for.
    `streams`: how many calls the caller makes at once, each with `threads` threads (a
    Scorer may always be called from several threads; OpenVINO then compiles that many
    streams, where it would run the calls one after the other).
    """

    def __init__(
        self,
        model: bytes,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        spin: bool = True,
        engine: str | None = None,
        precision: str = F32,
        streams: int = 1,
    ) -> None:
        self._model = model
        self.engine, self.precision = engine or ONNXRUNTIME, precision
        self._options = SessionOptions(
            threads, spin, precision, tuple(providers) if providers is not None else None,
            streams,
        )
        self._session = backend(self.engine, precision).open(model, self._options)
        self.inputs: dict[str, tuple[int, ...]] = self._session.inputs
        self.outputs: tuple[str, ...] = self._session.outputs
        # Outputs whose first axis is not the batch axis, from the model's metadata
        # (caffebatch.compiler.layouts), whatever backend runs it
        self.layouts: dict[str, str] = layouts.of_bytes(model)

    @property
    def providers(self) -> list[str]:
        """What actually runs the model: ONNX Runtime's execution providers, or OpenVINO's device."""
        return self._session.devices

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Score one batch: input name -> (batch, *shape) float32, to output name -> array."""
        arrays = {name: np.ascontiguousarray(feeds[name], dtype=np.float32) for name in self.inputs}
        return dict(zip(self.outputs, self._session.run(arrays), strict=True))

    def __reduce__(self) -> tuple[object, ...]:  # rebuild the session where it is unpickled
        options = self._options
        return (
            _rebuild,
            (self._model, options.threads, options.providers, options.spin, self.engine,
             self.precision, options.streams),
        )


def _rebuild(
    model: bytes,
    threads: int | None,
    providers: Sequence[str] | None,
    spin: bool = True,
    engine: str | None = None,
    precision: str = F32,
    streams: int = 1,
) -> Scorer:
    return Scorer(model, threads=threads, providers=providers, spin=spin, engine=engine,
                  precision=precision, streams=streams)
