"""A run's error report (errors.jsonl), read from the run's output location.

A run writes ``_caffebatch/<deployment id>/errors.jsonl`` to its target when it ends (see
`caffebatch.jobs.run`); the dashboard reads it back through the same storage layer, with
the deployment's stored (decrypted) connection, so the browser never needs the keys.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from caffebatch.dashboard.progress import progress_of
from caffebatch.dashboard.web import Dashboard, DashboardDep, ViewerDep, render
from caffebatch.errors import ObjectNotFoundError, StorageError
from caffebatch.service import connections, deployments, models
from caffebatch.store.tables import Deployment

router = APIRouter(prefix="/deployments")

MAX_REPORT_BYTES = 64 * 1024 * 1024
SHOWN_ERRORS = 1000  # the page lists this many; the download has them all


def read_report(dashboard: Dashboard, deployment: Deployment) -> bytes:
    """The run's errors.jsonl; StorageError when it cannot be read (or is not written yet)."""
    from caffebatch.jobs.run import RUN_FOLDER
    from caffebatch.jobs.spec import RetryPolicy
    from caffebatch.jobs.storage import open_storage

    ctx = dashboard.ctx
    secrets = ctx.keys.decrypt(deployment.secrets)
    target = connections.location(deployment.output, secrets["target"], ctx.settings, "target")
    storage = open_storage(target, RetryPolicy(attempts=3), connections=1)
    try:
        data = storage.get(f"{RUN_FOLDER}/{deployment.id}/errors.jsonl", MAX_REPORT_BYTES)
    finally:
        storage.close()
    if len(data) > MAX_REPORT_BYTES:
        raise StorageError(f"the error report is over {MAX_REPORT_BYTES} bytes; read it from "
                           "the output location directly")
    return data


def _entries(data: bytes) -> list[dict]:
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
            entries = _entries(read_report(dashboard, deployment))
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
    with dashboard.session() as session:
        deployment = deployments.get_deployment(session, principal, principal.instance_id,
                                                deployment_id)
    data = read_report(dashboard, deployment)
    return Response(data, media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="errors-{deployment.id}.jsonl"',
        "Cache-Control": "no-store",
    })
