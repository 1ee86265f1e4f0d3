"""create_app: the WML v3 API over one ServiceContext (`caffebatch.server` builds the rest)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import Lifespan

from caffebatch.api import docs, errors, health
from caffebatch.api.routes import deployments, identity, instances, ml_assets, published_models
from caffebatch.api.schemas import ERROR_RESPONSES
from caffebatch.service.context import ServiceContext

ROUTERS = (identity, instances, published_models, deployments, ml_assets)


def create_app(ctx: ServiceContext, *, lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    """The app serving the WML v3 API; `lifespan` runs around it (the server's worker pool)."""
    app = FastAPI(
        title="caffebatch",
        summary="Deploy trained Caffe models and score them in batch (WML v3 API).",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from local assets by `docs.install`
        redoc_url=None,
    )
    app.state.context = ctx
    for module in ROUTERS:
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(health.router)
    docs.install(app, "caffebatch")
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
