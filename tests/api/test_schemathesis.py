"""Schemathesis over the OpenAPI document: no 5xx, and every response fits the schema.

Runs in process (ASGI), with a real SQLite store, a logged-in user and a bounded number
of examples per operation, so it takes seconds.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from caffebatch.server import create_server
from caffebatch.service.context import open_context
from caffebatch.service.instances import bootstrap
from caffebatch.settings import Settings
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER

EXAMPLES = 15  # per operation: about a dozen operations, a few seconds in all
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home: Path = tmp_path_factory.mktemp("schemathesis")
    settings = Settings(
        home=home / "home",
        admin_user=ADMIN_USER,
        admin_password=ADMIN_PASSWORD,
        local_roots=[str(home / "data")],
        secret_key="schemathesis",
    )
    context = open_context(settings)
    instance_id = bootstrap(context).instance_id
    app = create_server(settings, context=context, run_workers=False)
    token = context.keys.issue_token(_user_id(context), instance_id)
    return app, instance_id, token


def _user_id(context) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from caffebatch.store.tables import User

    with context.db.session() as session:
        return session.scalar(select(User.id).where(User.username == ADMIN_USER))


def test_api_answers_within_its_schema(served) -> None:  # type: ignore[no-untyped-def]
    app, instance_id, token = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    statuses: Counter[int] = Counter()

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            if "instance_id" in (case.path_parameters or {}):
                case.path_parameters["instance_id"] = instance_id
            response = case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
            )
            statuses[response.status_code] += 1

        check()
    # the run reached real answers, not only refusals
    assert statuses[200] and statuses[201] and statuses[400] and statuses[404], statuses
