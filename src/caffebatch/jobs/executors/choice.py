"""Choosing an executor by name: `local` (the default) or `ray` (an optional extra)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from caffebatch.jobs.executors import Executor

if TYPE_CHECKING:
    from caffebatch.settings import RaySettings

DEFAULT = "local"


def _local(cancel: threading.Event | None, ray_settings: RaySettings | None) -> Executor:
    from caffebatch.jobs.executors.local import LocalExecutor

    return LocalExecutor(cancel)


def _ray(cancel: threading.Event | None, ray_settings: RaySettings | None) -> Executor:
    from caffebatch.jobs.executors.ray import RayExecutor  # Ray itself loads only when it runs

    return RayExecutor(ray_settings, cancel)


# name -> how to build it
EXECUTORS: dict[str, Callable[[threading.Event | None, RaySettings | None], Executor]] = {"local": _local, "ray": _ray}


def make_executor(name: str, cancel: threading.Event | None = None,
                  ray_settings: RaySettings | None = None) -> Executor:
    """The executor called `name`; `ray` raises ExtraMissingError when Ray is not installed.

    `ray_settings` (a RaySettings) sizes the Ray executor; None takes its defaults.
    """
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; expected one of {sorted(EXECUTORS)}")
    return EXECUTORS[name](cancel, ray_settings)
