"""/v3/wml_instances/{instance_id}/published_models: models and their content."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from caffebatch.api import views
from caffebatch.api.deps import BaseUrl, ContextDep, CurrentUser, SessionDep
from caffebatch.api.schemas import PublishedModelCreate, PublishedModelList, PublishedModelPublic
from caffebatch.service import models, uploads

router = APIRouter(
    prefix="/v3/wml_instances/{instance_id}/published_models", tags=["published_models"]
)

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


@router.get("", summary="List the instance's models")
def list_models(
    instance_id: str,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    start: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> PublishedModelList:
    page = models.list_models(session, user, instance_id, limit, start)
    url = f"{views.instance_url(base, instance_id)}/published_models"
    following = start + len(page.models)
    return PublishedModelList(
        limit=limit,
        count=page.total,
        resources=[views.model_public(m, page.deployment_counts[m.id], base) for m in page.models],
        first={"url": f"{url}?limit={limit}"},
        next={"url": f"{url}?limit={limit}&start={following}"} if following < page.total else None,
    )


# the seed's curl lists with a trailing slash; answer it directly instead of redirecting
router.add_api_route("/", list_models, methods=["GET"], include_in_schema=False)


@router.post("", status_code=201, summary="Create a model from metadata")
def create_model(
    instance_id: str,
    body: PublishedModelCreate,
    ctx: ContextDep,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
) -> PublishedModelPublic:
    model = models.create_model(
        ctx, session, user, instance_id, body.name, body.description, body.model_type
    )
    return views.model_public(model, 0, base)


@router.get("/{model_id}", summary="A model's details")
def get_model(
    instance_id: str, model_id: str, session: SessionDep, user: CurrentUser, base: BaseUrl
) -> PublishedModelPublic:
    model = models.get_model(session, user, instance_id, model_id)
    return views.model_public(model, models.deployment_counts(session, [model.id])[model.id], base)


@router.put(
    "/{model_id}/content",
    summary="Upload the model package (.tar.gz or .zip)",
    openapi_extra=PACKAGE_BODY,
)
def put_content(
    instance_id: str,
    model_id: str,
    upload: Upload,
    ctx: ContextDep,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
) -> PublishedModelPublic:
    models.publish_content(ctx, session, user, instance_id, model_id, upload)
    model = models.get_model(session, user, instance_id, model_id)
    return views.model_public(model, models.deployment_counts(session, [model.id])[model.id], base)


@router.delete("/{model_id}", status_code=204, summary="Delete a model and its versions")
def delete_model(
    instance_id: str, model_id: str, ctx: ContextDep, session: SessionDep, user: CurrentUser
) -> Response:
    models.delete_model(ctx, session, user, instance_id, model_id)
    return Response(status_code=204)
