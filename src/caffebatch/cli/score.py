"""`caffebatch score`: score every input object of a folder or bucket into another."""

from __future__ import annotations

import secrets
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from caffebatch.cli.ray_flags import ray_options, ray_settings
from caffebatch.runtime.backends import BF16, F32, engine_names

if TYPE_CHECKING:
    from caffebatch.compiler.compile import CompiledModel
    from caffebatch.inputs.transform import TransformSpec
    from caffebatch.jobs import RunSummary, StatusDetails

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

# run status (caffebatch.jobs.RunStatus) -> exit code
EXIT_CODES: dict[str, int] = {
    "SUCCESS": EXIT_OK,
    "PARTIAL_SUCCESS": EXIT_PARTIAL,
    "FAILURE": EXIT_FAILED,
    "CANCELLED": EXIT_FAILED,
}

EPILOG = """\b
SRC and DST are local folders or s3://bucket[/prefix]. S3 credentials come from the usual
AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION); the
endpoint from --s3-endpoint or AWS_ENDPOINT_URL. A rerun with the same DST skips inputs
that already have a result, so it resumes an interrupted run.

\b
Exit codes:
  0  every record was scored
  3  some records failed, under --max-error-ratio (see DST/_caffebatch/RUN/errors.jsonl)
  1  the run failed (the model, the storage, or too many bad records)
  2  usage error (bad options, DST overlapping SRC)
"""


