"""create_app: the service's FastAPI app, built from one Settings object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from caffebatch.api import errors
from caffebatch.api.routes import deployments, identity, instances, ml_assets, published_models
from caffebatch.api.schemas import ERROR_RESPONSES
from caffebatch.dashboard import create_dashboard
from caffebatch.service.context import ServiceContext, open_context
from caffebatch.service.worker import WorkerPool
from caffebatch.settings import Settings

ROUTERS = (identity, instances, published_models, deployments, ml_assets)


def create_app(
    settings: Settings, *, context: ServiceContext | None = None, run_workers: bool = True
) -> FastAPI:
    """The app serving the WML v3 API; with `run_workers`, it runs deployments too."""
    ctx = context or open_context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = WorkerPool(ctx) if run_workers else None
        if pool is not None:
            pool.start()
        try:
            yield
        finally:
            if pool is not None:
                pool.stop()

    app = FastAPI(
        title="caffebatch",
        summary="Deploy trained Caffe models and score them in batch (WML v3 API).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.context = ctx
    for module in ROUTERS:
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.mount("/dashboard", create_dashboard(ctx))
    errors.install(app)
    _without_422(app)
    return app


def _without_422(app: FastAPI) -> None:
    """Validation failures answer 400 with the error body, so the document says so."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
