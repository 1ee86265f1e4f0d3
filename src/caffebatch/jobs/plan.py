"""Whether a run may start, and with which batch size: every check before any reading."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from caffebatch.errors import RunError
from caffebatch.jobs.spec import INVALID_RUN, Location, RunOptions
from caffebatch.jobs.storage import overlaps

if TYPE_CHECKING:
    from caffebatch.compiler.compile import CompiledModel

DEFAULT_BATCH = 32  # for a prototxt whose batch dimension says nothing (1)


@dataclass(frozen=True)
class RunPlan:
    """A run that passed its checks. `batch_size` is None when planned without a model."""

    source: Location
    target: Location
    batch_size: int | None


def plan_run(source: Location, target: Location, model: CompiledModel | None = None,
             options: RunOptions | None = None) -> RunPlan:
    """Check a run before it reads anything; raises RunError(INVALID_RUN) saying what is wrong.

    The output must not be the input, lie inside it or around it. With a `model`, the batch
    size is resolved (`options.batch_size`, else the prototxt's batch when above 1, else 32)
    and refused when its decoded inputs alone would pass `options.max_batch_bytes`. Without
    one only the locations are checked (the service, when a deployment is created).
    Local locations come back absolute, resolved here (on the driver): a Ray actor reads
    them from its own working folder otherwise.
    """
    source, target = _absolute(source), _absolute(target)
    if overlaps(source, target):
        raise RunError(
            INVALID_RUN,
            f"the output {target.url!r} is the input {source.url!r} or overlaps it; "
            "results would be read back as inputs",
        )
    if model is None:
        return RunPlan(source, target, None)
    requested = options.batch_size if options else None
    batch_size = requested or default_batch_size(model.declared_batch)
    _check_batch(model.inputs, batch_size,
                 options.max_batch_bytes if options else RunOptions.max_batch_bytes)
    return RunPlan(source, target, batch_size)


def _absolute(location: Location) -> Location:
    return location if location.is_s3 else replace(location, url=os.path.abspath(location.url))


def default_batch_size(declared_batch: int) -> int:
    """The prototxt's batch dimension when it is above 1, else 32."""
    return declared_batch if declared_batch > 1 else DEFAULT_BATCH


def _check_batch(inputs: dict[str, tuple[int, ...]], batch_size: int,
                 max_batch_bytes: int) -> None:
    record_bytes = 4 * sum(math.prod(shape) for shape in inputs.values())
    if batch_size * record_bytes > max_batch_bytes:
        fits = max(1, max_batch_bytes // record_bytes)
        raise RunError(
            INVALID_RUN,
            f"a batch of {batch_size} records of {record_bytes:,} bytes needs "
            f"{batch_size * record_bytes:,} bytes of input, over the limit of "
            f"{max_batch_bytes:,}; use a batch size of at most {fits}",
        )
