"""One local Ray (2 CPUs, a small object store) for the whole test session, shut down at its end.

Ray takes seconds to start, so every Ray test shares this one; the executor (and the service,
configured with ``executor="ray"``) joins it because Ray is already initialised in the
process. Import the fixture into a test module with
``from tests.ray_fixtures import local_ray``.

pytest keeps one fixture instance per module that imports it, so two test folders importing
it would each set it up; the first set-up starts Ray, the others join it, and the last
teardown shuts it down. One Ray per session either way.
"""

from __future__ import annotations

import pytest

CPUS = 2
OBJECT_STORE_MIB = 80  # just over Ray's minimum: the run must not need more

_holders = 0  # fixture instances holding the session's Ray


@pytest.fixture(scope="session")
def local_ray():
    """The `ray` module, initialised as a 2-CPU local cluster."""
    global _holders
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=CPUS,
                 object_store_memory=OBJECT_STORE_MIB * 1024 * 1024,
                 include_dashboard=False, log_to_driver=False)
    _holders += 1
    try:
        yield ray
    finally:
        _holders -= 1
        if not _holders:
            ray.shutdown()
