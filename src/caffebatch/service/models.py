"""Published models and their versions: create, publish content, list, get, delete.

Publishing opens the uploaded archive into the version's own folder
(`<home>/models/<version id>/package`), compiles it with the engine once, and keeps the compiled
model beside it (`model.onnx`, `compiled.json`; runs and pages load it from there) and the
upload itself (`package.tar.gz` or `package.zip`).
When anything fails, the folder is removed and the database change rolled back.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from caffebatch.errors import ConflictError, InvalidRequestError, NotFoundError
from caffebatch.service.context import ServiceContext
from caffebatch.service.identity import Principal
from caffebatch.service.resources import ModelInfo, VersionInfo
from caffebatch.service.usage import require_room
from caffebatch.store import states
from caffebatch.store.tables import Deployment, ModelVersion, PublishedModel, new_id

log = logging.getLogger("caffebatch.models")

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
) -> ModelInfo:
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
    return ModelInfo.of(model)


def get_model(
    session: Session, principal: Principal, instance_id: str, model_id: str
) -> ModelInfo:
    """A model of the caller's instance; NotFoundError for any other."""
    return ModelInfo.of(model_row(session, principal, instance_id, model_id))


def find_model(session: Session, principal: Principal, model_id: str) -> ModelInfo:
    """A model of the caller's instance, whichever path named it."""
    return ModelInfo.of(_find_row(session, principal, model_id))


def model_row(
    session: Session, principal: Principal, instance_id: str, model_id: str
) -> PublishedModel:
    """The model's row, for the service's own changes; NotFoundError as `get_model`."""
    principal.require_instance(instance_id)
    return _find_row(session, principal, model_id)


def _find_row(session: Session, principal: Principal, model_id: str) -> PublishedModel:
    model = session.get(PublishedModel, model_id)
    if model is None or model.instance_id != principal.instance_id:
        raise NotFoundError(f"no published model {model_id!r} in this instance")
    return model


def models_by_id(
    session: Session, principal: Principal, model_ids: set[str]
) -> dict[str, ModelInfo]:
    """These models of the caller's instance, by id (the others are left out)."""
    rows = session.scalars(
        select(PublishedModel).where(
            PublishedModel.instance_id == principal.instance_id, PublishedModel.id.in_(model_ids)
        )
    )
    return {row.id: ModelInfo.of(row) for row in rows}


@dataclass(frozen=True)
class ModelPage:
    models: list[ModelInfo]
    deployment_counts: dict[str, int]
    total: int


def list_models(
    session: Session, principal: Principal, instance_id: str, limit: int, start: int
) -> ModelPage:
    principal.require_instance(instance_id)
    scope = PublishedModel.instance_id == instance_id
    total = session.scalar(select(func.count()).select_from(PublishedModel).where(scope)) or 0
    models = [
        ModelInfo.of(row)
        for row in session.scalars(
            select(PublishedModel)
            .where(scope)
            .order_by(PublishedModel.created_at, PublishedModel.id)
            .offset(start)
            .limit(limit)
        )
    ]
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
    version_id: str | None = None,
) -> VersionInfo:
    """Validate and compile the uploaded archive; it becomes the model's latest version.

    `version_id` is the id `next_version_id` handed out (a fresh one when None); a version
    is never replaced, so an id in use is a ConflictError.
    """
    model = model_row(session, principal, instance_id, model_id)
    version_id = _unused_version_id(session, version_id)
    with upload.open("rb") as stream:
        head = stream.read(4)
    archive_name = next((n for magic, n in ARCHIVE_MAGIC.items() if head.startswith(magic)), None)
    if archive_name is None:
        raise InvalidRequestError(
            "the model content must be a .tar.gz or .zip archive of the model folder",
            code="invalid_archive",
        )
    version = ModelVersion(id=version_id, model_id=model.id, archive_name=archive_name)
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
    return VersionInfo.of(version)


def next_version_id(session: Session, principal: Principal, model_id: str) -> str:
    """The id the model's next upload will get when sent to its version's content url.

    Nothing is stored: the id is only a name for the upload to take, checked then.
    """
    _find_row(session, principal, model_id)
    return new_id()


def _unused_version_id(session: Session, version_id: str | None) -> str:
    if version_id is None:
        return new_id()
    try:
        canonical = str(uuid.UUID(version_id))
    except ValueError:
        raise InvalidRequestError(
            f"a version id is a UUID, as `model_version.guid` gives; got {version_id!r}",
            code="invalid_version_id",
        ) from None
    if session.get(ModelVersion, canonical) is not None:
        raise ConflictError(
            f"version {canonical!r} already has its content; versions are never replaced: "
            "POST /v3/ml_assets/models/{model_id} for a new one",
            code="version_exists",
        )
    return canonical


def choose_version(
    session: Session, principal: Principal, instance_id: str, model_id: str, version_id: str
) -> VersionInfo:
    """Make one of the model's versions the one new deployments run (its `latest`)."""
    model = model_row(session, principal, instance_id, model_id)
    version = get_version(session, principal, model_id, version_id)
    model.latest_version_id = version.id
    session.flush()
    return version


def _compile_into(ctx: ServiceContext, archive: Path, folder: Path) -> dict[str, Any]:
    """Open and compile the package in `folder`; what the version shows of it."""
    from caffebatch.compiler.artifact import save_compiled
    from caffebatch.jobs import default_batch_size
    from caffebatch.model import choose_engine, compile_package
    from caffebatch.package import open_package
    from caffebatch.runtime.backends import AUTO, F32
    from caffebatch.runtime.choice import deviation_line

    (folder / "package").mkdir()
    package = open_package(archive, folder / "package", limits=ctx.settings.packages)
    compiled = compile_package(package)
    settings = ctx.settings
    if settings.engine == AUTO or settings.precision != F32:
        # measured once, here, at the default batch size; runs reuse the recorded choice
        compiled = choose_engine(
            compiled, settings.engine, batch=default_batch_size(compiled.declared_batch),
            precision=settings.precision,
        )
        if compiled.engine_choice is not None and deviation_line(compiled.engine_choice):
            log.info("published %s: %s", folder.name, deviation_line(compiled.engine_choice))
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


def layers_of(ctx: ServiceContext, version: VersionInfo) -> tuple[Any, ...]:
    """The compiled layers of a version, as publishing saved them; ModelError when unreadable."""
    from caffebatch.compiler.artifact import load_layers

    return tuple(load_layers(version_dir(ctx, version.id)))


def get_version(
    session: Session, principal: Principal, model_id: str, version_id: str
) -> VersionInfo:
    model = _find_row(session, principal, model_id)
    version = session.get(ModelVersion, version_id)
    if version is None or version.model_id != model.id:
        raise NotFoundError(f"no version {version_id!r} of model {model_id!r}")
    return VersionInfo.of(version)


def delete_model(
    ctx: ServiceContext, session: Session, principal: Principal, instance_id: str, model_id: str
) -> None:
    """Delete a model, its versions and finished deployments; 409 while a run is active."""
    model = model_row(session, principal, instance_id, model_id)
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
