"""One attempt at one deployment: set up the run, execute it, record progress and usage."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from caffebatch.errors import CaffebatchError, code_of
from caffebatch.jobs import RetryPolicy, StatusDetails, make_executor, run_batch
from caffebatch.service.context import ServiceContext
from caffebatch.service.crypto import MASK
from caffebatch.service.metrics import ServiceMetrics
from caffebatch.service.runfiles import places_of
from caffebatch.service.spec import RunChoices
from caffebatch.service.throughput import KEY as THROUGHPUT
from caffebatch.service.throughput import Throughput
from caffebatch.service.transforms import with_override
from caffebatch.service.usage import LIMITED, consumed
from caffebatch.store import leases, states
from caffebatch.store.tables import Deployment, ModelVersion, PublishedModel, Usage, utcnow

log = logging.getLogger("caffebatch.worker")


def failure_of(error: BaseException) -> dict[str, str]:
    """The `{code, message}` a deployment shows for an error that stopped its run."""
    return {"code": code_of(error, run=True) or "run_error", "message": str(error)}



class ModelCache:
    """Compiled models by version folder, loaded from what publishing saved; the last few kept.

    A model's weights can take hundreds of megabytes, so only the `size` most recently used
    stay in memory; loading one again costs a read of its saved ONNX file. Each comes with
    the backend the `engine` and `precision` settings give it at the run's batch size; with
    ``auto`` (or ``bf16``), a batch size not measured before is measured at first use and
    the choice saved with the model. Loading and measuring happen outside the lock: they
    take seconds, and other runs' models must not wait for them.
    """

    def __init__(
        self,
        size: int = 4,
        engine: str = "auto",
        precision: str = "f32",
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.size, self.engine, self.precision = size, engine, precision
        self.metrics = metrics
        self._lock = threading.Lock()
        self._models: OrderedDict[Path, Any] = OrderedDict()

    def get(self, folder: Path, batch_size: int | None = None) -> Any:
        """The model in `folder`, with its backend for runs of `batch_size` (None: the default)."""
        from caffebatch.compiler.artifact import load_compiled, save_meta
        from caffebatch.jobs import default_batch_size
        from caffebatch.model import choose_engine
        from caffebatch.runtime.choice import deviation_line

        compiled = self._cached(folder) or self._keep(folder, load_compiled(folder))
        batch = batch_size or default_batch_size(compiled.declared_batch)
        chosen = choose_engine(compiled, self.engine, batch=batch, precision=self.precision)
        if chosen.engine_choices != compiled.engine_choices:  # measured now: keep and save it
            with self._lock:
                if self._models.get(folder) is compiled:
                    self._models[folder] = chosen
                save_meta(chosen, folder)  # later loads (and restarts) reuse it
            log.info("model %s: engine %s at batch %d", folder.name, chosen.engine, batch)
        if chosen.engine_choice is not None and deviation_line(chosen.engine_choice):
            log.info("model %s: %s", folder.name, deviation_line(chosen.engine_choice))
        return chosen

    def _cached(self, folder: Path) -> Any:
        with self._lock:
            hit = folder in self._models
            if self.metrics is not None:
                self.metrics.model_cache.labels(result="hit" if hit else "load").inc()
            if hit:
                self._models.move_to_end(folder)
            return self._models.get(folder)

    def _keep(self, folder: Path, compiled: Any) -> Any:
        with self._lock:  # another run may have loaded it meanwhile: keep one copy
            kept = self._models.setdefault(folder, compiled)
            self._models.move_to_end(folder)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return kept


class Execution:
    """Runs one claimed (RUNNING) deployment to its end, or requeues it when stopping."""

    def __init__(
        self,
        ctx: ServiceContext,
        deployment_id: str,
        cancel: threading.Event,
        stopping: threading.Event,
        models: ModelCache,
    ) -> None:
        self.ctx, self.id, self.cancel, self.stopping = ctx, deployment_id, cancel, stopping
        self.models = models
        self.limit_hit: str | None = None  # why the plan stopped the run
        self._secrets: list[str] = []
        self._last_save = 0.0
        self._counted = (0, 0)  # (scored, failed) of this attempt already in the metrics
        self._throughput = Throughput()

    def run(self) -> None:
        with self.ctx.db.session() as session:
            deployment = session.get(Deployment, self.id)
            if deployment is None or deployment.status != states.RUNNING:
                return
            usage = session.get(Usage, self.id) or Usage(
                deployment_id=self.id, instance_id=deployment.instance_id
            )
            session.add(usage)
            self._base = (usage.predictions or 0, usage.computation_s or 0.0)
            self._instance_id = deployment.instance_id
            model = session.get(PublishedModel, deployment.model_id)
            model_name = model.name if model else None
            version_folder = self.ctx.settings.models_dir / deployment.version_id
            choices = RunChoices.model_validate(deployment.options or {})
            version = session.get(ModelVersion, deployment.version_id)
            version_meta = dict(version.meta) if version is not None else {}
            stored = (deployment.input, deployment.output, deployment.secrets)
        self._started = time.monotonic()
        try:
            places = places_of(self.ctx, *stored)
            self._secrets = list(places.secrets)
            compiled = with_override(self.models.get(version_folder, choices.batch_size),
                                     choices.transform, version_meta, version_folder)
            executor = self._executor()
        except CaffebatchError as error:
            failure = self._redact_failure(error)
            self._finish(states.FAILURE, StatusDetails(states.FAILURE, failure=failure))
            return
        log.info("deployment %s: run starts (attempt over %s)", self.id, stored[0].get("type"))
        summary = run_batch(
            compiled,
            places.source,
            places.target,
            replace(
                choices.run_options(
                    self.id,
                    model_name,
                    self.ctx.settings.progress_interval_s,
                    self.ctx.settings.max_inflight_mib * 1024 * 1024,
                ),
                max_image_pixels=self.ctx.settings.max_image_pixels,
                retry=RetryPolicy(outage_s=self.ctx.settings.storage_outage_s),
                max_jsonl_bytes=self.ctx.settings.max_jsonl_bytes,
                max_jsonl_lines=self.ctx.settings.max_jsonl_lines,
            ),
            progress=self._progress,
            cancel=self.cancel,
            executor=executor,
        )
        self._count(summary.scored, summary.failed)
        with self.ctx.db.session() as session:
            self._save_usage(session, summary.details())
        end = states.run_end(summary.status, self._why_cancelled())
        if end.status is not None:
            details = self._redacted(summary.details())
            if end.failure_code is not None:
                details = replace(details, failure={"code": end.failure_code,
                                                    "message": self.limit_hit or ""})
            self._finish(end.status, replace(details, status=end.status))
        log.info("deployment %s: run ended %s", self.id, summary.status)

    def _why_cancelled(self) -> states.Cancel:
        """Why the run was (or would have been) cancelled: the plan, a stop, else a DELETE."""
        if self.limit_hit:
            return states.Cancel.PLAN_LIMIT
        if self.stopping.is_set():
            return states.Cancel.SERVER_STOPPING
        return states.Cancel.DELETED

    def _executor(self) -> Any:
        """The settings' executor; Ray is imported only when chosen (and says how to install it)."""
        settings = self.ctx.settings
        return make_executor(settings.executor, self.cancel, settings.ray)

    def _count(self, scored: int, failed: int) -> None:
        before_scored, before_failed = self._counted
        self.ctx.metrics.counted(scored - before_scored, failed - before_failed)
        self._counted = (max(scored, before_scored), max(failed, before_failed))

    def _progress(self, progress: StatusDetails) -> None:
        self._count(progress.scored or 0, progress.failed or 0)
        if progress.records_per_second is not None:
            self.ctx.metrics.records_per_second.labels(self.id).set(progress.records_per_second)
        now = time.monotonic()
        if now - self._last_save < self.ctx.settings.progress_interval_s:
            return
        self._last_save = now
        self._throughput.add(now - self._started, progress.scored or 0)
        details = self._redacted(replace(progress, status=states.RUNNING)).to_json()
        details[THROUGHPUT] = self._throughput.to_json()
        with self.ctx.db.session() as session:
            # the save renews the lease; it matches nothing once the row is deleted (a
            # DELETE sent to any server) or another server took the run over
            saved = session.execute(
                update(Deployment)
                .where(Deployment.id == self.id, self.ctx.lease.held())
                .values(progress=details, modified_at=utcnow(), **self.ctx.lease.terms())
            )
            if cast("CursorResult[Any]", saved).rowcount:
                self._save_usage(session, progress)
            else:  # stop scoring for nobody (self.cancel is the registry's event)
                self.ctx.runs.stop(self.id)
        # the plan's limits are the instance's: every deployment's usage counts
        with self.ctx.db.session() as session:
            predictions, seconds = consumed(session, self._instance_id)
        settings = self.ctx.settings
        for used, limit, figure in (
            (predictions, settings.max_predictions, "prediction_count"),
            (seconds, settings.max_computation_s, "computation_time"),
        ):
            if used > limit:
                unit = LIMITED[figure][0 if limit == 1 else 1]
                self.limit_hit = f"Current plan '{settings.plan}' only allows {limit} {unit}"
                self.cancel.set()

    def _save_usage(self, session: Session, details: StatusDetails) -> None:
        """Predictions are the results in the deployment's output: those an earlier attempt
        left (the run counts them as done; the stored count may lag them after a kill) and
        those this attempt wrote. Never once another server has taken the run over (its
        attempt counts from what this one saved)."""
        done = (details.skip_reasons or {}).get("done", 0)
        predictions = max(self._base[0], done) + (details.scored or 0)
        elapsed = time.monotonic() - self._started
        session.execute(
            update(Usage)
            .where(Usage.deployment_id == self.id, self.ctx.lease.not_elsewhere(self.id))
            .values(predictions=predictions, computation_s=self._base[1] + elapsed)
        )

    def _finish(self, status: states.DeploymentStatus, details: StatusDetails) -> None:
        if details.finished_at is None:
            details = replace(details, finished_at=datetime.now(UTC))
        document = details.to_json()
        if details.scored:
            self._throughput.add(time.monotonic() - self._started, details.scored)
            document[THROUGHPUT] = self._throughput.to_json()
        with self.ctx.db.session() as session:
            states.transition(
                session, self.id, states.RUNNING, status, where=self.ctx.lease.held(),
                progress=document, **leases.RELEASED,
            )  # fmt: skip

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _redacted(self, details: StatusDetails) -> StatusDetails:
        errors = tuple({k: self._redact(str(v)) for k, v in e.items()} for e in details.errors)
        failure = details.failure
        if failure:
            failure = {k: self._redact(str(v)) for k, v in failure.items()}
        return replace(details, errors=errors, failure=failure)

    def _redact_failure(self, error: BaseException) -> dict[str, str]:
        return {k: self._redact(v) for k, v in failure_of(error).items()}
