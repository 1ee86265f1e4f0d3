"""How a run stands or ended: one vocabulary of statuses and one status-details value.

`StatusDetails` is what progress reports while a run goes, what a finished run's summary
says, what the service stores for a deployment and what the API and the dashboard show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """Where a run is: RUNNING while it goes (progress), then how it ended."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"                  # every record was scored
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"  # some records were bad, under the threshold
    FAILURE = "FAILURE"                  # the run could not go on (`failure` says why)
    CANCELLED = "CANCELLED"              # asked to stop


@dataclass(frozen=True)
class StatusDetails:
    """A run's counts and first errors. Unknown counts are None (a queued run has none).

    `status` is the run's (RunStatus) or, once stored for a deployment, the deployment's.
    `errors` holds the first few ``{"input", "code", "message"}``; `failure` the
    ``{"code", "message"}`` of a failed run.
    """

    status: str
    total: int | None = None             # None until the listing is complete
    scored: int | None = None
    failed: int | None = None
    skipped: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    records_per_second: float | None = None
    batch_size: int | None = None        # known once the run has ended
    errors: tuple[dict[str, str], ...] = ()
    failure: dict[str, str] | None = None
    skip_reasons: Mapping[str, int] | None = None  # skipped, by reason ("done", "nested", ...)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values: times in ISO 8601, `seconds` once the run has ended."""
        document: dict[str, Any] = {
            "status": str(self.status),
            "total": self.total,
            "scored": self.scored,
            "failed": self.failed,
            "skipped": self.skipped,
            "skip_reasons": None if self.skip_reasons is None else dict(self.skip_reasons),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }
        if self.started_at is not None and self.finished_at is not None:
            document["seconds"] = round((self.finished_at - self.started_at).total_seconds(), 3)
        rate = self.records_per_second
        document["records_per_second"] = None if rate is None else round(rate, 1)
        if self.batch_size is not None:
            document["batch_size"] = self.batch_size
        document["errors"] = list(self.errors)
        document["failure"] = self.failure
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> StatusDetails:
        """The value `to_json` wrote (or any part of it); other keys are ignored."""
        started, finished = document.get("started_at"), document.get("finished_at")
        rate = document.get("records_per_second")
        return cls(
            status=str(document["status"]),
            total=document.get("total"),
            scored=document.get("scored"),
            failed=document.get("failed"),
            skipped=document.get("skipped"),
            skip_reasons=document.get("skip_reasons"),
            started_at=datetime.fromisoformat(started) if started else None,
            finished_at=datetime.fromisoformat(finished) if finished else None,
            records_per_second=None if rate is None else float(rate),
            batch_size=document.get("batch_size"),
            errors=tuple(document.get("errors") or ()),
            failure=document.get("failure"),
        )


@dataclass(frozen=True)
class RunSummary:
    """How a run ended: SUCCESS, PARTIAL_SUCCESS, FAILURE or CANCELLED, with its counts."""

    status: RunStatus
    total: int
    scored: int
    failed: int
    skipped: int
    started_at: datetime
    finished_at: datetime
    records_per_second: float
    errors: tuple[dict[str, str], ...]
    failure: dict[str, str] | None      # {"code", "message"} when status is FAILURE
    batch_size: int = 0
    skip_reasons: Mapping[str, int] | None = None

    def details(self) -> StatusDetails:
        """The summary as status details."""
        return StatusDetails(
            status=self.status, total=self.total, scored=self.scored, failed=self.failed,
            skipped=self.skipped, started_at=self.started_at, finished_at=self.finished_at,
            records_per_second=self.records_per_second, batch_size=self.batch_size,
            errors=self.errors, failure=self.failure, skip_reasons=self.skip_reasons,
        )

    def to_json(self) -> dict[str, Any]:
        """The summary as plain JSON values (times in ISO 8601)."""
        return self.details().to_json()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
