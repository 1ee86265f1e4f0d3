"""Deployments: the list with live progress, the create form, details, and delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from caffebatch.dashboard.chart import rate_chart
from caffebatch.dashboard.forms import DeploymentForm, read_form, side_of
from caffebatch.dashboard.progress import ProgressView, progress_of
from caffebatch.dashboard.routes.paging import Pager
from caffebatch.dashboard.session import Viewer
from caffebatch.dashboard.web import (
    Dashboard,
    DashboardDep,
    PostedForm,
    ViewerDep,
    redirect,
    render,
    status_of,
)
from caffebatch.errors import CaffebatchError
from caffebatch.service import deployments, gallery, models
from caffebatch.service.identity import Principal
from caffebatch.service.resources import DeploymentInfo, ModelInfo
from caffebatch.service.throughput import rates

router = APIRouter(prefix="/deployments")


@router.get("")
def deployment_list(request: Request, dashboard: DashboardDep, viewer: ViewerDep,
                    start: int = 0) -> Response:
    """One page of the instance's deployments, newest first; `?start=N` skips the first N."""
    principal = viewer.principal
    with dashboard.session() as session:
        rows = deployments.list_deployments(session, principal, principal.instance_id)
        pager = Pager.at(start, len(rows))
        shown = rows[::-1][pager.start:pager.start + pager.size]
        # the names of the models the shown deployments run, and of no others
        shown_models = models.models_by_id(session, principal, {d.model_id for d in shown})
    names = {model_id: model.name for model_id, model in shown_models.items()}
    runs = [(d, _progress(d)) for d in shown]
    return render(request, "deployments.html", viewer=viewer, runs=runs, names=names,
                  pager=pager)


@router.get("/progress.json")
def list_progress(dashboard: DashboardDep, viewer: ViewerDep) -> JSONResponse:
    """What the list's progress bars poll: every deployment's progress, by id."""
    principal = viewer.principal
    with dashboard.session() as session:
        rows = deployments.list_deployments(session, principal, principal.instance_id)
    return JSONResponse({d.id: _progress(d).to_json() for d in rows},
                        headers={"Cache-Control": "no-store"})


def _progress(deployment: DeploymentInfo) -> ProgressView:
    return progress_of(deployment.id, deployment.status, deployments.status_details(deployment))


def _all_models(session: Session, principal: Principal) -> list[ModelInfo]:
    """Every model of the instance, read a page at a time: the form offers them all."""
    found: list[ModelInfo] = []
    while True:
        page = models.list_models(session, principal, principal.instance_id, 500, len(found))
        found += page.models
        if not page.models or len(found) >= page.total:
            return found


def _form_page(request: Request, dashboard: Dashboard, viewer: Viewer, shown: DeploymentForm,
               status: int = 200) -> Response:
    """The create form, with the instance's models that have content to run."""
    principal = viewer.principal
    with dashboard.session() as session:
        ready = [m for m in _all_models(session, principal) if m.latest_version_id is not None]
    roots = [str(root) for root in dashboard.ctx.settings.local_roots]
    return render(request, "deployment_new.html", status, viewer=viewer, form=shown,
                  models=ready, local_roots=roots)


@router.get("/new")
def create_form(request: Request, dashboard: DashboardDep, viewer: ViewerDep,
                model: str = "") -> Response:
    shown = DeploymentForm({"model": model, "input_kind": "s3", "output_kind": "s3",
                            "max_error_ratio": "0.1"})
    return _form_page(request, dashboard, viewer, shown)


@router.post("")
def create(request: Request, dashboard: DashboardDep, viewer: ViewerDep,
           form: PostedForm) -> Response:
    spec, shown = read_form(form)
    model_id = shown.values.get("model", "")
    if not model_id:
        shown.errors["model"] = "Choose the model to run."
    if spec is None or shown.errors:
        return _form_page(request, dashboard, viewer, shown, 400)
    principal = viewer.principal
    try:
        with dashboard.session() as session:
            deployment = deployments.create_deployment(
                dashboard.ctx, session, principal, principal.instance_id, model_id, spec
            )
            deployment_id = deployment.id
    except CaffebatchError as error:
        shown.errors[side_of(str(error))] = str(error)
        return _form_page(request, dashboard, viewer, shown, status_of(error))
    return redirect(request, f"/deployments/{deployment_id}")


def _details(dashboard: Dashboard, principal: Principal,
             deployment_id: str) -> tuple[DeploymentInfo, ModelInfo]:
    with dashboard.session() as session:
        deployment = deployments.get_deployment(session, principal, principal.instance_id,
                                                deployment_id)
        model = models.get_model(session, principal, principal.instance_id, deployment.model_id)
    return deployment, model


@router.get("/{deployment_id}")
def details(request: Request, deployment_id: str, dashboard: DashboardDep,
            viewer: ViewerDep) -> Response:
    deployment, model = _details(dashboard, viewer.principal, deployment_id)
    principal = viewer.principal
    shown, problem = [], None
    try:
        shown = gallery.gallery(dashboard.ctx, principal, principal.instance_id, deployment_id)
    except CaffebatchError as error:  # the page shows the run even when its storage is away
        problem = f"The inputs cannot be shown: {error}"
    return render(request, "deployment.html", viewer=viewer, deployment=deployment, model=model,
                  progress=_progress(deployment), input=deployment.input,
                  output=deployment.output, gallery=shown, gallery_problem=problem,
                  chart=rate_chart(rates(deployment.progress)))


@router.get("/{deployment_id}/progress.json")
def progress(deployment_id: str, dashboard: DashboardDep, viewer: ViewerDep) -> JSONResponse:
    deployment, _ = _details(dashboard, viewer.principal, deployment_id)
    return JSONResponse({deployment.id: _progress(deployment).to_json()},
                        headers={"Cache-Control": "no-store"})


@router.get("/{deployment_id}/delete")
def confirm_delete(request: Request, deployment_id: str, dashboard: DashboardDep,
                   viewer: ViewerDep) -> Response:
    deployment, model = _details(dashboard, viewer.principal, deployment_id)
    return render(request, "deployment_delete.html", viewer=viewer, deployment=deployment,
                  model=model, progress=_progress(deployment))


@router.post("/{deployment_id}/delete")
def delete(request: Request, deployment_id: str, dashboard: DashboardDep, viewer: ViewerDep,
           form: PostedForm) -> Response:
    principal = viewer.principal
    with dashboard.session() as session:
        deployments.delete_deployment(dashboard.ctx, session, principal, principal.instance_id,
                                      deployment_id)
    return redirect(request, "/deployments?done=deployment-deleted")
