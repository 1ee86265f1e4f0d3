"""Published models and their versions: create, publish content, list, get, delete.

Publishing opens the uploaded archive into the version's own folder
(`<home>/models/<version id>/package`), compiles it with the engine once, and keeps the compiled
model beside it (`model.onnx`, `compiled.json`; runs and pages load it from there) and the
upload itself (`package.tar.gz` or `package.zip`).
When anything fails, the folder is removed and the database change rolled back.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from caffebatch.errors import ConflictError, InvalidRequestError, NotFoundError
from caffebatch.service.context import ServiceContext
from caffebatch.service.identity import Principal
from caffebatch.service.usage import require_room
from caffebatch.store import states
from caffebatch.store.tables import Deployment, ModelVersion, PublishedModel, new_id

MODEL_TYPES = frozenset({"caffe-1.0"})

# the first bytes of an upload -> the archive kind it is
ARCHIVE_MAGIC = {b"\x1f\x8b": "package.tar.gz", b"PK\x03\x04": "package.zip"}


def create_model(
    ctx: ServiceContext,
    session: Session,
    principal: Principal,
    instance_id: str,
    name: str,
    description: str,
    model_type: str,
) -> PublishedModel:
    """A model with metadata only; its content comes with `publish_content`."""
    principal.require_instance(instance_id)
    if model_type not in MODEL_TYPES:
        raise InvalidRequestError(
            f"model_type must be one of {sorted(MODEL_TYPES)}, not {model_type!r}",
            code="unsupported_model_type",
        )
    require_room(session, ctx.settings, instance_id, "model_count")
    model = PublishedModel(
        instance_id=instance_id, name=name, description=description, model_type=model_type
    )
    session.add(model)
    session.flush()
    return model


def get_model(
    session: Session, principal: Principal, instance_id: str, model_id: str
) -> PublishedModel:
    """A model of the caller's instance; NotFoundError for any other."""
    principal.require_instance(instance_id)
    return find_model(session, principal, model_id)


def find_model(session: Session, principal: Principal, model_id: str) -> PublishedModel:
    model = session.get(PublishedModel, model_id)
    if model is None or model.instance_id != principal.instance_id:
        raise NotFoundError(f"no published model {model_id!r} in this instance")
    return model


@dataclass(frozen=True)
class ModelPage:
    models: list[PublishedModel]
    deployment_counts: dict[str, int]
    total: int


def list_models(
    session: Session, principal: Principal, instance_id: str, limit: int, start: int
) -> ModelPage:
    principal.require_instance(instance_id)
    scope = PublishedModel.instance_id == instance_id
    total = session.scalar(select(func.count()).select_from(PublishedModel).where(scope)) or 0
    models = list(
        session.scalars(
            select(PublishedModel)
            .where(scope)
            .order_by(PublishedModel.created_at, PublishedModel.id)
            .offset(start)
            .limit(limit)
        )
    )
    return ModelPage(models, deployment_counts(session, [m.id for m in models]), int(total))


def deployment_counts(session: Session, model_ids: list[str]) -> dict[str, int]:
    rows = session.execute(
        select(Deployment.model_id, func.count())
        .where(Deployment.model_id.in_(model_ids))
        .group_by(Deployment.model_id)
    )
    counts = {model_id: 0 for model_id in model_ids}
    counts.update({model_id: int(count) for model_id, count in rows})
    return counts


def publish_content(
    ctx: ServiceContext,
    session: Session,
    principal: Principal,
    instance_id: str,
    model_id: str,
    upload: Path,
) -> ModelVersion:
    """Validate and compile the uploaded archive; it becomes the model's latest version."""
    model = get_model(session, principal, instance_id, model_id)
    with upload.open("rb") as stream:
        head = stream.read(4)
    archive_name = next((n for magic, n in ARCHIVE_MAGIC.items() if head.startswith(magic)), None)
    if archive_name is None:
        raise InvalidRequestError(
            "the model content must be a .tar.gz or .zip archive of the model folder",
            code="invalid_archive",
        )
    version = ModelVersion(id=new_id(), model_id=model.id, archive_name=archive_name)
    folder = version_dir(ctx, version.id)
    try:
        folder.mkdir(parents=True)
        archive = folder / archive_name
        shutil.copyfile(upload, archive)
        version.meta = _compile_into(ctx, archive, folder)
        session.add(version)
        model.latest_version_id = version.id
        session.flush()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return version


def _compile_into(ctx: ServiceContext, archive: Path, folder: Path) -> dict:
    """Open and compile the package in `folder`; what the version shows of it."""
    from caffebatch.compiler.artifact import save_compiled
    from caffebatch.jobs import default_batch_size
    from caffebatch.model import choose_engine, compile_package
    from caffebatch.package import PackageLimits, open_package
    from caffebatch.runtime.backends import AUTO

    settings = ctx.settings
    limits = PackageLimits(
        max_archive_bytes=settings.max_package_bytes,
        max_unpacked_bytes=settings.max_unpacked_bytes,
        max_files=settings.max_package_files,
    )
    (folder / "package").mkdir()
    package = open_package(archive, folder / "package", limits=limits)
    compiled = compile_package(package)
    if settings.engine == AUTO:  # measured once, here; runs reuse the recorded choice
        compiled = choose_engine(
            compiled, AUTO, batch=default_batch_size(compiled.declared_batch)
        )
    save_compiled(compiled, folder)
    return {
        "package_root": package.root.relative_to(folder).as_posix(),
        "input_layers": list(package.meta.input_layers),
        "output_layers": list(package.meta.output_layers),
        "inputs": {name: list(shape) for name, shape in compiled.inputs.items()},
        "outputs": list(compiled.outputs),
    }


def version_dir(ctx: ServiceContext, version_id: str) -> Path:
    return ctx.settings.models_dir / version_id


def get_version(
    session: Session, principal: Principal, model_id: str, version_id: str
) -> ModelVersion:
    model = find_model(session, principal, model_id)
    version = session.get(ModelVersion, version_id)
    if version is None or version.model_id != model.id:
        raise NotFoundError(f"no version {version_id!r} of model {model_id!r}")
    return version


def delete_model(
    ctx: ServiceContext, session: Session, principal: Principal, instance_id: str, model_id: str
) -> None:
    """Delete a model, its versions and finished deployments; 409 while a run is active."""
    model = get_model(session, principal, instance_id, model_id)
    deployments = list(session.scalars(select(Deployment).where(Deployment.model_id == model.id)))
    active = [d.id for d in deployments if d.status in states.ACTIVE]
    if active:
        raise ConflictError(
            f"model {model_id!r} has {len(active)} active deployment(s) ({', '.join(active)}); "
            "delete them first",
            code="model_in_use",
        )
    folders = [version_dir(ctx, v.id) for v in model.versions]
    for deployment in deployments:
        session.delete(deployment)
    session.delete(model)
    session.flush()

    # The files go only once the rows are gone for good: a failed commit keeps both.
    def remove_files(_: Session) -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    event.listen(session, "after_commit", remove_files, once=True)
