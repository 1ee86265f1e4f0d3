"""create_server: the composition root of `caffebatch serve`.

It puts the rooms together, from above: the REST API (`caffebatch.api`), the dashboard
mounted at /dashboard (`caffebatch.dashboard`), the worker pool that runs deployments
(`caffebatch.service.worker`) in the app's lifespan, and around it all the middleware that
gives each request its id and counts it (`caffebatch.api.requests`). Neither the API nor
the dashboard knows of the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from caffebatch.api import create_app
from caffebatch.api.requests import RequestObserver
from caffebatch.dashboard import create_dashboard
from caffebatch.service.context import ServiceContext, open_context
from caffebatch.service.worker import WorkerPool
from caffebatch.settings import Settings


def create_server(
    settings: Settings, *, context: ServiceContext | None = None, run_workers: bool = True
) -> FastAPI:
    """The service: API, dashboard and, with `run_workers`, the pool that runs deployments."""
    ctx = context or open_context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = WorkerPool(ctx) if run_workers else None
        if pool is not None:
            ctx.metrics.watch_store(pool.figures)
            pool.start()
        app.state.pool = pool
        try:
            yield
        finally:
            app.state.pool = None
            if pool is not None:
                pool.stop()

    app = create_app(ctx, lifespan=lifespan)
    app.mount("/dashboard", create_dashboard(ctx))
    app.add_middleware(RequestObserver, metrics=ctx.metrics)
    return app
