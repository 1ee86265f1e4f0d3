"""Usage figures of an instance against its plan's limits, and their enforcement."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caffebatch.errors import LimitExceededError
from caffebatch.settings import Settings
from caffebatch.store import tables


@dataclass(frozen=True)
class Figure:
    limit: int
    current: int


@dataclass(frozen=True)
class Usage:
    """Every figure is counted from the store; capacity units are computation milliseconds."""

    plan: str
    model_count: Figure
    deployment_count: Figure
    prediction_count: Figure
    computation_time: Figure
    capacity_units: Figure
    gpu_count: Figure


def _count(
    session: Session, table: type[tables.PublishedModel | tables.Deployment], instance_id: str
) -> int:
    query = select(func.count()).select_from(table).where(table.instance_id == instance_id)
    return int(session.scalar(query) or 0)


def consumed(session: Session, instance_id: str) -> tuple[int, float]:
    """(predictions, computation seconds) summed over every deployment, deleted or not."""
    row = session.execute(
        select(
            func.coalesce(func.sum(tables.Usage.predictions), 0),
            func.coalesce(func.sum(tables.Usage.computation_s), 0.0),
        ).where(tables.Usage.instance_id == instance_id)
    ).one()
    return int(row[0]), float(row[1])


def usage_of(session: Session, settings: Settings, instance_id: str) -> Usage:
    predictions, seconds = consumed(session, instance_id)
    return Usage(
        plan=settings.plan,
        model_count=Figure(
            settings.max_models, _count(session, tables.PublishedModel, instance_id)
        ),
        deployment_count=Figure(
            settings.max_deployments, _count(session, tables.Deployment, instance_id)
        ),
        prediction_count=Figure(settings.max_predictions, predictions),
        computation_time=Figure(settings.max_computation_s, round(seconds)),
        capacity_units=Figure(settings.max_computation_s * 1000, round(seconds * 1000)),
        gpu_count=Figure(settings.max_gpus, 0),
    )


# what a new resource needs room in: figure name -> its unit, singular and plural
LIMITED = {
    "model_count": ("model", "models"),
    "deployment_count": ("deployment", "deployments"),
    "prediction_count": ("prediction", "predictions"),
    "computation_time": ("second of computation", "seconds of computation"),
}


def require_room(session: Session, settings: Settings, instance_id: str, *figures: str) -> None:
    """LimitExceededError when any named figure has reached its plan limit."""
    usage = usage_of(session, settings, instance_id)
    for name in figures:
        figure: Figure = getattr(usage, name)
        if figure.current >= figure.limit:
            singular, plural = LIMITED[name]
            unit = singular if figure.limit == 1 else plural
            raise LimitExceededError(
                f"Current plan '{settings.plan}' only allows {figure.limit} {unit}"
            )
