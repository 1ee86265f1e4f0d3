"""One handler under several paths: where the seed and IBM's v3 client name one operation twice.

`/v3/wml_instances/{instance_id}/published_models/{model_id}` and `/v3/ml_assets/models/{model_id}`
are the same model; `.../published_models/{model_id}/deployments/{deployment_id}` and
`/v3/wml_instances/{instance_id}/deployments/{deployment_id}` the same deployment. A handler
reads the ids only some of its paths name through `PathScope` (the caller's own instance when
the path names none), and `add_routes` registers it under every path of its table, declaring
those ids in the OpenAPI document.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from caffebatch.api.deps import CurrentUser

PARAMETER = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Scope:
    """The ids the matched path names; `instance_id` is the caller's when it names none."""

    instance_id: str
    model_id: str | None
    version_id: str | None


def get_scope(request: Request, user: CurrentUser) -> Scope:
    params = request.path_params
    return Scope(
        instance_id=params.get("instance_id", user.instance_id),
        model_id=params.get("model_id"),
        version_id=params.get("version_id"),
    )


PathScope = Annotated[Scope, Depends(get_scope)]


def add_routes(
    router: APIRouter,
    paths: Iterable[str],
    endpoint: Callable[..., Any],
    *,
    methods: list[str],
    **options: Any,
) -> None:
    """Route `endpoint` under each of `paths`; the ids it reads through `PathScope` are
    declared as string path parameters."""
    declared = set(inspect.signature(endpoint).parameters)
    given = options.pop("openapi_extra", None) or {}
    for path in paths:
        scoped = [name for name in PARAMETER.findall(path) if name not in declared]
        extra = {**given, "parameters": [_path_parameter(name) for name in scoped]}
        router.add_api_route(path, endpoint, methods=methods, openapi_extra=extra, **options)


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
