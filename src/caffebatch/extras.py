"""The optional extras of the package, and a check that one is installed.

`pip install caffebatch` brings the engine and the `score`, `inspect` and `convert` commands.
The rest comes in extras (pyproject.toml), each named here by the modules it installs, so a
command that needs one says how to get it instead of failing on an ImportError.
"""

from __future__ import annotations

import importlib.util

from caffebatch.errors import ExtraMissingError

# extra -> the top-level modules of the distributions it names (import names, not distributions)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "s3": ("botocore",),
    "service": (
        "fastapi", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings",
        "cryptography", "jwt", "jinja2", "multipart", "fastapi_offline",
    ),
    "postgres": ("psycopg",),
    "client": ("httpx",),
    "images": ("cv2",),
}  # fmt: skip


def missing(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here (none: the extra is installed)."""
    return [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, purpose: str) -> None:
    """ExtraMissingError naming `purpose` and the pip command, when `extra` is not installed."""
    absent = missing(extra)
    if absent:
        raise ExtraMissingError(
            f"{purpose} needs the {extra!r} extra ({', '.join(absent)} not installed): "
            f"pip install 'caffebatch[{extra}]'"
        )