def new_run_id() -> str:
    """A sortable, unique-enough run id: the UTC time and a few random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


@click.command(epilog=EPILOG)
@click.argument("model_dir", type=click.Path(exists=True))
@click.option("--input", "source", required=True, metavar="SRC", help="Folder or s3://bucket[/prefix] to read.")
@click.option("--output", "target", required=True, metavar="DST", help="Folder or s3://bucket[/prefix] to write.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Records per forward pass [default: the prototxt's batch when > 1, else 32].")
@click.option("--max-error-ratio", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Fail the run when more than this share of the records are bad.")
@click.option("--s3-endpoint", envvar="AWS_ENDPOINT_URL", help="S3-compatible endpoint URL.")
@click.option("--run-id", default=None, help="Names DST/_caffebatch/RUN_ID/ [default: a timestamp].")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="Objects fetched (and batches written) at once.")
@click.option("--max-inflight-mib", type=click.IntRange(min=1), default=512, show_default=True,
              help="Memory for the records in flight (fetched, decoded, batched), in MiB.")
@click.option("--processes", type=click.IntRange(min=0), default=0, show_default=True,
              help="Local worker processes to score in (0: threads in this process).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Scoring threads in all [default: every core].")
@click.option("--passes", type=click.IntRange(min=1), default=None,
              help="Forward passes at once, each on its share of --threads [default: 2].")
@click.option("--engine", type=click.Choice(engine_names()), default="auto", show_default=True,
              help="Backend: auto measures the installed ones on this model and batch size and "
                   "keeps the fastest that matches ONNX Runtime; openvino needs "
                   "pip install 'caffebatch[openvino]'.")
@click.option("--remeasure", is_flag=True,
              help="Measure the backends for --engine auto again, instead of keeping what "
                   "was measured for this model on this machine before (docs/batch-runs.md).")
@click.option("--outage-budget", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="How long a storage call keeps retrying through an outage.")
@click.option("--precision", type=click.Choice([F32, BF16]), default=F32, show_default=True,
              help="bf16 (opt-in, on CPUs with AMX or AVX512-BF16, on OpenVINO): faster, but not "
                   "Caffe's numerics; its measured deviation from f32 is printed.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where to run: this process, or a Ray cluster (pip install 'caffebatch[ray]').")
@click.option("--transform", "transform_file", type=click.Path(exists=True, dir_okay=False),
              metavar="FILE.json",
              help="Image transforms by input layer, replacing deployment-meta.json's for the "
                   "layers it names (docs/batch-runs.md, Images).")
@click.option("--max-image-pixels", type=click.IntRange(min=1), default=40_000_000,
              envvar="CAFFEBATCH_MAX_IMAGE_PIXELS", show_default=True,
              help="Refuse images larger than this (height x width) as too_many_pixels.")
@click.option("--max-jsonl-mib", type=click.IntRange(min=1), default=64, show_default=True,
              help="Refuse a .jsonl object larger than this (MiB) as too_large.")
@click.option("--max-jsonl-lines", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Refuse a .jsonl object with more records (lines) as too_many_lines.")
@ray_options
def score(model_dir: str, source: str, target: str, batch_size: int | None, max_error_ratio: float,
          s3_endpoint: str | None, run_id: str | None, concurrency: int, max_inflight_mib: int,
          processes: int, threads: int | None, passes: int | None, remeasure: bool,
          outage_budget: float, engine: str,
          precision: str, executor: str, transform_file: str | None, max_image_pixels: int,
          max_jsonl_mib: int, max_jsonl_lines: int, **ray_flags: Any) -> None:
    """Score every input object of SRC with the model MODEL_DIR, one result object per input in DST.

    MODEL_DIR is a model folder (with deployment-meta.json) or a .tar.gz/.zip archive of one.
    """
    from caffebatch.errors import CaffebatchError, ExtraMissingError, ModelError, RunError
    from caffebatch.jobs import (
        Location,
        RetryPolicy,
        RunOptions,
        make_executor,
        plan_run,
        run_batch,
    )
    from caffebatch.jobs.executors.chunked import scoring_split
    from caffebatch.model import load_model

    source_location = Location(source, endpoint_url=s3_endpoint if source.startswith("s3://") else None)
    target_location = Location(target, endpoint_url=s3_endpoint if target.startswith("s3://") else None)
    transforms = _read_transforms(transform_file) if transform_file else None
    try:
        model = load_model(model_dir, transforms)
    except CaffebatchError as error:
        click.echo(f"caffebatch: cannot load the model: {error}", err=True)
        sys.exit(EXIT_FAILED)
    options = RunOptions(
        run_id=run_id or new_run_id(), batch_size=batch_size, max_error_ratio=max_error_ratio,
        concurrency=concurrency, scorer_threads=threads, passes=passes,
        model_name=str(model_dir),
        max_inflight_bytes=max_inflight_mib * 1024 * 1024, processes=processes,
        retry=RetryPolicy(outage_s=outage_budget), max_image_pixels=max_image_pixels,
        max_jsonl_bytes=max_jsonl_mib * 1024 * 1024, max_jsonl_lines=max_jsonl_lines,
    )
    try:
        plan = plan_run(source_location, target_location, model, options)
    except RunError as error:
        raise click.UsageError(error.message) from error
    try:
        assert plan.batch_size is not None  # planned with the model, so resolved
        # measured as one of a local run's forward passes runs, on its share of the threads
        model, kept = choose_recorded(model, engine, batch=plan.batch_size,
                                      threads=scoring_split(threads, passes)[1],
                                      precision=precision, remeasure=remeasure)
    except (ExtraMissingError, ModelError) as error:
        raise click.UsageError(str(error)) from error
    click.echo(engine_line(model), err=True)
    if kept:
        click.echo(kept, err=True)
    cancel = threading.Event()
    try:
        chosen = make_executor(executor, cancel, ray_settings(ray_flags))
    except ExtraMissingError as error:
        raise click.UsageError(str(error)) from error
    with _progress_display() as show:
        try:
            summary = run_batch(model, source_location, target_location, options,
                                progress=show, cancel=cancel, executor=chosen)
        except KeyboardInterrupt:
            cancel.set()
            raise
    click.echo(one_line(summary, options.run_id))
    if summary.failure:
        click.echo(f"caffebatch: {summary.failure['code']}: {summary.failure['message']}", err=True)
    sys.exit(EXIT_CODES[summary.status])


def choose_recorded(model: CompiledModel, engine: str, *, batch: int, threads: int | None,
                    precision: str, remeasure: bool = False) -> tuple[CompiledModel, str | None]:
    """`choose_engine`, keeping what it measures on this machine for the next runs.

    A choice measured before for this model, batch size, precision and thread count, on
    this machine (runtime/choice_cache.py), is used as it is unless `remeasure`; one
    measured now is recorded. Also returns a line for the log: where the choice is kept (or
    why it could not be); None when nothing was measured (a backend named outright, or
    ONNX Runtime the only one installed).
    """
    import dataclasses

    from caffebatch.model import choose_engine
    from caffebatch.runtime.choice import named
    from caffebatch.runtime.choice_cache import ChoiceCache, cache_folder

    if named(engine, precision) is not None:
        return choose_engine(model, engine, batch=batch, precision=precision), None
    kept_in = ChoiceCache(cache_folder()).file(model.onnx.SerializeToString(), threads)
    recorded = kept_in.load()
    if remeasure:  # drop this batch size's and precision's choice; keep the others
        recorded = tuple(c for c in recorded
                         if (c.get("batch"), c.get("precision", F32)) != (batch, precision))
    chosen = choose_engine(dataclasses.replace(model, engine_choices=recorded), engine,
                           batch=batch, threads=threads, precision=precision)
    if chosen.engine_choice is None:
        return chosen, None
    if chosen.engine_choices == recorded:
        return chosen, (f"engine: as measured before on this machine, kept in "
                        f"{kept_in.path} (--remeasure measures again)")
    try:
        kept_in.save(chosen.engine_choices)
    except OSError as error:  # a read-only home: the run goes on, the next one measures again
        return chosen, f"engine: the choice could not be kept for the next runs: {error}"
    return chosen, f"engine: choice kept for the next runs in {kept_in.path}"


def _how(trial: Mapping[str, Any]) -> str:
    # choices recorded before `mismatch` was measured have the deviation only
    return trial.get("mismatch") or f"by {trial['deviation']:.1e}"


def engine_line(model: CompiledModel) -> str:
    """`engine: openvino (auto, batch 64: onnxruntime 3.18 ms, openvino 2.59 ms a call)`.

    At bf16 a second line says how far its outputs are from f32 (`choice.deviation_line`).
    """
    from caffebatch.runtime.choice import deviation_line

    name = model.engine or "onnxruntime"
    choice = model.engine_choice
    if choice is None:
        return f"engine: {name}"
    exact = choice.get("precision", F32) == F32
    trials = ", ".join(
        f"{t['engine']}{'' if exact else ' ' + t.get('precision', F32)} "
        f"{t['seconds_per_call'] * 1e3:.2f} ms"
        + ("" if t["matches"] or not exact
           else f" (outputs differ, {_how(t)}: not used)")
        for t in choice["trials"]
    )
    how = "auto" if exact else f"precision {choice['precision']}"
    line = f"engine: {name} ({how}, batch {choice['batch']}: {trials} a call)"
    deviation = deviation_line(choice)
    return line if deviation is None else f"{line}\n{deviation}"


def _read_transforms(path: str) -> dict[str, TransformSpec]:
    """The transforms in a --transform file; a usage error says what is wrong with it."""
    import json
    from pathlib import Path

    from caffebatch.errors import PackageError
    from caffebatch.inputs import parse_transforms

    try:
        document = json.loads(Path(path).read_bytes())
        return parse_transforms(document, f"--transform {path}")
    except (ValueError, UnicodeDecodeError) as error:
        raise click.UsageError(f"--transform {path} is not valid JSON: {error}") from error
    except PackageError as error:
        raise click.UsageError(str(error)) from error


def one_line(summary: RunSummary, run_id: str) -> str:
    """`SUCCESS: 360 scored, 0 failed, 0 skipped of 360 in 0.4 s (900 records/s), run ID`."""
    seconds = (summary.finished_at - summary.started_at).total_seconds()
    return (
        f"{summary.status}: {summary.scored} scored, {summary.failed} failed, "
        f"{summary.skipped} skipped of {summary.total} in {seconds:.1f} s "
        f"({summary.records_per_second:,.0f} records/s), run {run_id}"
    )


class _progress_display:
    """A rich progress bar on a terminal (records, rate, errors, time left); silent otherwise."""

    def __enter__(self) -> Callable[[StatusDetails], None] | None:
        if not sys.stderr.isatty():
            self._bar = None
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("scoring"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:,.0f}/s  errors {task.fields[failed]}"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=True,
        )
        self._task = self._bar.add_task("score", total=None, rate=0.0, failed=0)
        self._bar.start()
        return self.update

    def update(self, progress: StatusDetails) -> None:
        assert self._bar is not None  # handed out by __enter__ only with a bar
        scored, failed, skipped = (progress.scored or 0, progress.failed or 0,
                                   progress.skipped or 0)  # a run's progress counts them all
        total = None if progress.total is None else progress.total - skipped
        self._bar.update(self._task, total=total, completed=scored + failed,
                         rate=progress.records_per_second or 0.0, failed=failed)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
