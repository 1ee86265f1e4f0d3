"""A run that crashes on something unexpected ends as FAILURE instead of staying RUNNING."""

from __future__ import annotations

import threading
from pathlib import Path

from caffebatch.compiler.artifact import save_compiled
from caffebatch.model import load_model
from caffebatch.service.context import open_context
from caffebatch.service.worker import WorkerPool
from caffebatch.settings import Settings
from caffebatch.store import states
from caffebatch.store.tables import Deployment, Instance, ModelVersion, PublishedModel, Usage

LENET = Path(__file__).parents[2] / "examples" / "lenet"


def test_a_crashed_run_is_recorded_as_a_failure(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"local_roots": [tmp_path]})
    ctx = open_context(settings)
    (tmp_path / "in").mkdir()
    with ctx.db.session() as session:
        instance = Instance(name="i", plan="standard")
        session.add(instance)
        session.flush()
        model = PublishedModel(instance_id=instance.id, name="m", model_type="caffe-1.0")
        session.add(model)
        session.flush()
        version = ModelVersion(model_id=model.id, archive_name="package.tar.gz", meta={})
        session.add(version)
        session.flush()
        deployment = Deployment(
            instance_id=instance.id, model_id=model.id, version_id=version.id, name="d",
            status=states.RUNNING, **ctx.lease.terms(),  # claimed by this server
            input={"type": "local", "source": {"path": str(tmp_path / "in")}},
            output={"type": "local", "target": {"path": str(tmp_path / "out")}},
            secrets=ctx.keys.encrypt({"source": {}, "target": {}}),
            # a row this version of caffebatch cannot run: RunOptions has no such field
            options={"no_such_option": 1},
        )
        session.add(deployment)
        session.flush()
        session.add(Usage(deployment_id=deployment.id, instance_id=instance.id))
        deployment_id, version_id = deployment.id, version.id
    folder = settings.models_dir / version_id
    folder.mkdir(parents=True)
    save_compiled(load_model(LENET), folder)

    pool = WorkerPool(ctx)
    pool._run(deployment_id, threading.Event())

    with ctx.db.session() as session:
        row = session.get(Deployment, deployment_id)
        assert row.status == states.FAILURE
        assert row.progress["failure"]["code"] == "internal_error"
        assert "TypeError" in row.progress["failure"]["message"]
    ctx.db.dispose()
