"""One status-details value: what progress, a summary, the store and the API all carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from caffebatch.jobs import RunStatus, RunSummary, StatusDetails

STARTED = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)


def _summary() -> RunSummary:
    return RunSummary(
        status=RunStatus.PARTIAL_SUCCESS, total=12, scored=10, failed=2, skipped=0,
        started_at=STARTED, finished_at=STARTED + timedelta(seconds=2.5), records_per_second=4.83,
        errors=({"input": "bad.json", "code": "empty", "message": "the object is empty"},),
        failure=None, batch_size=64,
    )


def test_a_summary_writes_summary_json_keys_in_their_order() -> None:
    document = _summary().to_json()
    assert list(document) == ["status", "total", "scored", "failed", "skipped", "skip_reasons",
                              "started_at", "finished_at", "seconds", "records_per_second", "batch_size",
                              "errors", "failure"]
    assert document["status"] == "PARTIAL_SUCCESS" and type(document["status"]) is str
    assert (document["seconds"], document["records_per_second"]) == (2.5, 4.8)
    assert document["started_at"] == "2026-12-01T09:30:00.123456+00:00"


def test_what_is_stored_reads_back_as_the_same_json() -> None:
    document = _summary().to_json()
    assert StatusDetails.from_json(document).to_json() == document


def test_progress_has_no_end_figures_and_a_queued_run_no_counts() -> None:
    running = StatusDetails(RunStatus.RUNNING, total=None, scored=3, failed=0, skipped=0,
                            started_at=STARTED, records_per_second=1.25).to_json()
    assert "seconds" not in running and "batch_size" not in running
    assert (running["finished_at"], running["records_per_second"]) == (None, 1.2)
    queued = StatusDetails.from_json({"status": "INITIALIZING"})
    assert (queued.total, queued.scored, queued.errors, queued.failure) == (None, None, (), None)
