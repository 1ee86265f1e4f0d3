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

from caffebatch.errors import CaffebatchError, ModelError, StorageError
from caffebatch.service.context import ServiceContext
from caffebatch.service.crypto import MASK
from caffebatch.service.runfiles import places_of
from caffebatch.service.spec import RunChoices
from caffebatch.service.usage import LIMITED, consumed
from caffebatch.store import states
from caffebatch.store.tables import Deployment, PublishedModel, Usage, utcnow

log = logging.getLogger("caffebatch.worker")

# error class -> the failure code a deployment reports (first match wins)
FAILURE_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (ModelError, "model_error"),
    (StorageError, "storage_error"),
)


def failure_of(error: BaseException) -> dict[str, str]:
    """The `{code, message}` a deployment shows for an error that stopped its run."""
    code = getattr(error, "code", None)  # service and run errors carry their own
    if not isinstance(code, str):
        code = next((name for kind, name in FAILURE_CODES if isinstance(error, kind)), "run_error")
    return {"code": code, "message": str(error)}


class ModelCache:
    """Compiled models by version folder, loaded from what publishing saved; the last few kept.

    A model's weights can take hundreds of megabytes, so only the `size` most recently used
    stay in memory; loading one again costs a read of its saved ONNX file. Each comes with
    the backend the `engine` setting gives it; with ``auto``, a model published before
    engines were chosen is measured at its first load and the choice saved with it.
    """

    def __init__(self, size: int = 4, engine: str = "auto") -> None:
        self.size, self.engine = size, engine
        self._lock = threading.Lock()
        self._models: OrderedDict[Path, Any] = OrderedDict()

    def get(self, folder: Path) -> Any:
        from caffebatch.compiler.artifact import load_compiled

        with self._lock:
            if folder in self._models:
                self._models.move_to_end(folder)
            else:
                self._models[folder] = self._with_engine(load_compiled(folder), folder)
                while len(self._models) > self.size:
                    self._models.popitem(last=False)
            return self._models[folder]

    def _with_engine(self, compiled: Any, folder: Path) -> Any:
        from caffebatch.compiler.artifact import save_meta
        from caffebatch.jobs.batches import default_batch_size
        from caffebatch.model import choose_engine

        chosen = choose_engine(
            compiled, self.engine, batch=default_batch_size(compiled.declared_batch)
        )
        if chosen.engine_choice is not None and chosen.engine_choice != compiled.engine_choice:
            save_meta(chosen, folder)  # measured now: later loads (and restarts) reuse it
        return chosen


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

    def run(self) -> None:
        from caffebatch.jobs.run import run_batch
        from caffebatch.jobs.spec import RetryPolicy

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
            stored = (deployment.input, deployment.output, deployment.secrets)
        self._started = time.monotonic()
        try:
            places = places_of(self.ctx, *stored)
            self._secrets = list(places.secrets)
            compiled = self.models.get(version_folder)
            executor = self._executor()
        except CaffebatchError as error:
            self._finish(
                states.FAILURE, {"status": states.FAILURE, "failure": self._redact_failure(error)}
            )
            return
        log.info("deployment %s: run starts (attempt over %s)", self.id, stored[0].get("type"))
        summary = run_batch(
            compiled,
            places.source,
            places.target,
            replace(choices.run_options(self.id, model_name, self.ctx.settings.progress_interval_s),
                    retry=RetryPolicy(outage_s=self.ctx.settings.storage_outage_s)),
            progress=self._progress,
            cancel=self.cancel,
            executor=executor,
        )
        details = self._redacted(summary.to_json())
        self._save_usage(summary.scored)
        if summary.status != "CANCELLED":
            self._finish(summary.status, details)
        elif self.limit_hit:
            failure = {"code": "plan_limit_exceeded", "message": self.limit_hit}
            self._finish(states.FAILURE, {**details, "status": states.FAILURE, "failure": failure})
        elif self.stopping.is_set():
            self._finish(states.INITIALIZING, {**details, "status": states.INITIALIZING})
        log.info("deployment %s: run ended %s", self.id, summary.status)

    def _executor(self) -> Any:
        """The settings' executor; Ray is imported only when chosen (and says how to install it)."""
        from caffebatch.jobs.executors.choice import make_executor

        settings = self.ctx.settings
        return make_executor(settings.executor, self.cancel, settings.ray)

    def _progress(self, progress: Any) -> None:
        now = time.monotonic()
        if now - self._last_save < self.ctx.settings.progress_interval_s:
            return
        self._last_save = now
        details = self._redacted(
            {
                "status": states.RUNNING,
                "total": progress.total,
                "scored": progress.scored,
                "failed": progress.failed,
                "skipped": progress.skipped,
                "started_at": progress.started_at.isoformat(),
                "finished_at": None,
                "records_per_second": round(progress.records_per_second, 1),
                "errors": list(progress.errors),
                "failure": None,
            }
        )
        with self.ctx.db.session() as session:
            saved = session.execute(
                update(Deployment)
                .where(Deployment.id == self.id, Deployment.status == states.RUNNING)
                .values(progress=details, modified_at=utcnow())
            )
            still_here = cast("CursorResult[Any]", saved).rowcount
        if not still_here:  # deleted (perhaps by another server): stop scoring for nobody
            self.cancel.set()
        self._save_usage(progress.scored)
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

    def _save_usage(self, scored: int) -> None:
        elapsed = time.monotonic() - self._started
        with self.ctx.db.session() as session:
            session.execute(
                update(Usage)
                .where(Usage.deployment_id == self.id)
                .values(predictions=self._base[0] + scored, computation_s=self._base[1] + elapsed)
            )

    def _finish(self, status: str, details: dict[str, Any]) -> None:
        details.setdefault("finished_at", datetime.now(UTC).isoformat())
        with self.ctx.db.session() as session:
            states.transition(session, self.id, states.RUNNING, status, progress=details)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _redacted(self, details: dict[str, Any]) -> dict[str, Any]:
        errors = [
            {k: self._redact(str(v)) for k, v in e.items()} for e in details.get("errors") or []
        ]
        failure = details.get("failure")
        if failure:
            failure = {k: self._redact(str(v)) for k, v in failure.items()}
        return {**details, "errors": errors, "failure": failure}

    def _redact_failure(self, error: BaseException) -> dict[str, str]:
        return {k: self._redact(v) for k, v in failure_of(error).items()}
