"""/v3/wml_instances/{instance_id}: instance details and usage."""

from __future__ import annotations

from fastapi import APIRouter

from caffebatch.api import views
from caffebatch.api.deps import BaseUrl, ContextDep, CurrentUser, SessionDep
from caffebatch.api.schemas import InstancePublic
from caffebatch.service import instances

router = APIRouter(prefix="/v3/wml_instances", tags=["instances"])


@router.get("/{instance_id}", summary="Instance details, with usage against the plan")
def get_instance(
    instance_id: str, ctx: ContextDep, session: SessionDep, user: CurrentUser, base: BaseUrl
) -> InstancePublic:
    return views.instance_public(instances.get_instance(ctx, session, user, instance_id), base)
