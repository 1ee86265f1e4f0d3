"""Models: the list, one model's versions and layers, the upload form, and delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from caffebatch.dashboard.progress import progress_of
from caffebatch.dashboard.routes.paging import PAGE_SIZE, Pager
from caffebatch.dashboard.web import (
    DashboardDep,
    PostedForm,
    ViewerDep,
    redirect,
    render,
    status_of,
)
from caffebatch.errors import CaffebatchError, ModelError, PayloadTooLargeError
from caffebatch.service import deployments, models, uploads

router = APIRouter(prefix="/models")


@router.get("")
def model_list(request: Request, dashboard: DashboardDep, viewer: ViewerDep,
               start: int = 0) -> Response:
    """One page of the instance's models, oldest first; `?start=N` skips the first N."""
    principal = viewer.principal
    with dashboard.session() as session:
        page = models.list_models(session, principal, principal.instance_id, PAGE_SIZE,
                                  max(0, start))
        pager = Pager.at(start, page.total)
        if pager.start != start:  # past the end: show the last page there is
            page = models.list_models(session, principal, principal.instance_id, PAGE_SIZE,
                                      pager.start)
    return render(request, "models.html", viewer=viewer, page=page, pager=pager)


@router.get("/new")
def upload_form(request: Request, viewer: ViewerDep) -> Response:
    return render(request, "model_new.html", viewer=viewer, values={}, errors={})


@router.post("")
def upload(request: Request, dashboard: DashboardDep, viewer: ViewerDep,
           form: PostedForm) -> Response:
    """Create the model and publish its package in one transaction: both or neither."""
    values = {"name": str(form.get("name") or "").strip(),
              "description": str(form.get("description") or "").strip()}
    package = form.get("package")
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Give the model a name."
    if not isinstance(package, UploadFile) or not package.filename:
        errors["package"] = "Choose the model package: a .tar.gz or .zip of the model folder."
    if errors:
        return render(request, "model_new.html", 400, viewer=viewer, values=values, errors=errors)
    assert isinstance(package, UploadFile)
    principal, ctx = viewer.principal, dashboard.ctx
    try:
        with uploads.receive_package(ctx, str(package.size) if package.size else None) as upload:
            upload.copy_from(package.file)
            received = upload.finish()
            with dashboard.session() as session:
                model = models.create_model(ctx, session, principal, principal.instance_id,
                                            values["name"], values["description"], "caffe-1.0")
                models.publish_content(ctx, session, principal, principal.instance_id,
                                       model.id, received)
                model_id = model.id
    except CaffebatchError as error:
        errors["package" if _about_content(error) else "form"] = str(error)
        return render(request, "model_new.html", status_of(error), viewer=viewer,
                      values=values, errors=errors)
    return redirect(request, f"/models/{model_id}")


def _about_content(error: CaffebatchError) -> bool:
    return (isinstance(error, (ModelError, PayloadTooLargeError))
            or getattr(error, "code", None) == "invalid_archive")


@router.get("/{model_id}")
def model_details(request: Request, model_id: str, dashboard: DashboardDep,
                  viewer: ViewerDep) -> Response:
    principal = viewer.principal
    with dashboard.session() as session:
        model = models.get_model(session, principal, principal.instance_id, model_id)
        runs = deployments.list_deployments(session, principal, principal.instance_id, model_id)
    versions, latest = model.versions, model.latest
    layers, layer_error = (), None
    if latest is not None:
        try:
            layers = models.layers_of(dashboard.ctx, latest)
        except ModelError as error:  # the saved compiled form is missing or unreadable
            layer_error = str(error)
    return render(request, "model.html", viewer=viewer, model=model, versions=versions,
                  latest=latest, layers=layers, layer_error=layer_error,
                  runs=[(d, progress_of(d.id, d.status, deployments.status_details(d))) for d in runs])


@router.get("/{model_id}/delete")
def confirm_delete(request: Request, model_id: str, dashboard: DashboardDep,
                   viewer: ViewerDep) -> Response:
    principal = viewer.principal
    with dashboard.session() as session:
        model = models.get_model(session, principal, principal.instance_id, model_id)
        count = models.deployment_counts(session, [model.id])[model.id]
    return render(request, "model_delete.html", viewer=viewer, model=model, count=count,
                  error=None)


@router.post("/{model_id}/delete")
def delete(request: Request, model_id: str, dashboard: DashboardDep, viewer: ViewerDep,
           form: PostedForm) -> Response:
    principal = viewer.principal
    try:
        with dashboard.session() as session:
            models.delete_model(dashboard.ctx, session, principal, principal.instance_id,
                                model_id)
    except CaffebatchError as error:
        with dashboard.session() as session:
            model = models.get_model(session, principal, principal.instance_id, model_id)
            count = models.deployment_counts(session, [model.id])[model.id]
        return render(request, "model_delete.html", status_of(error), viewer=viewer,
                      model=model, count=count, error=str(error))
    return redirect(request, "/models?done=model-deleted")
