"""Published models and their content, under the instance (the seed's paths) and under
/v3/ml_assets/models (the v3 client's): one handler per operation, routed from both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from caffebatch.api import views
from caffebatch.api.deps import BaseUrl, ContextDep, CurrentUser, SessionDep
from caffebatch.api.paths import PathScope, add_routes
from caffebatch.api.schemas import (
    EmptyList,
    JsonPatchOperation,
    Link,
    PublishedModelCreate,
    PublishedModelList,
    PublishedModelPublic,
)
from caffebatch.errors import InvalidRequestError
from caffebatch.service import models, uploads

router = APIRouter(tags=["published_models"])

MODELS = "/v3/wml_instances/{instance_id}/published_models"
ASSETS = "/v3/ml_assets/models"
MODEL_PATHS = (MODELS + "/{model_id}", ASSETS + "/{model_id}")

PACKAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def receive_upload(request: Request, ctx: ContextDep) -> AsyncIterator[Path]:
    """The request body, received as the service receives every package (413 past the limit)."""
    with uploads.receive_package(ctx, request.headers.get("content-length")) as upload:
        async for chunk in request.stream():
            upload.write(chunk)
        yield upload.finish()


Upload = Annotated[Path, Depends(receive_upload, scope="function")]


def list_models(
    instance_id: str,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    start: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> PublishedModelList:
    """A page of the instance's models; `next` only when there is a next page."""
    page = models.list_models(session, user, instance_id, limit, start)
    url = f"{views.instance_url(base, instance_id)}/published_models"
    following = start + len(page.models)
    return PublishedModelList(
        limit=limit,
        count=page.total,
        resources=[views.model_public(m, page.deployment_counts[m.id], base) for m in page.models],
        first=Link(url=f"{url}?limit={limit}"),
        next=Link(url=f"{url}?limit={limit}&start={following}") if following < page.total else None,
    )


router.add_api_route(MODELS, list_models, methods=["GET"], summary="List the instance's models")
# the seed's curl lists with a trailing slash; answer it directly instead of redirecting
router.add_api_route(MODELS + "/", list_models, methods=["GET"], include_in_schema=False)


def create_model(
    body: PublishedModelCreate,
    scope: PathScope,
    ctx: ContextDep,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
) -> PublishedModelPublic:
    """A model from metadata; `entity.model_version.content_url` is where its package goes."""
    model = models.create_model(
        ctx, session, user, scope.instance_id, body.name, body.description, body.chosen_type()
    )
    slot = models.next_version_id(session, user, model.id)
    return views.model_public(model, 0, base, next_version=slot)


add_routes(
    router,
    (MODELS, ASSETS),
    create_model,
    methods=["POST"],
    status_code=201,
    summary="Create a model from metadata (`model_type`, or the v3 client's `framework`)",
)


def get_model(
    model_id: str, scope: PathScope, session: SessionDep, user: CurrentUser, base: BaseUrl
) -> PublishedModelPublic:
    """A model's details."""
    model = models.get_model(session, user, scope.instance_id, model_id)
    return views.model_public(model, models.deployment_counts(session, [model.id])[model.id], base)


add_routes(router, MODEL_PATHS, get_model, methods=["GET"], summary="A model's details")


def put_content(
    model_id: str,
    scope: PathScope,
    upload: Upload,
    ctx: ContextDep,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
) -> PublishedModelPublic:
    """Validate and compile the package; it becomes the model's latest version (with the
    path's version id, when the path names one)."""
    models.publish_content(
        ctx, session, user, scope.instance_id, model_id, upload, version_id=scope.version_id
    )
    return get_model(model_id, scope, session, user, base)


add_routes(
    router,
    (MODELS + "/{model_id}/content", ASSETS + "/{model_id}/versions/{version_id}/content"),
    put_content,
    methods=["PUT"],
    summary="Upload the model package (.tar.gz or .zip)",
    openapi_extra=PACKAGE_BODY,
)


def patch_model(
    model_id: str,
    operations: list[JsonPatchOperation],
    scope: PathScope,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
) -> PublishedModelPublic:
    """JSON Patch: ``replace`` of ``/deployed_version/url`` with one of the model's version
    urls chooses the version new deployments run (it becomes `latest_version`)."""
    for operation in operations:
        if operation.path != "/deployed_version/url":
            raise InvalidRequestError(
                f"a model's patch may change '/deployed_version/url' only, not {operation.path!r}",
                code="unsupported_patch",
            )
        if not isinstance(operation.value, str) or "/versions/" not in operation.value:
            raise InvalidRequestError(
                "/deployed_version/url takes a version url, .../ml_assets/models/{model_id}/"
                f"versions/{{version_id}}; got {operation.value!r}",
                code="invalid_version_url",
            )
        version_id = operation.value.rstrip("/").rpartition("/")[2]
        models.choose_version(session, user, scope.instance_id, model_id, version_id)
    return get_model(model_id, scope, session, user, base)


add_routes(
    router,
    MODEL_PATHS,
    patch_model,
    methods=["PATCH"],
    summary="Choose the version new deployments run (JSON Patch on /deployed_version/url)",
)


def delete_model(
    model_id: str, scope: PathScope, ctx: ContextDep, session: SessionDep, user: CurrentUser
) -> Response:
    """Delete a model, its versions and finished deployments."""
    models.delete_model(ctx, session, user, scope.instance_id, model_id)
    return Response(status_code=204)


add_routes(
    router,
    MODEL_PATHS,
    delete_model,
    methods=["DELETE"],
    status_code=204,
    summary="Delete a model and its versions",
)


def model_feed(
    model_id: str, scope: PathScope, session: SessionDep, user: CurrentUser
) -> EmptyList:
    """The seed's learning and feedback links of a model: caffebatch keeps none of it."""
    models.get_model(session, user, scope.instance_id, model_id)
    return EmptyList()


add_routes(
    router,
    [f"{MODELS}/{{model_id}}/{feed}" for feed in views.MODEL_FEEDS],
    model_feed,
    methods=["GET"],
    summary="A model's training and feedback history (always empty here)",
)
