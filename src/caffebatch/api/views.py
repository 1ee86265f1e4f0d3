"""The service's values to response bodies, with urls built from the request's base URL."""

from __future__ import annotations

from caffebatch.api import schemas
from caffebatch.service.deployments import status_details
from caffebatch.service.instances import InstanceDetails
from caffebatch.service.resources import DeploymentInfo, ModelInfo, VersionInfo

RUNTIME = "caffebatch-onnxruntime"


def instance_url(base: str, instance_id: str) -> str:
    return f"{base}/v3/wml_instances/{instance_id}"


def model_url(base: str, model: ModelInfo) -> str:
    return f"{instance_url(base, model.instance_id)}/published_models/{model.id}"


def version_url(base: str, model_id: str, version_id: str) -> str:
    return f"{base}/v3/ml_assets/models/{model_id}/versions/{version_id}"


def deployment_url(base: str, deployment: DeploymentInfo) -> str:
    instance = instance_url(base, deployment.instance_id)
    return f"{instance}/published_models/{deployment.model_id}/deployments/{deployment.id}"


def instance_public(details: InstanceDetails, base: str) -> schemas.InstancePublic:
    instance, usage = details.instance, details.usage
    url = instance_url(base, instance.id)
    figures = {
        name: schemas.Figure(limit=getattr(usage, name).limit, current=getattr(usage, name).current)
        for name in schemas.UsagePublic.model_fields
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
            plan_id=instance.plan,
            published_models=schemas.Link(url=f"{url}/published_models"),
            deployments=schemas.Link(url=f"{url}/deployments"),
            usage=schemas.UsagePublic(**figures),
        ),
    )


def model_public(model: ModelInfo, deployments: int, base: str) -> schemas.PublishedModelPublic:
    url = model_url(base, model)
    latest = model.latest
    return schemas.PublishedModelPublic(
        metadata=schemas.Metadata(
            guid=model.id, url=url, created_at=model.created_at, modified_at=model.modified_at
        ),
        entity=schemas.PublishedModelEntity(
            name=model.name,
            description=model.description,
            model_type=model.model_type,
            runtime_environment=RUNTIME,
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
        ),
    )


def deployment_public(
    deployment: DeploymentInfo, model: ModelInfo, base: str
) -> schemas.DeploymentPublic:
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
            status_details=schemas.StatusDetails.from_details(status_details(deployment)),
            published_model=schemas.ModelRef(
                name=model.name,
                url=model_url(base, model),
                guid=model.id,
                description=model.description,
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
