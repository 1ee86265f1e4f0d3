"""Batch runs: every input object of a folder or bucket scored into another one.

    from caffebatch.jobs import Location, RunOptions, run_batch
    summary = run_batch(load_model("examples/lenet"), Location("in/"), Location("out/"),
                        RunOptions(run_id="first"))

The public surface: what a run is (`Location`, `RunOptions`, `RetryPolicy`), whether it may
start (`plan_run`, `default_batch_size`), running it (`run_batch`, `make_executor`, `RaySettings`, `connect_ray`) and how it
stands (`RunStatus`, `StatusDetails`, `RunSummary`). `RUN_FOLDER` names the run's own folder
in the target.
"""

from caffebatch.jobs.executors import Executor
from caffebatch.jobs.executors.choice import make_executor
from caffebatch.jobs.executors.ray import connect as connect_ray
from caffebatch.jobs.plan import RunPlan, default_batch_size, plan_run
from caffebatch.jobs.run import RUN_FOLDER, run_batch
from caffebatch.jobs.spec import Location, RetryPolicy, RunOptions
from caffebatch.jobs.status import RunStatus, RunSummary, StatusDetails
from caffebatch.settings import RaySettings

__all__ = [
    "RUN_FOLDER", "Executor", "Location", "RaySettings", "RetryPolicy", "RunOptions", "RunPlan",
    "RunStatus", "RunSummary", "StatusDetails", "connect_ray", "default_batch_size",
    "make_executor", "plan_run", "run_batch",
]
