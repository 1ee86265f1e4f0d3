"""Batch runs: every input object of a folder or bucket scored into another one.

    from caffebatch.jobs import Location, RunOptions, run_batch
    summary = run_batch(load_model("examples/lenet"), Location("in/"), Location("out/"),
                        RunOptions(run_id="first"))
"""

from caffebatch.jobs.run import check_locations, run_batch
from caffebatch.jobs.spec import Location, Progress, RetryPolicy, RunOptions, RunSummary

__all__ = [
    "Location", "Progress", "RetryPolicy", "RunOptions", "RunSummary", "check_locations", "run_batch",
]
