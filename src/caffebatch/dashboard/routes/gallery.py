"""A run's image inputs as the server's thumbnails (the deployment page shows the gallery)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from caffebatch.dashboard.web import DashboardDep, ViewerDep
from caffebatch.service import thumbnails

router = APIRouter(prefix="/deployments")


@router.get("/{deployment_id}/thumbnails/{key}")
def thumbnail(deployment_id: str, key: str, dashboard: DashboardDep,
              viewer: ViewerDep) -> Response:
    """Input `key` of the deployment as a PNG at most 160 pixels a side, its boxes drawn."""
    principal = viewer.principal
    png = thumbnails.thumbnail(dashboard.ctx, principal, principal.instance_id, deployment_id,
                               key)
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=300"})
