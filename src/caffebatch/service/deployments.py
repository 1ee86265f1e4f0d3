"""Batch deployments: create (queued for the worker pool), list, get, delete (cancels).

`status_details` (the stored `progress`) follows DESIGN.md: status, total, scored, failed,
skipped, started_at, finished_at, records_per_second, the first errors, and failure.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caffebatch.errors import ConflictError, InvalidRequestError, NotFoundError, RunError
from caffebatch.jobs import StatusDetails, plan_run
from caffebatch.service import connections
from caffebatch.service.context import ServiceContext
from caffebatch.service.identity import Principal
from caffebatch.service.models import model_row
from caffebatch.service.resources import DeploymentInfo
from caffebatch.service.spec import DeploymentSpec
from caffebatch.service.transforms import check_override
from caffebatch.service.usage import require_room
from caffebatch.store import leases, states
from caffebatch.store.tables import Deployment, ModelVersion, Usage


def create_deployment(
    ctx: ServiceContext,
    session: Session,
    principal: Principal,
    instance_id: str,
    model_id: str,
    spec: DeploymentSpec,
) -> DeploymentInfo:
    """Queue a batch run of the model's latest version; the worker pool picks it up."""
    model = model_row(session, principal, instance_id, model_id)
    if model.latest_version_id is None:
        raise InvalidRequestError(
            f"model {model_id!r} has no content yet; PUT the model package to "
            ".../published_models/{id}/content first",
            code="model_has_no_content",
        )
    if spec.options.transform:
        version = session.get(ModelVersion, model.latest_version_id)
        meta = version.meta if version is not None else {}
        check_override(spec.options.transform, meta,
                       ctx.settings.models_dir / model.latest_version_id)
    require_room(
        session,
        ctx.settings,
        instance_id,
        "deployment_count",
        "prediction_count",
        "computation_time",
    )
    source_block, source_secrets = connections.split_secrets(spec.input)
    target_block, target_secrets = connections.split_secrets(spec.output)
    source = connections.location(spec.input, source_secrets, ctx.settings)
    target = connections.location(spec.output, target_secrets, ctx.settings)
    try:
        plan_run(source, target)  # the batch size is checked when the run starts
    except RunError as error:
        raise InvalidRequestError(error.message, code="same_location") from error
    deployment = Deployment(
        instance_id=instance_id,
        model_id=model.id,
        version_id=model.latest_version_id,
        name=spec.name or model.name,
        description=spec.description,
        status=states.INITIALIZING,
        input=source_block,
        output=target_block,
        secrets=ctx.keys.encrypt({"source": source_secrets, "target": target_secrets}),
        options=spec.options.stored(),
        progress={"status": states.INITIALIZING},
    )
    session.add(deployment)
    session.flush()
    session.add(Usage(deployment_id=deployment.id, instance_id=instance_id))
    ctx.wake.set()
    return DeploymentInfo.of(deployment)


def list_deployments(
    session: Session, principal: Principal, instance_id: str, model_id: str | None = None
) -> list[DeploymentInfo]:
    """The instance's deployments, or one model's, oldest first."""
    principal.require_instance(instance_id)
    query = select(Deployment).where(Deployment.instance_id == instance_id)
    if model_id is not None:
        model_row(session, principal, instance_id, model_id)
        query = query.where(Deployment.model_id == model_id)
    rows = session.scalars(query.order_by(Deployment.created_at, Deployment.id))
    return [DeploymentInfo.of(row) for row in rows]


def get_deployment(
    session: Session,
    principal: Principal,
    instance_id: str,
    deployment_id: str,
    model_id: str | None = None,
) -> DeploymentInfo:
    """A deployment of the caller's instance (and of `model_id`, when given)."""
    return DeploymentInfo.of(deployment_row(session, principal, instance_id, deployment_id, model_id))


def deployment_row(
    session: Session,
    principal: Principal,
    instance_id: str,
    deployment_id: str,
    model_id: str | None = None,
) -> Deployment:
    """The deployment's row, for the service's own use; NotFoundError as `get_deployment`."""
    principal.require_instance(instance_id)
    deployment = session.get(Deployment, deployment_id)
    if (
        deployment is None
        or deployment.instance_id != instance_id
        or (model_id is not None and deployment.model_id != model_id)
    ):
        raise NotFoundError(f"no deployment {deployment_id!r} in this instance")
    return deployment


def delete_deployment(
    ctx: ServiceContext,
    session: Session,
    principal: Principal,
    instance_id: str,
    deployment_id: str,
    model_id: str | None = None,
) -> None:
    """Cancel the run wherever it is in flight, then remove the deployment.

    It waits for the run to end, so that no result lands after the answer: the writes under
    way finish (each within the storage's outage budget) and the queued ones are dropped.
    A run on another server is asked through the store (`leases.mark_deleting`) and waited
    for the same way. A run still ending after `cancel_wait_s` is a ConflictError (DELETE
    again); the run carries on stopping, and the row goes once it has.
    """
    deployment = deployment_row(session, principal, instance_id, deployment_id, model_id)
    if deployment.status == states.RUNNING and not _stopped(ctx, deployment):
        raise ConflictError(f"the run of deployment {deployment_id!r} is still finishing its "
                            "writes; send the DELETE again", code="run_stopping")
    session.execute(delete(Deployment).where(Deployment.id == deployment.id))


def _stopped(ctx: ServiceContext, deployment: Deployment) -> bool:
    """Whether the run of this RUNNING deployment ended within `cancel_wait_s`."""
    wait_s = ctx.settings.cancel_wait_s
    if deployment.id in ctx.runs.ids() or deployment.lease_owner is None:
        return ctx.runs.cancel(deployment.id, wait_s)
    with ctx.db.session() as session:
        leases.mark_deleting(session, deployment.id)
    deadline = time.monotonic() + wait_s
    while True:
        with ctx.db.session() as session:
            stopping = session.scalar(
                select(Deployment.id).where(
                    Deployment.id == deployment.id, ~leases.stopped_elsewhere()
                )
            )
        if stopping is None:  # stopped, or already removed by a heartbeat's clean-up
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(min(0.2, ctx.settings.lease_s / 10))
def status_details(deployment: Deployment | DeploymentInfo) -> StatusDetails:
    """A deployment's stored progress as status details, with the deployment's own status."""
    return StatusDetails.from_json({**(deployment.progress or {}), "status": deployment.status})
