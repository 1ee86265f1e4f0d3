"""Installs from the package registry, as a user and as the container image do (slow: they
download). No container engine runs on the test machines, so the image's steps run here in a
fresh virtual environment: the same lock, the same wheel, the same entrypoint and health check.

- the built wheel resolves together with `numpy<2.4` and with s3fs (pip's dry run: the
  resolution is the question, and downloading it all would double the test's time). pip still
  walks back through boto3's newest releases (140 kB each) to the one whose botocore s3fs's
  aiobotocore accepts; the whole resolution took about a minute here, most of it metadata;
- the image's install steps (the lock, then the wheel) give a `python -m caffebatch` whose
  `admin migrate` and `serve` work, with /docs served offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from caffebatch.store.migrate import head_revision
from tests.packaging_files import ROOT, dockerfile, exec_form
from tests.s3server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
RESOLVE_TIMEOUT_S = 300  # pip backtracking (the s3fs case) ran for many minutes


def outside_env() -> dict[str, str]:
    """The environment less PYTHONPATH: a fresh venv must not see the source tree."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def run(  # type: ignore[no-untyped-def]
    *command: str | Path, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", outside_env())
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def fresh_venv(folder: Path) -> Path:
    """A new virtual environment without the suite's packages; its python."""
    run(sys.executable, "-m", "venv", folder)
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT)
    (built,) = out.glob("caffebatch-*.whl")
    return built


def test_the_wheel_resolves_with_numpy_below_2_4_and_with_s3fs(wheel: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    report = tmp_path / "report.json"
    started = time.monotonic()
    run(python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", report,
        f"{wheel}[s3,service]", "numpy<2.4", "s3fs", timeout=RESOLVE_TIMEOUT_S)
    chosen = {item["metadata"]["name"].lower(): item["metadata"]["version"]
              for item in json.loads(report.read_text())["install"]}
    assert {"caffebatch", "s3fs", "aiobotocore", "boto3", "botocore", "numpy"} <= set(chosen)
    assert tuple(int(part) for part in chosen["numpy"].split(".")[:2]) < (2, 4)
    print(f"resolved in {time.monotonic() - started:.1f} s: numpy {chosen['numpy']}, "
          f"boto3 {chosen['boto3']}, botocore {chosen['botocore']}, "
          f"aiobotocore {chosen['aiobotocore']}")


def _image_step_lock() -> str:
    """The lock the Dockerfile installs (its COPY of requirements-*.lock)."""
    for name, arguments in dockerfile():
        if name == "COPY" and ".lock" in arguments:
            return arguments.split()[0]
    raise AssertionError("the Dockerfile installs no lock")


@pytest.fixture(scope="module")
def image_server(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image's steps in a fresh venv (lock, then the wheel without dependencies), then
    its ENTRYPOINT and CMD with CAFFEBATCH_HOME as the volume; the server's URL."""
    root = tmp_path_factory.mktemp("image")
    python = fresh_venv(root / "venv")
    run(python, "-m", "pip", "install", "--quiet", "-r", ROOT / _image_step_lock())
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel)
    values = dict(dockerfile())
    command = exec_form(values["ENTRYPOINT"]) + exec_form(values["CMD"])
    port = free_port()
    command = [str(python), *command[1:]]
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    env = outside_env()
    env |= {"CAFFEBATCH_HOME": str(root / "home"), "CAFFEBATCH_ADMIN_PASSWORD": "image-test",
            "PATH": f"{python.parent}:{env['PATH']}"}
    assert "Usage: caffebatch" in run(python, "-m", "caffebatch", "--help", env=env).stdout
    migrated = run(python, "-m", "caffebatch", "admin", "migrate", env=env)
    assert f"at revision {head_revision()}" in migrated.stdout
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert server.poll() is None, (root / "server.log").read_text()[-3000:]
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_image_steps_give_a_server_with_offline_docs(image_server: str) -> None:
    docs = httpx.get(image_server + "/docs", timeout=10)
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert httpx.get(image_server + "/docs-assets/swagger-ui-bundle.js", timeout=10).is_success
    token = httpx.get(image_server + "/v3/identity/token", auth=("admin", "image-test"))
    assert token.status_code == 200


def test_the_images_health_check_passes(image_server: str) -> None:
    check = exec_form(dict(dockerfile())["HEALTHCHECK"].split(" CMD ", 1)[1])
    port = image_server.rsplit(":", 1)[1]
    code = check[-1].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
