"""The engines a Scorer can run a compiled model on, as one table.

Each backend opens an ONNX model (bytes) into a `Session`: its inputs (shape without the
batch axis), its outputs, and ``run(feeds) -> arrays``. ONNX Runtime is always there;
OpenVINO is the optional extra ``pip install 'caffebatch[openvino]'``. Every backend runs
at float32 unless `precision` says otherwise, because Caffe's numerics are float32.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from caffebatch.errors import ExtraMissingError, ModelError

ONNXRUNTIME = "onnxruntime"
OPENVINO = "openvino"
AUTO = "auto"  # not a backend: the Scorer's caller measures and picks one (runtime/choice.py)
F32, BF16 = "f32", "bf16"

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SessionOptions:
    """What every backend is told: threads (None: every core), spin-waiting, precision.

    `providers` are ONNX Runtime's execution providers (None: CUDA when there, then the CPU);
    other backends ignore them, as OpenVINO ignores `spin` (its thread pool has no switch).
    `streams` is how many calls come at once, each with `threads` threads; ONNX Runtime's
    sessions take concurrent calls as they are, OpenVINO compiles that many streams.
    """

    threads: int | None = None
    spin: bool = True
    precision: str = F32
    providers: tuple[str, ...] | None = None
    streams: int = 1


class Session(Protocol):
    """One loaded model on one backend."""

    inputs: dict[str, tuple[int, ...]]
    outputs: tuple[str, ...]
    devices: list[str]  # what actually runs it (ONNX Runtime's providers, OpenVINO's device)

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The outputs, in `outputs` order, for float32 `feeds` of one batch."""
        ...


@dataclass(frozen=True)
class Backend:
    """A row of the table: how to open a session, what it needs installed, what it offers."""

    name: str
    module: str  # the Python package it imports
    install: str  # how to install that package
    precisions: tuple[str, ...]
    open: Callable[[bytes, SessionOptions], Session]
    # ONNX operators it computes otherwise than the spec says, with how: `auto` never
    # picks it for a model holding one (a probe batch may not meet the difference)
    unfaithful: Mapping[str, str] = field(default_factory=dict)

    @property
    def installed(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except ValueError:  # sys.modules[module] is None: its import is blocked
            return False


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add `backend` to the table; a second backend of the same name is refused."""
    if backend.name in BACKENDS or backend.name == AUTO:
        raise ValueError(f"backend {backend.name!r} is already registered")
    BACKENDS[backend.name] = backend
    return backend


def backend(name: str, precision: str = F32) -> Backend:
    """The backend called `name`, installed, that runs at `precision`; else an error that says why.

    A backend whose extra is not installed raises ExtraMissingError with the install command.
    """
    if name not in BACKENDS:
        raise ModelError(f"unknown engine {name!r}; expected one of {engine_names()}")
    chosen = BACKENDS[name]
    if not chosen.installed:
        raise ExtraMissingError(
            f"engine {name!r} needs the {chosen.module!r} package, which is not installed; "
            f"install it with: {chosen.install}"
        )
    if precision not in chosen.precisions:
        raise ModelError(
            f"engine {name!r} cannot run at precision {precision!r}; it offers {list(chosen.precisions)}"
        )
    check_cpu(precision)
    return chosen


def check_cpu(precision: str) -> None:
    """Refuse a precision this CPU does not compute natively (bf16 without AMX, AVX512-BF16)."""
    if precision == BF16 and not cpu_has_bf16():
        raise ModelError("precision 'bf16' needs a CPU with AMX or AVX512-BF16; this one has neither")


def engine_names() -> list[str]:
    """What an `engine` setting may say: ``auto`` and every backend's name."""
    return [AUTO, *BACKENDS]


def installed() -> list[str]:
    """The backends that can run here, ONNX Runtime first."""
    return [name for name, b in BACKENDS.items() if b.installed]


def _open_onnxruntime(model: bytes, options: SessionOptions) -> Session:
    from caffebatch.runtime.onnxruntime_session import OnnxRuntimeSession

    return OnnxRuntimeSession(model, options)


def _open_openvino(model: bytes, options: SessionOptions) -> Session:
    from caffebatch.runtime.openvino_session import OpenVinoSession

    return OpenVinoSession(model, options)


def cpu_has_bf16(flags: Sequence[str] | None = None) -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16), from /proc/cpuinfo."""
    if flags is None:
        try:
            with open("/proc/cpuinfo") as cpuinfo:
                flags = next(
                    (line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")),
                    [],
                )
        except OSError:
            flags = []
    return any(flag in flags for flag in ("amx_bf16", "avx512_bf16"))


register(Backend(ONNXRUNTIME, "onnxruntime", "pip install onnxruntime", (F32,), _open_onnxruntime))
register(
    Backend(
        OPENVINO, "openvino", "pip install 'caffebatch[openvino]'", (F32, BF16), _open_openvino,
        unfaithful={
            "TopK": "orders equal values its own way, where ONNX puts the lower index first "
            "(SSD's NMS and Caffe's ArgMax rest on that order)",
        },
    )
)
