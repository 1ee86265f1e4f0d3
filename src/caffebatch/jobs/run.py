"""run_batch: score every input object of a location into another, and report how it went."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from caffebatch.errors import StorageError, code_of
from caffebatch.inputs.spec import InputSpec
from caffebatch.jobs.executors import Executor, Job
from caffebatch.jobs.executors.local import LocalExecutor
from caffebatch.jobs.pipeline import DONE, pending
from caffebatch.jobs.plan import RunPlan, plan_run
from caffebatch.jobs.report import RunReport
from caffebatch.jobs.resume import complete_results
from caffebatch.jobs.spec import INTERRUPTED, Location, RunOptions
from caffebatch.jobs.status import RunStatus, RunSummary, StatusDetails
from caffebatch.jobs.storage import Storage, open_storage

if TYPE_CHECKING:
    from caffebatch.compiler.compile import CompiledModel
    from caffebatch.runtime.scorer import Scorer

log = logging.getLogger("caffebatch.jobs")

RUN_FOLDER = "_caffebatch"


def run_batch(
    model: CompiledModel,
    source: Location,
    target: Location,
    options: RunOptions,
    *,
    scorer: Scorer | None = None,
    progress: Callable[[StatusDetails], None] | None = None,
    cancel: threading.Event | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """Score every object under `source` into `target`; never raises for a failed run.

    Inputs with a complete result in `target` are skipped (jobs/resume.py), so a rerun
    resumes; every other input, an earlier attempt's bad ones too, is tried again, and the
    error threshold is over the whole output. At the end of every run that can still write
    (a failed, cancelled or interrupted one too) ``_caffebatch/<run_id>/summary.json`` and
    ``errors.jsonl`` are written to `target`, with the counts of what was written.
    `progress` is called with the run's StatusDetails every `options.progress_interval_s`
    and once at the end; `executor` (default: local threads) should share `cancel`.
    """
    report = RunReport(options.max_error_ratio)
    executor = executor or LocalExecutor(cancel, options.processes)
    plan: RunPlan | None = None
    failure: dict[str, str] | None = None
    interrupted = False
    source_storage: Storage | None = None
    target_storage: Storage | None = None
    ticker = _Ticker(report, progress, options.progress_interval_s)
    try:
        plan = plan_run(source, target, model, options)
        assert plan.batch_size is not None  # planned with the model
        source, target = plan.source, plan.target  # local ones made absolute
        source_storage = open_storage(source, options.retry, connections=options.concurrency)
        target_storage = open_storage(target, options.retry, connections=options.concurrency)
        target_storage.prepare()
        job = Job(source, target, model.onnx.SerializeToString(), input_spec(model, options),
                  options, plan.batch_size, scorer, options.scorer_threads, model.engine,
                  model.precision, options.passes)
        ticker.start()
        done = complete_results(target_storage, target_storage.list(), options.concurrency)
        entries = pending(source_storage.list(), done, report)
        with contextlib.closing(executor.run(job, entries)) as outcomes:
            for outcome in outcomes:
                report.counted(outcome)
        if not _set(cancel):
            report.check_threshold()
    except KeyboardInterrupt:  # Ctrl-C: say what was written, then let it end the process
        interrupted = True
        failure = {"code": INTERRUPTED, "message": "the run was interrupted (Ctrl-C)"}
    except Exception as error:
        code = code_of(error, run=True)
        if code is None:
            raise  # a programming error
        failure = {"code": code, "message": getattr(error, "message", None) or str(error)}
    finally:
        ticker.stop()
        if source_storage is not None:
            source_storage.close()
    stopped = interrupted or _set(cancel)
    if target_storage is not None and (failure is not None or stopped):
        _recount(target_storage, report)
    batch_size = plan.batch_size if plan and plan.batch_size else options.batch_size or 0
    summary = report.summary(_status(report, failure, stopped), failure, batch_size)
    if target_storage is not None:
        try:
            _write_artifacts(target_storage, options, model, source, target, summary, report)
        finally:  # the target is written to until here, so it closes last
            target_storage.close()
    report.close()
    if interrupted:
        raise KeyboardInterrupt
    return summary


def input_spec(model: CompiledModel, options: RunOptions) -> InputSpec:
    """What decoding the run's input objects needs to know of the model."""
    return InputSpec(model.inputs, model.transforms, options.max_image_pixels,
                     options.max_jsonl_bytes, options.max_jsonl_lines)


def _recount(target: Storage, report: RunReport) -> None:
    """A run that ended early may have written more than the chunks that came back said
    (a chunk's writes land before its outcome): count the results in the target now, less
    those that were done before the run. Results are written only for inputs listed so far,
    and listings come in key order, so only keys up to the last one listed count. Best
    effort: the target may be what failed."""
    last = report.last_listed
    if last is None:
        return
    try:
        present = sum(1 for entry in target.list() if entry.skip is None and entry.key <= last)
    except StorageError:
        return
    report.recounted(present - report.skip_reasons.get(DONE, 0))


def _set(flag: threading.Event | None) -> bool:
    return flag is not None and flag.is_set()


def _status(report: RunReport, failure: dict[str, str] | None, cancelled: bool) -> RunStatus:
    if cancelled:
        return RunStatus.CANCELLED
    if failure is not None:
        return RunStatus.FAILURE
    return RunStatus.PARTIAL_SUCCESS if report.failed else RunStatus.SUCCESS


def _write_artifacts(target: Storage, options: RunOptions, model: CompiledModel, source: Location,
                     destination: Location, summary: RunSummary, report: RunReport) -> None:
    """summary.json and errors.jsonl; best effort, since the target may be what failed."""
    folder = f"{RUN_FOLDER}/{options.run_id}"
    document = {
        "run_id": options.run_id,
        **summary.to_json(),
        "model": {"name": options.model_name, "inputs": {k: list(v) for k, v in model.inputs.items()},
                  "outputs": list(model.outputs)},
        "input": source.url,
        "output": destination.url,
        "errors_file": f"{folder}/errors.jsonl",
    }
    try:
        target.put(f"{folder}/errors.jsonl", report.errors_jsonl())
        target.put(f"{folder}/summary.json", orjson.dumps(document, option=orjson.OPT_INDENT_2))
    except StorageError:
        pass


class _Ticker:
    """Calls `progress` every `interval` seconds from its own thread, and once at the end."""

    def __init__(self, report: RunReport, progress: Callable[[StatusDetails], None] | None,
                 interval: float) -> None:
        self.report, self.progress, self.interval = report, progress, interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def start(self) -> None:
        if self.progress is not None:
            self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            self._tell()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.progress is not None:
            self._tell()

    def _tell(self) -> None:
        assert self.progress is not None
        try:
            self.progress(self.report.progress())
        except Exception:  # a listener that fails (the service's database, say) ends no run
            log.exception("the progress listener failed; the run goes on")
