"""Probes and metrics: /healthz (the process answers), /readyz (it can do its work), /metrics.

/readyz checks, in order of the table `CHECKS`: the store answers a query, the worker
pool's threads run, and the executor is reachable (Ray joined, when runs go to Ray). It
answers 200 with every check ``ok``, else 503 with each failing check's reason, so a load
balancer stops sending work to a server that cannot do it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from caffebatch.service.context import ServiceContext

router = APIRouter(include_in_schema=False)


def _store(ctx: ServiceContext, pool: Any) -> str | None:
    try:
        with ctx.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return f"the store does not answer: {type(error).__name__}: {str(error)[:300]}"
    return None


def _workers(ctx: ServiceContext, pool: Any) -> str | None:
    if pool is None:
        return "this server runs no worker pool"
    return None if pool.alive() else "the worker pool's threads have stopped"


def _executor(ctx: ServiceContext, pool: Any) -> str | None:
    if ctx.settings.executor != "ray":
        return None
    if pool is not None and pool.executor_error:
        return str(pool.executor_error)
    try:
        import ray
    except ImportError:
        return "Ray is not installed (pip install 'caffebatch[ray]')"
    return None if ray.is_initialized() else "Ray is not joined"


# check name -> its function: None when it passes, else why it fails
CHECKS: dict[str, Callable[[ServiceContext, Any], str | None]] = {
    "store": _store,
    "workers": _workers,
    "executor": _executor,
}


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers (a liveness probe; it checks nothing else)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """200 when the store, the worker pool and the executor all work; 503 with reasons."""
    ctx: ServiceContext = request.app.state.context
    pool = getattr(request.app.state, "pool", None)
    failures = {name: check(ctx, pool) for name, check in CHECKS.items()}
    ready = not any(failures.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {name: reason or "ok" for name, reason in failures.items()},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """The server's metrics in Prometheus' text format (`caffebatch.service.metrics`)."""
    ctx: ServiceContext = request.app.state.context
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
