"""The run's tally: counters, the error report (spooled to disk), progress and the summary."""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime

import orjson

from caffebatch.errors import RunError
from caffebatch.jobs.pipeline import DONE, Outcome
from caffebatch.jobs.spec import ERROR_THRESHOLD, NO_INPUTS
from caffebatch.jobs.status import RunStatus, RunSummary, StatusDetails

FIRST_ERRORS = 10  # how many errors progress and the summary carry inline


class RunReport:
    """Thread-safe counts of one run. Error entries go to a temporary file, not memory.

    The threshold spans the whole output, not this attempt: an input scored by an earlier
    attempt counts as done (skipped, reason DONE), and every input without a result is tried
    again, so the bad records of earlier attempts are found and counted again.
    """

    def __init__(self, max_error_ratio: float) -> None:
        self.max_error_ratio = max_error_ratio
        self.started_at = datetime.now(UTC)
        self._clock = time.monotonic()
        self._lock = threading.Lock()
        self.total: int | None = None
        self.listed = self.scored = self.failed = self.skipped = 0
        self.skip_reasons: dict[str, int] = {}  # DONE, or a storage's reason (NESTED, ...)
        self.last_listed: str | None = None     # listings come in key order
        self.first_errors: list[dict[str, str]] = []
        # open for the run's length; close() closes it
        self._spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115

    # --- counting, called from any thread

    def listed_one(self, key: str, skip: str | None = None) -> None:
        """One listed entry: an input to score (`skip` None), or skipped with its reason."""
        with self._lock:
            self.listed += 1
            self.last_listed = key
            if skip is not None:
                self.skipped += 1
                self.skip_reasons[skip] = self.skip_reasons.get(skip, 0) + 1

    def listing_done(self) -> None:
        """The listing is complete; raises RunError when nothing in it is an input."""
        with self._lock:
            self.total = self.listed
        if self.inputs == 0:
            reasons = ", ".join(f"{count} {why}" for why, count in sorted(self.skip_reasons.items()))
            raise RunError(NO_INPUTS, "nothing under the input location can be scored: "
                           + (f"{self.listed} objects listed, all skipped ({reasons})"
                              if self.listed else "it is empty"))
        self.check_threshold()

    def counted(self, outcome: Outcome) -> None:
        """A chunk's results and failures; raises RunError once the failures are too many."""
        with self._lock:
            self.scored += outcome.written
            # a JSON Lines object is listed once and counts each of its records
            self.listed += outcome.expanded
            if self.total is not None:
                self.total += outcome.expanded
            if outcome.done:  # records of a JSON Lines object that an earlier attempt wrote
                self.skipped += outcome.done
                self.skip_reasons[DONE] = self.skip_reasons.get(DONE, 0) + outcome.done
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
        if self.total is not None and self.failed > self.max_error_ratio * self.inputs:
            raise RunError(
                ERROR_THRESHOLD,
                f"{self.failed} of the output's {self.inputs} inputs are bad, over the "
                f"max_error_ratio of {self.max_error_ratio:g}; see errors.jsonl",
            )

    @property
    def inputs(self) -> int:
        """The inputs of the whole output so far: listed, less what is not an input (done
        inputs count: the threshold is over the output, not this attempt)."""
        not_inputs = self.skipped - self.skip_reasons.get(DONE, 0)
        return (self.total if self.total is not None else self.listed) - not_inputs

    def recounted(self, written: int) -> None:
        """After a run that stopped early: `written` results are known to be in the target
        (more than the chunks that came back said, when writes were under way)."""
        with self._lock:
            self.scored = max(self.scored, written)

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
                skip_reasons=dict(self.skip_reasons),
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
                failure=failure, batch_size=batch_size, skip_reasons=dict(self.skip_reasons),
            )

    def close(self) -> None:
        self._spool.close()
