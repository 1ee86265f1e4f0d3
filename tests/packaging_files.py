"""Readers for the packaging files the tests check: the Dockerfile's instructions, the
locks' pins, pyproject.toml's requirements."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, arguments = line.partition(" ")
            instructions.append((name.upper(), " ".join(arguments.split())))
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The list of an instruction in exec form: ["python", "-m", ...]."""
    return json.loads(arguments)


def pins(lock: Path) -> dict[str, str]:
    """name -> version of every `name==version` line of a lock (markers dropped)."""
    found = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        if match:
            found[canonicalize_name(match.group(1).split("[")[0])] = match.group(2)
    return found


def requirements(*extras: str) -> list[Requirement]:
    """pyproject.toml's dependencies and those of `extras` (self-references followed)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted, seen = list(extras), set()
    found = [Requirement(text) for text in project["dependencies"]]
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "caffebatch":
                wanted.extend(requirement.extras)
            else:
                found.append(requirement)
    return found
