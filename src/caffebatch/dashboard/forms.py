"""The create-deployment form to the service's DeploymentSpec, with errors by form field.

The form is validated by the same spec the REST API's body becomes
(`caffebatch.service.spec.DeploymentSpec`), so a deployment made here is exactly one the
REST API would accept. The form's fields are flat:
``input_kind`` ("s3" or "local"), ``input_endpoint``, ``input_bucket``, ``input_prefix``,
``input_access_key``, ``input_secret_key``, ``input_path``, the same with ``output_``, and
``name``, ``batch_size``, ``max_error_ratio``, and ``transform`` (the API body's
`transform` as JSON text, by input layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.datastructures import FormData

from caffebatch.service.spec import DeploymentSpec

SIDES = {"input": "source", "output": "target"}  # form side -> the body's place key
SECRET_FIELDS = ("access_key", "secret_key")
KINDS = ("s3", "local")
# the body's field names -> the form's, where they differ
FIELD_NAMES = {"url": "endpoint"}


@dataclass
class DeploymentForm:
    """What was typed (secrets left out, so a re-shown form never holds them) and the errors."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    secrets_sent: bool = False


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _side(form: FormData, side: str, errors: dict[str, str]) -> dict[str, Any]:
    kind = _text(form, f"{side}_kind") or "s3"
    place_key = SIDES[side]
    if kind == "local":
        if not _text(form, f"{side}_path"):
            errors[f"{side}_path"] = "Give the folder's path."
        return {"type": "local", place_key: {"path": _text(form, f"{side}_path") or None}}
    if kind != "s3":
        errors[f"{side}_kind"] = f"Choose one of: {', '.join(KINDS)}."
    if not _text(form, f"{side}_bucket"):
        errors[f"{side}_bucket"] = "Give the bucket's name."
    connection = {
        "url": _text(form, f"{side}_endpoint") or None,
        **{key: _text(form, f"{side}_{key}") or None for key in SECRET_FIELDS},
    }
    place = {"bucket": _text(form, f"{side}_bucket") or None,
             "prefix": _text(form, f"{side}_prefix") or None}
    return {"type": "s3", place_key: place,
            "connection": {k: v for k, v in connection.items() if v is not None}}


def read_form(form: FormData) -> tuple[DeploymentSpec | None, DeploymentForm]:
    """(the spec, or None when the form has errors; the form to show again)."""
    values = {name: _text(form, name) for name in form
              if isinstance(form.get(name), str) and not name.endswith(SECRET_FIELDS)}
    secrets_sent = any(_text(form, f"{side}_{key}") for side in SIDES for key in SECRET_FIELDS)
    shown = DeploymentForm(values, secrets_sent=secrets_sent)
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "input": _side(form, "input", shown.errors),
        "output": _side(form, "output", shown.errors),
        "options": {
            "batch_size": _text(form, "batch_size") or None,
            "max_error_ratio": _text(form, "max_error_ratio") or None,
            "transform": _transform(form, shown.errors),
        },
    }
    try:
        spec = DeploymentSpec.model_validate(body)
    except ValidationError as error:
        for item in error.errors():
            shown.errors.setdefault(_field_of(item["loc"]), _message_of(item))
        return None, shown
    return (None if shown.errors else spec), shown


def _transform(form: FormData, errors: dict[str, str]) -> Any:
    """The transform field's JSON (None when empty); a parse error goes next to the field."""
    text = _text(form, "transform")
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        errors["transform"] = f"Not valid JSON: {error}"
        return None
    if not isinstance(value, dict):
        errors["transform"] = ('Give an object keyed by input layer, as '
                               '{"data": {"scale": 0.00390625}}.')
        return None
    return value


def _message_of(item: Any) -> str:
    """A schema error's message; one in the transform names its layer and field."""
    parts = [str(part) for part in item["loc"]]
    if parts[:2] == ["options", "transform"] and len(parts) > 2:
        return f"{'.'.join(parts[2:])}: {item['msg']}"
    return str(item["msg"])


def _field_of(loc: tuple[int | str, ...]) -> str:
    """The form field a schema error is about: ("input", "source", "bucket") -> input_bucket."""
    parts = [str(part) for part in loc]
    if parts[:2] == ["options", "transform"]:
        return "transform"
    if parts and parts[0] == "options":  # the run's choices are fields of their own
        return parts[-1]
    if parts and parts[0] in SIDES:
        name = parts[-1] if len(parts) > 1 else "kind"
        return f"{parts[0]}_{FIELD_NAMES.get(name, name)}"
    return parts[0] if parts else "form"


def side_of(message: str) -> str:
    """Which part of the form a service error speaks of: its message starts with the side."""
    for side in (*SIDES, "transform"):
        if message.startswith(side):
            return side
    return "form"
