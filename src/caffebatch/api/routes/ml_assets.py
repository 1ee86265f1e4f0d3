"""/v3/ml_assets/models/{model_id}/versions/{version_id}: a version and its package."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from caffebatch.api import views
from caffebatch.api.deps import BaseUrl, ContextDep, CurrentUser, SessionDep
from caffebatch.api.schemas import VersionPublic
from caffebatch.service import models

router = APIRouter(prefix="/v3/ml_assets/models/{model_id}/versions", tags=["ml_assets"])

MEDIA_TYPES = {"package.tar.gz": "application/gzip", "package.zip": "application/zip"}


@router.get("/{version_id}", summary="A model version")
def get_version(
    model_id: str, version_id: str, session: SessionDep, user: CurrentUser, base: BaseUrl
) -> VersionPublic:
    version = models.get_version(session, user, model_id, version_id)
    return views.version_public(version, models.find_model(session, user, model_id), base)


@router.get(
    "/{version_id}/content",
    summary="The version's package, as uploaded",
    response_class=FileResponse,
    responses={
        200: {
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES.values()
            }
        }
    },
)
def get_version_content(
    model_id: str, version_id: str, ctx: ContextDep, session: SessionDep, user: CurrentUser
) -> FileResponse:
    version = models.get_version(session, user, model_id, version_id)
    path = models.version_dir(ctx, version.id) / version.archive_name
    return FileResponse(
        path, media_type=MEDIA_TYPES[version.archive_name], filename=version.archive_name
    )
