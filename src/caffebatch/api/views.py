"""The service's values to response bodies, with urls built from the request's base URL."""

from __future__ import annotations

import uuid

from caffebatch.api import schemas
from caffebatch.service.deployments import status_details
from caffebatch.service.instances import InstanceDetails
from caffebatch.service.resources import DeploymentInfo, ModelInfo, VersionInfo

RUNTIME = "caffebatch-onnxruntime"
REGION = "local"  # a self-hosted server has no cloud region
ACCOUNT_TYPE = "SELF_HOSTED"
# a model's training history and feedback: caffebatch keeps none, these answer empty lists
MODEL_FEEDS = ("learning_configuration", "learning_iterations", "feedback", "evaluation_metrics")


def plan_id(plan: str) -> str:
    """The plan's UUID: derived from its name, so every instance on a plan shows the same."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"caffebatch:plan:{plan}"))


def instance_url(base: str, instance_id: str) -> str:
    return f"{base}/v3/wml_instances/{instance_id}"


def model_url(base: str, model: ModelInfo) -> str:
    return f"{instance_url(base, model.instance_id)}/published_models/{model.id}"


def version_url(base: str, model_id: str, version_id: str) -> str:
    return f"{base}/v3/ml_assets/models/{model_id}/versions/{version_id}"


def version_slot(base: str, model_id: str, version_id: str) -> schemas.VersionSlot:
    url = version_url(base, model_id, version_id)
    return schemas.VersionSlot(guid=version_id, url=url, content_url=f"{url}/content")


def deployment_url(base: str, deployment: DeploymentInfo) -> str:
    instance = instance_url(base, deployment.instance_id)
    return f"{instance}/published_models/{deployment.model_id}/deployments/{deployment.id}"


def instance_public(details: InstanceDetails, base: str) -> schemas.InstancePublic:
    instance, usage, owner = details.instance, details.usage, details.owner
    url = instance_url(base, instance.id)
    figures = {
        name: schemas.Figure(limit=getattr(usage, name).limit, current=getattr(usage, name).current)
        for name, field in schemas.UsagePublic.model_fields.items()
        if field.annotation is schemas.Figure
    }
    return schemas.InstancePublic(
        metadata=schemas.Metadata(
            guid=instance.id,
            url=url,
            created_at=instance.created_at,
            modified_at=instance.modified_at,
        ),
        entity=schemas.InstanceEntity(
            source="caffebatch",
            name=instance.name,
            status="Active",
            plan=instance.plan,
            plan_id=plan_id(instance.plan),
            # the instance is the tenant: its own organization, space and account
            organization_guid=instance.id,
            space_guid=instance.id,
            region=REGION,
            account=schemas.Account(
                id=uuid.UUID(instance.id).hex, name=instance.name, type=ACCOUNT_TYPE
            ),
            owner=None
            if owner is None
            else schemas.Owner(
                user_id=owner.id,
                ibm_id=owner.username,
                email=None,
                country_code=None,
                beta_user=False,
            ),
            published_models=schemas.Link(url=f"{url}/published_models"),
            deployments=schemas.Link(url=f"{url}/deployments"),
            usage=schemas.UsagePublic(expiration_date=None, **figures),
        ),
    )


def model_public(
    model: ModelInfo, deployments: int, base: str, next_version: str | None = None
) -> schemas.PublishedModelPublic:
    """The model; with `next_version`, the slot its next upload fills (on create answers)."""
    url = model_url(base, model)
    latest = model.latest
    feeds = {f"{name}_url": f"{url}/{name}" for name in MODEL_FEEDS}
    return schemas.PublishedModelPublic(
        metadata=schemas.Metadata(
            guid=model.id, url=url, created_at=model.created_at, modified_at=model.modified_at
        ),
        entity=schemas.PublishedModelEntity(
            name=model.name,
            description=model.description,
            model_type=model.model_type,
            runtime_environment=RUNTIME,
            label_col="",
            latest_version=None
            if latest is None
            else schemas.VersionRef(
                url=version_url(base, model.id, latest.id),
                guid=latest.id,
                created_at=latest.created_at,
            ),
            deployments=schemas.DeploymentsRef(count=deployments, url=f"{url}/deployments"),
            input_layers=None if latest is None else latest.meta.get("input_layers"),
            output_layers=None if latest is None else latest.meta.get("output_layers"),
            model_version=None
            if next_version is None
            else version_slot(base, model.id, next_version),
            **feeds,
        ),
    )


def deployment_public(
    deployment: DeploymentInfo, model: ModelInfo, base: str
) -> schemas.DeploymentPublic:
    details = schemas.StatusDetails.from_details(status_details(deployment))
    return schemas.DeploymentPublic(
        metadata=schemas.Metadata(
            guid=deployment.id,
            url=deployment_url(base, deployment),
            created_at=deployment.created_at,
            modified_at=deployment.modified_at,
        ),
        entity=schemas.DeploymentEntity(
            runtime_environment=RUNTIME,
            name=deployment.name,
            description=deployment.description,
            type="batch",
            model_type=model.model_type,
            status=deployment.status,
            status_message=None if details.failure is None else details.failure.message,
            status_details=details,
            published_model=schemas.ModelRef(
                name=model.name,
                url=model_url(base, model),
                guid=model.id,
                description=model.description,
                created_at=model.created_at,
            ),
            deployable_asset=schemas.DeployableAsset(
                name=model.name, url=model_url(base, model), guid=model.id,
                created_at=model.created_at,
            ),
            deployed_version=schemas.DeployedVersion(
                url=version_url(base, model.id, deployment.version_id),
                guid=deployment.version_id,
            ),
            input=deployment.input,
            output=deployment.output,
            batch_size=deployment.options.batch_size,
            max_error_ratio=deployment.options.max_error_ratio,
            transform=deployment.options.stored().get("transform"),
        ),
    )


def version_public(version: VersionInfo, model: ModelInfo, base: str) -> schemas.VersionPublic:
    url = version_url(base, model.id, version.id)
    meta = version.meta
    return schemas.VersionPublic(
        metadata=schemas.Metadata(
            guid=version.id, url=url, created_at=version.created_at, modified_at=version.created_at
        ),
        entity=schemas.VersionEntity(
            model=schemas.Link(url=model_url(base, model)),
            content=schemas.Link(url=f"{url}/content"),
            archive_name=version.archive_name,
            input_layers=meta.get("input_layers", []),
            output_layers=meta.get("output_layers", []),
            inputs=meta.get("inputs", {}),
            outputs=meta.get("outputs", []),
        ),
    )
