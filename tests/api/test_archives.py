"""Hostile model packages are refused at PUT content, and nothing is left behind."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from caffebatch.package import PackageLimits
from caffebatch.service.context import ServiceContext
from tests.api.conftest import LENET, Api


def tar_gz(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def lenet_entries() -> list[tuple[tarfile.TarInfo, bytes]]:
    entries = []
    for file in sorted(LENET.iterdir()):
        data = file.read_bytes()
        info = tarfile.TarInfo(f"model/{file.name}")
        info.size = len(data)
        entries.append((info, data))
    return entries


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def traversal(tmp_path: Path) -> bytes:
    return tar_gz([*lenet_entries(), regular("../../../../" + str(tmp_path / "escaped.txt"), b"x")])


def absolute(tmp_path: Path) -> bytes:
    return tar_gz([*lenet_entries(), regular(str(tmp_path / "escaped.txt"), b"x")])


def symlink(tmp_path: Path) -> bytes:
    return tar_gz([*lenet_entries(), link("model/escape", str(tmp_path))])


def hardlink(tmp_path: Path) -> bytes:
    return tar_gz([*lenet_entries(), link("model/escape", "/etc/passwd", tarfile.LNKTYPE)])


def device(tmp_path: Path) -> bytes:
    info = tarfile.TarInfo("model/null")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return tar_gz([*lenet_entries(), (info, None)])


def bomb(tmp_path: Path) -> bytes:
    # 64 MiB of zeros packs to well under 1 MiB; the unpacked limit below is 16 MiB
    return tar_gz([*lenet_entries(), regular("model/zeros.bin", bytes(64 * 1024 * 1024))])


def too_many_files(tmp_path: Path) -> bytes:
    return tar_gz([*lenet_entries(), *(regular(f"model/f{i}.txt", b"") for i in range(50))])


def zip_traversal(tmp_path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(LENET.iterdir()):
            archive.writestr(f"model/{file.name}", file.read_bytes())
        archive.writestr("../escaped.txt", b"x")
    return buffer.getvalue()


HOSTILE = [traversal, absolute, symlink, hardlink, device, bomb, too_many_files, zip_traversal]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    limits = PackageLimits(
        max_unpacked_bytes=16 * 1024 * 1024, max_files=40, max_archive_bytes=4 * 1024 * 1024
    )
    return settings.model_copy(update={"packages": limits})


def new_model(api: Api) -> str:
    response = api.request("POST", f"{api.base}/published_models", json={"name": "m"})
    return response.json()["metadata"]["guid"]


@pytest.mark.parametrize("make", HOSTILE, ids=lambda make: make.__name__)
def test_hostile_archives_are_refused(
    make, api: Api, context: ServiceContext, tmp_path: Path
) -> None:
    model_id = new_model(api)
    response = api.request(
        "PUT", f"{api.base}/published_models/{model_id}/content", content=make(tmp_path)
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "invalid_package"
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert list(context.settings.models_dir.iterdir()) == []
    model = api.request("GET", f"{api.base}/published_models/{model_id}").json()
    assert model["entity"]["latest_version"] is None


def test_an_oversized_package_gets_413(api: Api, context: ServiceContext) -> None:
    model_id = new_model(api)
    response = api.request(
        "PUT",
        f"{api.base}/published_models/{model_id}/content",
        content=b"\x1f\x8b" + bytes(5 * 1024 * 1024),
    )
    assert response.status_code == 413
    assert "limit" in response.json()["errors"][0]["message"]
    assert list(context.settings.models_dir.iterdir()) == []


def test_a_chunked_package_is_refused_once_it_streams_past_the_limit(
    api: Api, context: ServiceContext
) -> None:
    model_id = new_model(api)

    def body() -> Iterator[bytes]:  # chunked: no Content-Length to check first
        yield b"\x1f\x8b"
        for _ in range(5):
            yield bytes(1024 * 1024)

    path = f"{api.base}/published_models/{model_id}/content"
    response = api.request("PUT", path, content=body())
    assert response.status_code == 413
    assert "over the limit" in response.json()["errors"][0]["message"]
    assert list(context.settings.models_dir.iterdir()) == []
    assert list((context.settings.home / "uploads").iterdir()) == []


def test_a_bad_package_says_what_to_fix(api: Api, client: TestClient) -> None:
    model_id = new_model(api)
    entries = [e for e in lenet_entries() if not e[0].name.endswith("deployment-meta.json")]
    response = api.request(
        "PUT", f"{api.base}/published_models/{model_id}/content", content=tar_gz(entries)
    )
    assert response.status_code == 400
    assert "deployment-meta.json" in response.json()["errors"][0]["message"]
    not_an_archive = api.request(
        "PUT", f"{api.base}/published_models/{model_id}/content", content=b"hello"
    )
    assert not_an_archive.status_code == 400
    assert not_an_archive.json()["errors"][0]["code"] == "invalid_archive"
