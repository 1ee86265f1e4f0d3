"""The upload and create-deployment forms: errors next to their fields, secrets never echoed."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient
from starlette.datastructures import FormData

from caffebatch.dashboard.forms import read_form
from caffebatch.package import pack
from caffebatch.server import create_server
from caffebatch.service.context import ServiceContext, open_context
from tests.api.live import ADMIN_PASSWORD, ADMIN_USER
from tests.dashboard.client import form_token, publish, sign_in
from tests.dashboard.conftest import LENET

S3_SIDE = {"kind": "s3", "endpoint": "http://127.0.0.1:9", "bucket": "b", "prefix": "in/",
           "access_key": "AKIAFORMTEST", "secret_key": "form-secret-value"}


def _form(**fields: str) -> FormData:
    data = {"model": "m", "name": "run", "max_error_ratio": "0.2", "batch_size": "16"}
    for side in ("input", "output"):
        data |= {f"{side}_{k}": v for k, v in S3_SIDE.items()}
    data["output_bucket"] = "other"
    return FormData({**data, **fields})


def test_a_complete_form_is_the_api_body() -> None:
    spec, shown = read_form(_form())
    assert shown.errors == {}
    assert spec is not None
    assert spec.input.model_dump(exclude_none=True) == {
        "type": "s3", "source": {"bucket": "b", "prefix": "in/"},
        "connection": {"url": "http://127.0.0.1:9", "access_key": "AKIAFORMTEST",
                       "secret_key": "form-secret-value"}}
    assert spec.output.target.bucket == "other"
    assert (spec.options.batch_size, spec.options.max_error_ratio) == (16, 0.2)
    assert not any("secret" in name or "access" in name for name in shown.values)


def test_field_errors_name_their_fields() -> None:
    spec, shown = read_form(_form(input_bucket="", batch_size="many", max_error_ratio="2",
                                  output_kind="local", output_path=""))
    assert spec is None
    assert set(shown.errors) == {"input_bucket", "batch_size", "max_error_ratio", "output_path"}
    assert shown.secrets_sent


def test_upload_errors_are_shown_next_to_the_form(app_client: TestClient, tmp_path: Path) -> None:
    sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)
    token = form_token(app_client.get("/dashboard/models/new").text)
    missing = app_client.post("/dashboard/models", data={"csrf_token": token, "name": ""})
    assert missing.status_code == 400
    assert 'id="name-error"' in missing.text and 'id="package-error"' in missing.text

    not_archive = app_client.post(
        "/dashboard/models", data={"csrf_token": token, "name": "notes"},
        files={"package": ("notes.txt", b"just some text, not a model")},
    )
    assert not_archive.status_code == 400
    error = re.search(r'<p class="field-error" id="package-error">([^<]+)</p>', not_archive.text)
    assert error and ".tar.gz or .zip" in error.group(1)
    assert 'value="notes"' in not_archive.text  # what was typed stays
    assert "No models yet" in app_client.get("/dashboard/models").text  # nothing half-made


def test_a_refused_deployment_says_why_and_keeps_no_secret(
    app_client: TestClient, lenet_package: Path
) -> None:
    sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)
    model_id = publish(app_client, lenet_package, "lenet")
    token = form_token(app_client.get("/dashboard/deployments/new").text)
    data = dict(_form(csrf_token=token, model=model_id, input_kind="local",
                      input_path="/etc").multi_items())
    refused = app_client.post("/dashboard/deployments", data=data)
    assert refused.status_code == 400
    error = re.search(r'<p class="field-error" id="input-error">([^<]+)</p>', refused.text)
    assert error and "outside the allowed folders" in error.group(1)
    assert "form-secret-value" not in refused.text and "AKIAFORMTEST" not in refused.text
    assert "enter them again" in refused.text
    assert "No deployments yet" in app_client.get("/dashboard/deployments").text


def test_a_broken_package_is_explained_next_to_the_file_field(
    app_client: TestClient, tmp_path: Path
) -> None:
    folder = tmp_path / "lenet"
    shutil.copytree(LENET, folder)
    (folder / "deploy.prototxt").write_text('name: "LeNet"\nlayer {\n  name: "data"\n  type: \n')
    sign_in(app_client, ADMIN_USER, ADMIN_PASSWORD)
    token = form_token(app_client.get("/dashboard/models/new").text)
    response = app_client.post(
        "/dashboard/models", data={"csrf_token": token, "name": "broken"},
        files={"package": ("broken.tar.gz", pack(folder))},
    )
    assert response.status_code == 400
    error = re.search(r'<p class="field-error" id="package-error">([^<]+)</p>', response.text)
    assert error and "deploy.prototxt" in error.group(1)
    assert "No models yet" in app_client.get("/dashboard/models").text


def test_an_oversized_upload_is_refused_while_it_streams(context: ServiceContext) -> None:
    limits = replace(context.settings.packages, max_archive_bytes=64 * 1024)
    settings = context.settings.model_copy(update={"packages": limits})
    app = create_server(settings, context=open_context(settings), run_workers=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        sign_in(client, ADMIN_USER, ADMIN_PASSWORD)
        token = form_token(client.get("/dashboard/models/new").text)
        boundary = "caffebatch-test-boundary"

        def body() -> Iterator[bytes]:  # chunked: no Content-Length to refuse it up front
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
                   f"{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"name\""
                   f"\r\n\r\nhuge\r\n--{boundary}\r\nContent-Disposition: form-data; "
                   f"name=\"package\"; filename=\"huge.tar.gz\"\r\n\r\n").encode()
            for _ in range(40):  # 40 MiB, far over the 64 KiB + form overhead limit
                yield b"\x1f\x8b" + bytes(1024 * 1024 - 2)
            yield f"\r\n--{boundary}--\r\n".encode()

        response = client.post(
            "/dashboard/models", content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 413, response.text
        assert "limit" in response.text
        assert "No models yet" in client.get("/dashboard/models").text
    assert list((settings.home / "uploads").glob("*")) == []


def test_the_transform_field_is_the_api_bodys_transform() -> None:
    spec, shown = read_form(_form(transform='{"data": {"scale": 0.00390625, "grayscale": true}}'))
    assert shown.errors == {}
    assert spec is not None and spec.options.transform is not None
    assert spec.options.transform["data"].scale == 0.00390625
    assert spec.options.transform["data"].grayscale is True
    assert shown.values["transform"].startswith('{"data"')


def test_a_bad_transform_is_an_error_next_to_its_field() -> None:
    for text, expected in (('{"data": {"scale": 0', "Not valid JSON"),
                           ('[1, 2]', "keyed by input layer"),
                           ('{"data": {"resize": "squash"}}', "data.resize:"),
                           ('{"data": {"colour": "red"}}', "data.colour:")):
        spec, shown = read_form(_form(transform=text))
        assert spec is None
        assert set(shown.errors) == {"transform"}, shown.errors
        assert expected in shown.errors["transform"]
