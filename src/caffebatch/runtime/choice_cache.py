"""The `engine = auto` choices measured on this machine, kept between runs of the CLI.

The service records a model's choices in its compiled.json (compiler/artifact.py); the CLI
compiles the model again on every run, so without this it measured the backends again every
time: seconds of start-up for a GoogLeNet-size model, and a resumed run could score its
remaining records on another backend than the first part (both within Caffe's tolerance,
but not bit for bit the same).

A file holds the choices for one compiled model (the digest of its ONNX bytes) on one
machine: the CPU, its core count, the backends' versions and the threads a forward pass
gets, since each of them changes which backend is faster. Anything else (another CPU after a
migration, an upgraded OpenVINO) names another file, so the backends are measured again.
The folder is ``$CAFFEBATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/caffebatch``, else
``~/.cache/caffebatch``. A missing, unreadable or damaged file means "not measured yet".
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from caffebatch.runtime.backends import BACKENDS, installed

FOLDER = "engine-choices"
FORMAT = 1  # in each file's `where`: a file of another format has another name, never read here


def cache_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the choices are kept (CAFFEBATCH_CACHE_DIR, XDG_CACHE_HOME, ~/.cache)."""
    if environ.get("CAFFEBATCH_CACHE_DIR"):
        return Path(environ["CAFFEBATCH_CACHE_DIR"]) / FOLDER
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "caffebatch" / FOLDER


@functools.cache
def machine() -> dict[str, Any]:
    """What the speed of a backend depends on, besides the model: CPU, cores, versions."""
    name, flags = _cpu()
    return {
        "cpu": name,
        # one model name covers CPUs with other instruction sets (a VM's "AMD EPYC")
        "cpu_flags": hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:16],
        "cores": os.cpu_count(),
        "backends": {name: _version(BACKENDS[name].module) for name in installed()},
    }


@dataclass(frozen=True)
class ChoiceFile:
    """The file of one compiled model's choices on this machine at one thread count."""

    path: Path
    where: dict[str, Any]  # what it was measured on: a file saying otherwise is not used

    def load(self) -> tuple[dict[str, Any], ...]:
        """The choices recorded here; () when none are (or the file is damaged)."""
        try:
            kept = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return ()
        if not (isinstance(kept, dict) and kept.get("where") == self.where
                and isinstance(kept.get("choices"), list)):
            return ()
        return tuple(choice for choice in kept["choices"] if isinstance(choice, dict))

    def save(self, choices: Sequence[Mapping[str, Any]]) -> Path:
        """Record `choices`; OSError when the folder cannot be written.

        The file is replaced whole, so a run reading it meanwhile sees the old one or the new.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps({"where": self.where, "choices": list(choices)},
                            option=orjson.OPT_INDENT_2)
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return self.path


@dataclass(frozen=True)
class ChoiceCache:
    """The choices kept in `folder`, one file per compiled model, machine and thread count."""

    folder: Path

    def file(self, model: bytes, threads: int | None) -> ChoiceFile:
        """The file for `model` (its ONNX bytes) scored `threads` threads a pass."""
        where = {"format": FORMAT, "machine": machine(), "threads": threads}
        name = f"{hashlib.sha256(model).hexdigest()[:40]}-{_digest(where)}"
        return ChoiceFile(self.folder / f"{name}.json", where)


def _digest(value: object) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _cpu() -> tuple[str, list[str]]:
    """The CPU's model name and flags, from /proc/cpuinfo where there is one."""
    import platform

    fields: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
            if not line.strip():  # the first processor's block is enough
                break
    name = fields.get("model name") or platform.processor() or platform.machine()
    return name, fields.get("flags", "").split()


def _version(module: str) -> str | None:
    # the distribution may be named otherwise than its module (onnxruntime-gpu, openvino-nightly)
    for distribution in (module, f"{module}-gpu", f"{module}-nightly"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(distribution)
    return None
