"""A deployment's connections and run files: its Locations, and its error report read back.

A run writes ``_caffebatch/<deployment id>/summary.json`` and ``errors.jsonl`` under its
target when it ends (see `caffebatch.jobs.run`). Reading them goes through the same storage
layer, with the deployment's stored connection decrypted here, so neither a page nor the
browser ever holds the keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from caffebatch.errors import StorageError
from caffebatch.jobs.spec import Location
from caffebatch.service import connections
from caffebatch.service.context import ServiceContext
from caffebatch.service.deployments import deployment_row
from caffebatch.service.identity import Principal
from caffebatch.service.spec import InputSpec, OutputSpec

MAX_REPORT_BYTES = 64 * 1024 * 1024
REPORT_OUTAGE_S = 5.0  # a page waits a few seconds through an outage, not a run's minute


@dataclass(frozen=True)
class RunPlaces:
    """Where a deployment reads and writes, and the secrets no message may show."""

    source: Location
    target: Location
    secrets: tuple[str, ...] = field(repr=False)


def places_of(
    ctx: ServiceContext, source_block: dict[str, Any], target_block: dict[str, Any],
    sealed: bytes,
) -> RunPlaces:
    """A deployment's Locations, from its stored blocks and its `sealed` (encrypted) secrets."""
    secrets = ctx.keys.decrypt(sealed)
    source = InputSpec.model_validate(source_block)
    target = OutputSpec.model_validate(target_block)
    return RunPlaces(
        source=connections.location(source, secrets["source"], ctx.settings),
        target=connections.location(target, secrets["target"], ctx.settings),
        secrets=tuple(v for side in secrets.values() for v in side.values() if v),
    )


def read_error_report(
    ctx: ServiceContext, principal: Principal, instance_id: str, deployment_id: str
) -> bytes:
    """The run's errors.jsonl.

    ObjectNotFoundError when the run wrote none (or not yet); StorageError when it cannot be
    read or is over `MAX_REPORT_BYTES`. The database is not held while the storage answers.
    """
    from caffebatch.jobs.run import RUN_FOLDER
    from caffebatch.jobs.spec import RetryPolicy
    from caffebatch.jobs.storage import open_storage

    with ctx.db.session() as session:
        row = deployment_row(session, principal, instance_id, deployment_id)
        stored, run_id = (row.input, row.output, row.secrets), row.id
    target = places_of(ctx, *stored).target
    storage = open_storage(target, RetryPolicy(outage_s=REPORT_OUTAGE_S), connections=1)
    try:
        data = storage.get(f"{RUN_FOLDER}/{run_id}/errors.jsonl", MAX_REPORT_BYTES)
    finally:
        storage.close()
    if len(data) > MAX_REPORT_BYTES:
        raise StorageError(f"the error report is over {MAX_REPORT_BYTES} bytes; read it from "
                           "the output location directly")
    return data
