"""What `pip install`, `make install` and the container image rely on: the locks agree with
pyproject.toml's ranges, `python -m caffebatch` is the command, the package ships its typing
marker, licence and migrations, the Dockerfile copies what exists and runs what works, and the
compose file wires the image to PostgreSQL. (tests/test_install.py installs for real.)"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.packaging_files import ROOT, dockerfile, exec_form, pins, requirements

LOCKS = {
    "requirements.lock": ("test", "ray", "dev"),
    "requirements-serve.lock": ("service", "s3", "postgres"),
}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_lock_pin_is_inside_pyprojects_ranges(lock: str) -> None:
    pinned = pins(ROOT / lock)
    for requirement in requirements(*LOCKS[lock]):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock} lacks {requirement.name} (make lock)"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]}, outside pyproject's {requirement} (make lock)"
        )


def test_every_dependency_has_a_lower_and_an_upper_bound() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra in ("", *project["optional-dependencies"]):
        for requirement in requirements(extra) if extra else requirements():
            operators = {spec.operator for spec in requirement.specifier}
            assert operators & {">=", "=="} and operators & {"<", "=="}, (
                f"{requirement} (extra {extra or 'none'}) needs a range: >=LOW,<NEXT_MAJOR"
            )


def test_the_lower_bounds_tested_are_the_lower_bounds_claimed() -> None:
    claimed = {canonicalize_name(r.name): r.specifier for r in requirements("s3", "test")}
    for name, version in pins(ROOT / "requirements-lower.txt").items():
        lower = next(spec.version for spec in claimed[name] if spec.operator == ">=")
        assert Version(version) == Version(lower), (
            f"requirements-lower.txt tests {name}=={version}, pyproject says >={lower}")


def test_python_m_caffebatch_is_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "caffebatch", "--help"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: caffebatch ") and "serve" in done.stdout


def test_the_package_ships_its_marker_licence_and_migrations() -> None:
    package = ROOT / "src" / "caffebatch"
    assert (package / "py.typed").exists()
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert (package / "store" / "migrations" / "env.py").exists()
    assert list((package / "store" / "migrations" / "versions").glob("0001_*.py"))


def test_the_dockerfile_copies_files_that_exist_and_the_context_keeps() -> None:
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line and not line.startswith("#")]
    for name, arguments in dockerfile():
        if name != "COPY" or arguments.startswith("--from"):
            continue
        *sources, _target = arguments.split()
        for source in sources:
            assert (ROOT / source).exists(), f"the Dockerfile copies missing {source}"
            kept = False
            for pattern in patterns:  # .dockerignore: the last matching line decides
                negated = pattern.startswith("!")
                bare = pattern.removeprefix("!").rstrip("/")
                if fnmatch.fnmatch(source.rstrip("/"), bare):
                    kept = negated
            assert kept, f".dockerignore leaves {source} out of the build context"


def test_the_image_runs_as_a_user_with_its_home_as_a_volume_and_checks_healthz() -> None:
    instructions = dockerfile()
    values = {name: arguments for name, arguments in instructions}
    assert values["USER"] not in ("root", "0")
    assert "CAFFEBATCH_HOME=/var/lib/caffebatch" in values["ENV"]
    assert exec_form(values["VOLUME"]) == ["/var/lib/caffebatch"]
    assert [name for name, _ in instructions].count("FROM") == 2
    assert all(a.endswith("-slim") or " AS " in a for n, a in instructions if n == "FROM")
    command = exec_form(values["ENTRYPOINT"]) + exec_form(values["CMD"])
    assert command[:3] == ["python", "-m", "caffebatch"] and command[3] == "serve"
    port = command[command.index("--port") + 1]
    assert values["EXPOSE"] == port
    assert f"http://127.0.0.1:{port}/healthz" in values["HEALTHCHECK"]


def test_the_entrypoint_accepts_the_images_arguments() -> None:
    values = dict(dockerfile())
    command = exec_form(values["ENTRYPOINT"]) + exec_form(values["CMD"])
    done = subprocess.run([sys.executable, *command[1:], "--help"], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "CAFFEBATCH_HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    assert "--host" in done.stdout and "--port" in done.stdout


def test_compose_runs_the_image_on_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app, db = compose["services"]["caffebatch"], compose["services"]["db"]
    assert app["build"] == "."
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    url = app["environment"]["CAFFEBATCH_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and "@db:5432/" in url
    assert db["environment"]["POSTGRES_USER"] in url
    assert "psycopg" in pins(ROOT / "requirements-serve.lock")
    home = dict(dockerfile())["ENV"].split("CAFFEBATCH_HOME=")[1].split()[0]
    assert any(volume.endswith(":" + home) for volume in app["volumes"])
