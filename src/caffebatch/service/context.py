"""What every service function needs: settings, database, keys, and the runs in flight."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from caffebatch.service.crypto import Keys
from caffebatch.service.metrics import ServiceMetrics
from caffebatch.settings import Settings
from caffebatch.store import Database
from caffebatch.store.leases import Lease

log = logging.getLogger("caffebatch.worker")


class RunRegistry:
    """The cancel events of the runs this process is executing, by deployment id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancel: dict[str, threading.Event] = {}
        self._done: dict[str, threading.Event] = {}

    def start(self, deployment_id: str) -> threading.Event:
        with self._lock:
            self._cancel[deployment_id] = threading.Event()
            self._done[deployment_id] = threading.Event()
            return self._cancel[deployment_id]

    def finish(self, deployment_id: str) -> None:
        with self._lock:
            self._cancel.pop(deployment_id, None)
            done = self._done.pop(deployment_id, None)
        if done is not None:
            done.set()

    def cancel(self, deployment_id: str, wait_s: float) -> bool:
        """Ask a run to stop and wait up to `wait_s` for it to end (its writes under way
        finished, the queued ones dropped); False when it is here and still ending."""
        with self._lock:
            cancel = self._cancel.get(deployment_id)
            done = self._done.get(deployment_id)
        if cancel is None or done is None:
            return True
        cancel.set()
        return done.wait(wait_s)

    def cancel_all(self) -> None:
        with self._lock:
            events = list(self._cancel.values())
        for event in events:
            event.set()

    def running(self) -> int:
        with self._lock:
            return len(self._cancel)

    def ids(self) -> set[str]:
        """The deployments this process is running."""
        with self._lock:
            return set(self._cancel)

    def stop(self, deployment_id: str) -> None:
        """Ask a run to stop without waiting: its row was deleted (a DELETE sent to any
        server) or its lease taken. Either the heartbeat or the run's own progress save
        notices first; the log says it once."""
        with self._lock:
            cancel = self._cancel.get(deployment_id)
        if cancel is not None and not cancel.is_set():
            log.info("deployment %s: deleted or taken over elsewhere; stopping", deployment_id)
            cancel.set()


@dataclass
class ServiceContext:
    """Built once per process (by `open_context`) and handed to every service call."""

    settings: Settings
    db: Database
    keys: Keys
    lease: Lease
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    runs: RunRegistry = field(default_factory=RunRegistry)
    wake: threading.Event = field(default_factory=threading.Event)


def open_context(settings: Settings) -> ServiceContext:
    """Create the home folder, create or migrate the tables, and derive the keys."""
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    db.migrate()
    keys = Keys(settings.signing_secret(), settings.token_lifetime_s)
    return ServiceContext(settings=settings, db=db, keys=keys, lease=Lease(settings.lease_s))
