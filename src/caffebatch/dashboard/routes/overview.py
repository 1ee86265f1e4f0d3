"""The instance overview: its usage figures against the plan's limits."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from caffebatch.dashboard.web import DashboardDep, ViewerDep, render
from caffebatch.service import instances
from caffebatch.service.usage import Figure

router = APIRouter()

# Usage field -> (what the bar is called, the unit its numbers are in)
FIGURES: dict[str, tuple[str, str]] = {
    "model_count": ("Models", "models"),
    "deployment_count": ("Deployments", "deployments"),
    "prediction_count": ("Predictions", "predictions"),
    "computation_time": ("Computation time", "seconds"),
    "gpu_count": ("GPUs", "GPUs"),
}


@dataclass(frozen=True)
class Bar:
    """One usage bar: how much of a limit is used."""

    title: str
    unit: str
    current: int
    limit: int

    @property
    def percent(self) -> float:
        return round(min(100.0, 100.0 * self.current / self.limit), 1) if self.limit else 0.0

    @property
    def tone(self) -> str:
        return "bad" if self.percent >= 90 else "warn" if self.percent >= 70 else "good"


@router.get("/")
def overview(request: Request, dashboard: DashboardDep, viewer: ViewerDep) -> Response:
    principal = viewer.principal
    with dashboard.session() as session:
        details = instances.get_instance(dashboard.ctx, session, principal, principal.instance_id)
    bars = []
    for name, (title, unit) in FIGURES.items():
        figure: Figure = getattr(details.usage, name)
        if figure.limit or figure.current:  # a plan without GPUs does not draw an empty bar
            bars.append(Bar(title, unit, figure.current, figure.limit))
    return render(request, "overview.html", viewer=viewer, instance=details.instance,
                  plan=details.usage.plan, bars=bars)
