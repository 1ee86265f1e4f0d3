"""Batch deployments, under a model and across the instance."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from caffebatch.api import views
from caffebatch.api.deps import BaseUrl, ContextDep, CurrentUser, SessionDep
from caffebatch.api.paths import PathScope, add_routes
from caffebatch.api.schemas import DeploymentCreate, DeploymentList, DeploymentPublic
from caffebatch.service import deployments, models
from caffebatch.service.identity import Principal
from caffebatch.service.resources import DeploymentInfo

router = APIRouter(prefix="/v3/wml_instances/{instance_id}", tags=["deployments"])

MODEL_DEPLOYMENTS = "/published_models/{model_id}/deployments"


def _public(
    session: Session, user: Principal, deployment: DeploymentInfo, base: str
) -> DeploymentPublic:
    model = models.find_model(session, user, deployment.model_id)  # they cascade together
    return views.deployment_public(deployment, model, base)


def _list(
    session: Session, user: Principal, rows: list[DeploymentInfo], base: str
) -> DeploymentList:
    named = models.models_by_id(session, user, {d.model_id for d in rows})
    resources = [views.deployment_public(d, named[d.model_id], base) for d in rows]
    return DeploymentList(count=len(rows), resources=resources)


@router.get("/deployments", summary="All deployments of the instance")
def list_instance_deployments(
    instance_id: str, session: SessionDep, user: CurrentUser, base: BaseUrl
) -> DeploymentList:
    return _list(session, user, deployments.list_deployments(session, user, instance_id), base)


@router.get(MODEL_DEPLOYMENTS, summary="A model's deployments")
def list_model_deployments(
    instance_id: str, model_id: str, session: SessionDep, user: CurrentUser, base: BaseUrl
) -> DeploymentList:
    rows = deployments.list_deployments(session, user, instance_id, model_id)
    return _list(session, user, rows, base)


@router.post(MODEL_DEPLOYMENTS, status_code=202, summary="Create a batch deployment")
def create_deployment(
    instance_id: str,
    model_id: str,
    body: DeploymentCreate,
    ctx: ContextDep,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
) -> DeploymentPublic:
    spec = body.to_spec()
    deployment = deployments.create_deployment(ctx, session, user, instance_id, model_id, spec)
    return _public(session, user, deployment, base)


# a deployment by its id: under its model (the seed's url) or under the instance (the v3 client's)
DEPLOYMENT_PATHS = (MODEL_DEPLOYMENTS + "/{deployment_id}", "/deployments/{deployment_id}")


def get_deployment(
    instance_id: str,
    deployment_id: str,
    scope: PathScope,
    session: SessionDep,
    user: CurrentUser,
    base: BaseUrl,
) -> DeploymentPublic:
    """A deployment's status and progress."""
    deployment = deployments.get_deployment(
        session, user, instance_id, deployment_id, scope.model_id
    )
    return _public(session, user, deployment, base)


add_routes(
    router, DEPLOYMENT_PATHS, get_deployment, methods=["GET"],
    summary="A deployment's status and progress",
)


def delete_deployment(
    instance_id: str,
    deployment_id: str,
    scope: PathScope,
    ctx: ContextDep,
    session: SessionDep,
    user: CurrentUser,
) -> Response:
    """Cancel a running deployment and remove it."""
    deployments.delete_deployment(
        ctx, session, user, instance_id, deployment_id, scope.model_id
    )
    return Response(status_code=204)


add_routes(
    router, DEPLOYMENT_PATHS, delete_deployment, methods=["DELETE"], status_code=204,
    summary="Cancel a running deployment and remove it",
)
