"""The `--ray-*` flags of `caffebatch score`, made from `RaySettings` (their one definition).

Each flag takes its type, lower bound, default and help from the settings field it sets, so
the CLI, the service (``CAFFEBATCH_RAY_*``) and the executor cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import annotated_types
import click
from pydantic.fields import FieldInfo

from caffebatch.settings import RaySettings

F = TypeVar("F", bound=Callable[..., Any])

# RaySettings field -> its flag (older than the field's name) and click settings of its own
FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "address": ("--ray-address", {"envvar": "RAY_ADDRESS", "metavar": "ADDR"}),
    "num_cpus": ("--ray-cpus", {}),
    "object_store_mib": ("--ray-object-store-mib", {}),
    "actors": ("--ray-actors", {}),
    "cpus_per_actor": ("--ray-cpus-per-actor", {}),
}

# a field's number type -> the click range type that enforces its lower bound
RANGES: dict[type, type[click.IntRange | click.FloatRange]] = {
    int: click.IntRange,
    float: click.FloatRange,
}


def _param(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _click_type(field: FieldInfo) -> click.IntRange | click.FloatRange | None:
    kinds = [k for k in RANGES if field.annotation in (k, k | None)]
    if not kinds:
        return None
    low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    return RANGES[kinds[0]](min=low)  # type: ignore[arg-type]  # Ge holds the field's number


def ray_options(command: F) -> F:
    """Add one flag per `FLAGS` entry to a click command."""
    for name, (flag, extra) in reversed(FLAGS.items()):
        field = RaySettings.model_fields[name]
        default = field.get_default()
        command = click.option(
            flag,
            _param(flag),
            type=_click_type(field),
            default=default,
            show_default=default is not None,
            help=field.description,
            **extra,
        )(command)
    return command


def ray_settings(values: dict[str, Any]) -> RaySettings:
    """The RaySettings the flags in `values` (a command's keyword arguments) ask for."""
    return RaySettings(**{name: values[_param(flag)] for name, (flag, _) in FLAGS.items()})
