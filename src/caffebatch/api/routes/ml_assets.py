"""A model's versions and their packages, under /v3/ml_assets/models/{model_id} and (for the
v3 client) under the instance's published_models/{model_id}."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from caffebatch.api import views
from caffebatch.api.deps import BaseUrl, ContextDep, CurrentUser, SessionDep
from caffebatch.api.paths import PathScope, add_routes
from caffebatch.api.schemas import PublishedModelCreate, VersionCreated, VersionPublic
from caffebatch.errors import InvalidRequestError, NotFoundError
from caffebatch.service import models

router = APIRouter(tags=["ml_assets"])

ASSET = "/v3/ml_assets/models/{model_id}"
PUBLISHED = "/v3/wml_instances/{instance_id}/published_models/{model_id}"

MEDIA_TYPES = {"package.tar.gz": "application/gzip", "package.zip": "application/zip"}
CONTENT_RESPONSES = {
    200: {
        "content": {
            t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES.values()
        }
    }
}


def get_version(
    model_id: str,
    version_id: str,
    scope: PathScope,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
) -> VersionPublic:
    """A model version."""
    model = models.get_model(session, user, scope.instance_id, model_id)
    version = models.get_version(session, user, model_id, version_id)
    return views.version_public(version, model, base)


add_routes(
    router,
    (ASSET + "/versions/{version_id}", PUBLISHED + "/versions/{version_id}"),
    get_version,
    methods=["GET"],
    summary="A model version",
)


def get_content(
    model_id: str, scope: PathScope, ctx: ContextDep, session: SessionDep, user: CurrentUser
) -> FileResponse:
    """The package of the path's version, or of the latest one, as uploaded."""
    if scope.version_id is not None:
        version = models.get_version(session, user, model_id, scope.version_id)
    else:
        latest = models.get_model(session, user, scope.instance_id, model_id).latest
        if latest is None:
            raise NotFoundError(f"model {model_id!r} has no content yet")
        version = latest
    path = models.version_dir(ctx, version.id) / version.archive_name
    return FileResponse(
        path, media_type=MEDIA_TYPES[version.archive_name], filename=version.archive_name
    )


add_routes(
    router,
    (ASSET + "/versions/{version_id}/content", ASSET + "/content"),
    get_content,
    methods=["GET"],
    summary="A version's package, as uploaded (the latest version's without a version id)",
    response_class=FileResponse,
    responses=CONTENT_RESPONSES,
)


def create_version(
    model_id: str,
    scope: PathScope,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
    body: PublishedModelCreate | None = None,
) -> VersionCreated:
    """A new version of the model: PUT its package to `entity.model_version.content_url`."""
    model = models.get_model(session, user, scope.instance_id, model_id)
    if body is not None and body.chosen_type() != model.model_type:
        raise InvalidRequestError(
            f"model {model_id!r} is {model.model_type}; a new version cannot be "
            f"{body.chosen_type()}",
            code="model_type_mismatch",
        )
    slot = views.version_slot(base, model.id, models.next_version_id(session, user, model.id))
    return VersionCreated.of(slot, views.model_url(base, model))


add_routes(
    router, (ASSET,), create_version, methods=["POST"], status_code=201,
    summary="Start a new version of a model (the v3 client's create_version)",
)
