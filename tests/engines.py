"""The backends tests run on: every registered one, skipped cleanly where its extra is absent."""

from __future__ import annotations

import pytest

from caffebatch.runtime.backends import BACKENDS

ENGINES = [
    pytest.param(
        name,
        id=name,
        marks=pytest.mark.skipif(
            not b.installed, reason=f"{name} is not installed ({b.install})"
        ),
    )
    for name, b in BACKENDS.items()
]
INSTALLED = [name for name, b in BACKENDS.items() if b.installed]
