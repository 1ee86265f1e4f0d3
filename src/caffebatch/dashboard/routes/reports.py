"""A run's error report (errors.jsonl), read back from the run's output location.

The service reads it (`caffebatch.service.runfiles`), with the deployment's stored
connection, so the browser never needs the keys.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from caffebatch.dashboard.progress import progress_of
from caffebatch.dashboard.web import DashboardDep, ViewerDep, render
from caffebatch.errors import ObjectNotFoundError, StorageError
from caffebatch.service import deployments, models, runfiles

router = APIRouter(prefix="/deployments")

SHOWN_ERRORS = 1000  # the page lists this many; the download has them all


def _entries(data: bytes) -> list[dict[str, Any]]:
    entries = []
    for line in data.splitlines()[:SHOWN_ERRORS]:
        if line.strip():
            entries.append(orjson.loads(line))
    return entries


@router.get("/{deployment_id}/errors")
def errors_page(request: Request, deployment_id: str, dashboard: DashboardDep,
                viewer: ViewerDep) -> Response:
    principal = viewer.principal
    with dashboard.session() as session:
        deployment = deployments.get_deployment(session, principal, principal.instance_id,
                                                deployment_id)
        model = models.get_model(session, principal, principal.instance_id, deployment.model_id)
    progress = progress_of(deployment.id, deployment.status, deployments.status_details(deployment))
    entries, problem = [], None
    if progress.active:
        problem = "The error report is written when the run ends; the first errors are below."
        entries = progress.errors
    else:
        try:
            entries = _entries(runfiles.read_error_report(
                dashboard.ctx, principal, principal.instance_id, deployment_id))
        except ObjectNotFoundError:
            problem = "This run wrote no error report."
        except StorageError as error:
            problem = f"The error report cannot be read: {error}"
    return render(request, "deployment_errors.html", viewer=viewer, deployment=deployment,
                  model=model, progress=progress, entries=entries, problem=problem,
                  shown=SHOWN_ERRORS)


@router.get("/{deployment_id}/errors.jsonl")
def errors_file(deployment_id: str, dashboard: DashboardDep, viewer: ViewerDep) -> Response:
    principal = viewer.principal
    data = runfiles.read_error_report(dashboard.ctx, principal, principal.instance_id,
                                      deployment_id)
    return Response(data, media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="errors-{deployment_id}.jsonl"',
        "Cache-Control": "no-store",
    })
