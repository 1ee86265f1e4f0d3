"""A deployment's status details as the pages show them."""

from __future__ import annotations

from caffebatch.dashboard.progress import ProgressView, duration, progress_of
from caffebatch.jobs import StatusDetails
from caffebatch.store import states


def _view(status: str, **progress: object) -> ProgressView:
    return progress_of("d", status, StatusDetails.from_json({"status": status, **progress}))


def test_a_running_deployment_has_a_share_done_and_time_left() -> None:
    view = _view(states.RUNNING, total=1000, scored=180, failed=15, skipped=5,
                 records_per_second=40.0, errors=[{"input": "x.json"}])
    assert view.active and view.percent == 20.0
    assert view.seconds_left == 800 / 40.0
    assert view.to_json()["time_left"] == "20 s"
    assert view.errors == [{"input": "x.json"}]


def test_before_the_listing_ends_the_share_is_unknown() -> None:
    view = _view(states.RUNNING, total=None, scored=64, records_per_second=10.0)
    assert view.percent is None and view.seconds_left is None


def test_finished_and_queued_runs() -> None:
    done = _view(states.PARTIAL_SUCCESS, total=12, scored=10, failed=2)
    assert (done.percent, done.active, done.tone, done.seconds_left) == (100.0, False, "warn", None)
    empty = _view(states.SUCCESS, total=0)
    assert empty.percent == 100.0
    queued = progress_of("q", states.INITIALIZING, StatusDetails(states.INITIALIZING))
    assert queued.active and queued.percent is None and queued.label == "Queued"


def test_durations_read_like_a_person_says_them() -> None:
    assert [duration(s) for s in (None, 4.4, 200, 7500)] == [None, "4 s", "3 min 20 s",
                                                             "2 h 5 min"]


def test_a_run_that_failed_before_listing_is_not_shown_done() -> None:
    failed = _view(states.FAILURE, total=None, scored=0,
                   failure={"code": "storage_error", "message": "the bucket 'in' does not exist"})
    assert failed.percent is None and not failed.active
    assert failed.failure == {"code": "storage_error", "message": "the bucket 'in' does not exist"}
    listed_nothing = _view(states.FAILURE, total=0, failure={"code": "no_inputs", "message": "x"})
    assert listed_nothing.percent is None
