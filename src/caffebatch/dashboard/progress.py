"""A deployment's status details as the pages show them: counts, share done, rate, time left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from caffebatch.service.resources import ACTIVE, DeploymentStatus, StatusDetails

# status -> the word the pages show and the tone of its badge
STATUS_LOOK: dict[str, tuple[str, str]] = {
    DeploymentStatus.INITIALIZING: ("Queued", "waiting"),
    DeploymentStatus.RUNNING: ("Running", "active"),
    DeploymentStatus.SUCCESS: ("Succeeded", "good"),
    DeploymentStatus.PARTIAL_SUCCESS: ("Partly succeeded", "warn"),
    DeploymentStatus.FAILURE: ("Failed", "bad"),
}


@dataclass(frozen=True)
class ProgressView:
    """Everything a progress bar and the counts need, from a deployment's status details."""

    id: str
    status: str
    label: str
    tone: str
    active: bool
    total: int | None
    scored: int
    failed: int
    skipped: int
    percent: float | None        # None while the input is still being listed
    rate: float | None           # records per second
    seconds_left: float | None
    errors: list[dict[str, Any]]
    failure: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """What the pages' polling script reads."""
        return {
            "id": self.id, "status": self.status, "label": self.label, "tone": self.tone,
            "active": self.active, "total": self.total, "scored": self.scored,
            "failed": self.failed, "skipped": self.skipped, "percent": self.percent,
            "rate": self.rate, "time_left": duration(self.seconds_left),
        }


def progress_of(deployment_id: str, status: str, details: StatusDetails) -> ProgressView:
    """The view of deployment `deployment_id`, now in `status`, whose run reports `details`."""
    total = details.total
    scored, failed, skipped = (count or 0 for count in (details.scored, details.failed,
                                                         details.skipped))
    done = scored + failed + skipped
    percent = None
    if total:
        percent = round(100.0 * min(done, total) / total, 1)
    elif status in (DeploymentStatus.SUCCESS, DeploymentStatus.PARTIAL_SUCCESS):
        percent = 100.0  # a failed run that listed nothing is not done: its share stays unknown
    rate = details.records_per_second
    seconds_left = None
    if status == DeploymentStatus.RUNNING and total is not None and rate:
        seconds_left = max(total - done, 0) / rate
    label, tone = STATUS_LOOK.get(status, (status.title(), "waiting"))
    return ProgressView(
        id=deployment_id, status=status, label=label, tone=tone,
        active=status in ACTIVE, total=total, scored=scored, failed=failed,
        skipped=skipped, percent=percent, rate=rate, seconds_left=seconds_left,
        errors=list(details.errors), failure=details.failure,
    )


def duration(seconds: float | None) -> str | None:
    """A short human duration: "45 s", "3 min 20 s", "2 h 5 min"."""
    if seconds is None:
        return None
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
