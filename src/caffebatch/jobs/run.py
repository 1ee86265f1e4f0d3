"""run_batch: score every input object of a location into another, and report how it went."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from functools import partial

import orjson

from caffebatch.compiler.compile import CompiledModel
from caffebatch.errors import ModelError, RunError, StorageError
from caffebatch.jobs import pipeline
from caffebatch.jobs.batches import batches, default_batch_size
from caffebatch.jobs.executors import Executor
from caffebatch.jobs.executors.chunked import Job, run_chunked
from caffebatch.jobs.executors.local import LocalExecutor
from caffebatch.jobs.report import RunReport
from caffebatch.jobs.spec import (
    INVALID_RUN,
    MODEL_FAILED,
    STORAGE_FAILED,
    Location,
    Progress,
    RunOptions,
    RunSummary,
)
from caffebatch.jobs.storage import Storage, open_storage, overlaps
from caffebatch.runtime.scorer import Scorer

log = logging.getLogger("caffebatch.jobs")

RUN_FOLDER = "_caffebatch"

# exception type -> failure code of the run (first match wins)
FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (RunError, ""),  # carries its own code
    (StorageError, STORAGE_FAILED),
    (ModelError, MODEL_FAILED),
)


def check_locations(source: Location, target: Location) -> None:
    """Refuse a run whose target is its source, or lies inside it (or around it)."""
    if overlaps(source, target):
        raise RunError(
            INVALID_RUN,
            f"the output {target.url!r} is the input {source.url!r} or overlaps it; "
            "results would be read back as inputs",
        )


def check_batch(model: CompiledModel, batch_size: int, max_batch_bytes: int) -> None:
    """Refuse a batch size whose decoded inputs alone would pass `max_batch_bytes`."""
    record_bytes = 4 * sum(math.prod(shape) for shape in model.inputs.values())
    if batch_size * record_bytes > max_batch_bytes:
        fits = max(1, max_batch_bytes // record_bytes)
        raise RunError(
            INVALID_RUN,
            f"a batch of {batch_size} records of {record_bytes:,} bytes needs "
            f"{batch_size * record_bytes:,} bytes of input, over the limit of "
            f"{max_batch_bytes:,}; use a batch size of at most {fits}",
        )


def run_batch(
    model: CompiledModel,
    source: Location,
    target: Location,
    options: RunOptions,
    *,
    scorer: Scorer | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """Score every object under `source` into `target`; never raises for a failed run.

    Inputs whose result already exists in `target` are skipped, so a rerun resumes. At the
    end ``_caffebatch/<run_id>/summary.json`` and ``errors.jsonl`` are written to `target`.
    """
    report = RunReport(options.max_error_ratio)
    executor = executor or LocalExecutor(cancel)
    batch_size = options.batch_size or default_batch_size(model.declared_batch)
    failure: dict | None = None
    source_storage: Storage | None = None
    target_storage: Storage | None = None
    ticker = _Ticker(report, progress, options.progress_interval_s, executor)
    try:
        check_locations(source, target)
        check_batch(model, batch_size, options.max_batch_bytes)
        connections = options.concurrency
        source_storage = open_storage(source, options.retry, connections=connections)
        target_storage = open_storage(target, options.retry, connections=connections)
        target_storage.prepare()
        if getattr(executor, "places_work", False):  # Ray: its workers fetch, score and write
            job = Job(source, target, model.onnx.SerializeToString(), model.inputs, options,
                      batch_size, scorer, options.scorer_threads, model.engine)
            ticker.start()
            run_chunked(executor, job, source_storage, target_storage, report)
        else:
            # Decoding and writing share the cores with ONNX Runtime: its idle threads sleep.
            scorer = scorer or Scorer(model.onnx.SerializeToString(),
                                      threads=options.scorer_threads, spin=False,
                                      engine=model.engine)
            ticker.start()
            _pipeline(executor, model, scorer, source_storage, target_storage, options, batch_size,
                      report)
    except Exception as error:
        code = next((code for kind, code in FAILURES if isinstance(error, kind)), None)
        if code is None:
            raise  # a programming error
        failure = {"code": getattr(error, "code", code) or code,
                   "message": getattr(error, "message", None) or str(error)}
    finally:
        executor.stop()
        ticker.stop()
        if source_storage is not None:
            source_storage.close()
    cancelled = cancel is not None and cancel.is_set()
    summary = report.summary(_status(report, failure, cancelled), failure, batch_size)
    if target_storage is not None:
        try:
            _write_artifacts(target_storage, options, model, source, target, summary, report)
        finally:  # the target is written to until here, so it closes last
            target_storage.close()
    report.close()
    return summary


def _pipeline(executor: Executor, model: CompiledModel, scorer, source: Storage, target: Storage,
              options: RunOptions, batch_size: int, report: RunReport) -> None:
    entries = pipeline.pending(source.list(), target.list(), report)
    load = partial(pipeline.load_all, source, target, model.inputs, options.max_record_bytes)
    loaded = executor.map(load, pipeline.chunks(entries, pipeline.chunk_size(source, batch_size)),
                          workers=pipeline.workers(source, options.concurrency))
    scored = executor.map(partial(pipeline.score, scorer),
                          batches(pipeline.accept(loaded, report), batch_size), workers=1)
    written = executor.map(partial(pipeline.write, target), scored,
                           workers=pipeline.workers(target, options.concurrency))
    for count in written:
        report.scored_some(count)
    if not executor.stopped():
        report.check_threshold()


def _status(report: RunReport, failure: dict | None, cancelled: bool) -> str:
    if cancelled:
        return "CANCELLED"
    if failure is not None:
        return "FAILURE"
    return "PARTIAL_SUCCESS" if report.failed else "SUCCESS"


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

    def __init__(self, report: RunReport, progress, interval: float, executor: Executor) -> None:
        self.report, self.progress, self.interval = report, progress, interval
        self.executor = executor
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
        try:
            self.progress(self.report.progress())
        except Exception:  # a listener that fails (the service's database, say) ends no run
            log.exception("the progress listener failed; the run goes on")
