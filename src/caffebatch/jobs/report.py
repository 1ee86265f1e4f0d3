"""The run's tally: counters, the error report (spooled to disk), progress and the summary."""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime

import orjson

from caffebatch.errors import RunError
from caffebatch.jobs.pipeline import Outcome
from caffebatch.jobs.spec import ERROR_THRESHOLD
from caffebatch.jobs.status import RunStatus, RunSummary, StatusDetails

FIRST_ERRORS = 10  # how many errors progress and the summary carry inline


class RunReport:
    """Thread-safe counts of one run. Error entries go to a temporary file, not memory."""

    def __init__(self, max_error_ratio: float) -> None:
        self.max_error_ratio = max_error_ratio
        self.started_at = datetime.now(UTC)
        self._clock = time.monotonic()
        self._lock = threading.Lock()
        self.total: int | None = None
        self.listed = self.scored = self.failed = self.skipped = 0
        self.first_errors: list[dict[str, str]] = []
        # open for the run's length; close() closes it
        self._spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115

    # --- counting, called from any thread

    def listed_one(self, skipped: bool) -> None:
        with self._lock:
            self.listed += 1
            self.skipped += skipped

    def listing_done(self) -> None:
        with self._lock:
            self.total = self.listed
        self.check_threshold()

    def counted(self, outcome: Outcome) -> None:
        """A chunk's results and failures; raises RunError once the failures are too many."""
        with self._lock:
            self.scored += outcome.written
            # a JSON Lines object is listed once and counts each of its records
            self.listed += outcome.expanded
            if self.total is not None:
                self.total += outcome.expanded
            self.skipped += outcome.done
        for failure in outcome.failures:
            self.failed_one(failure.key, failure.code, failure.message)

    def failed_one(self, key: str, code: str, message: str) -> None:
        entry = {"input": key, "code": code, "message": message}
        with self._lock:
            self.failed += 1
            self._spool.write(orjson.dumps(entry) + b"\n")
            if len(self.first_errors) < FIRST_ERRORS:
                self.first_errors.append(entry)
        self.check_threshold()

    def check_threshold(self) -> None:
        """Fail once the bad records are sure to exceed the threshold (the listing is done)."""
        if self.total is not None and self.failed > self.max_error_ratio * self.attempted:
            raise RunError(
                ERROR_THRESHOLD,
                f"{self.failed} of {self.attempted} records are bad, over the "
                f"--max-error-ratio of {self.max_error_ratio:g}; see errors.jsonl",
            )

    @property
    def attempted(self) -> int:
        """The records this run has to score: all listed, less those already done."""
        return (self.total if self.total is not None else self.listed) - self.skipped

    # --- reading

    def rate(self) -> float:
        elapsed = time.monotonic() - self._clock
        return (self.scored + self.failed) / elapsed if elapsed > 0 else 0.0

    def progress(self) -> StatusDetails:
        """Where the run stands now (RUNNING)."""
        with self._lock:
            return StatusDetails(
                status=RunStatus.RUNNING, total=self.total, scored=self.scored,
                failed=self.failed, skipped=self.skipped, started_at=self.started_at,
                records_per_second=self.rate(), errors=tuple(self.first_errors),
            )

    def errors_jsonl(self) -> bytes:
        with self._lock:
            self._spool.seek(0)
            data = self._spool.read()
            self._spool.seek(0, 2)
            return data

    def summary(self, status: RunStatus, failure: dict[str, str] | None,
                batch_size: int) -> RunSummary:
        with self._lock:
            return RunSummary(
                status=status,
                total=self.total if self.total is not None else self.listed,
                scored=self.scored, failed=self.failed, skipped=self.skipped,
                started_at=self.started_at, finished_at=datetime.now(UTC),
                records_per_second=self.rate(), errors=tuple(self.first_errors),
                failure=failure, batch_size=batch_size,
            )

    def close(self) -> None:
        self._spool.close()
