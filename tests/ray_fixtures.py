"""One local Ray (2 CPUs, a small object store) for the whole test session, shut down at its end.

Ray takes seconds to start, so the Ray tests share this one; the executor joins it because
Ray is already initialised in the process. Import the fixture into a test module with
``from tests.jobs.ray_fixtures import local_ray``.
"""

from __future__ import annotations

import pytest

CPUS = 2
OBJECT_STORE_MIB = 80  # just over Ray's minimum: the run must not need more


@pytest.fixture(scope="session")
def local_ray():
    """The `ray` module, initialised as a 2-CPU local cluster."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
    ray.init(address="local", num_cpus=CPUS, object_store_memory=OBJECT_STORE_MIB * 1024 * 1024,
             include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
