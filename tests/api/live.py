"""A real `caffebatch serve` in a subprocess on 127.0.0.1, with its own home folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.s3server import free_port

ADMIN_USER, ADMIN_PASSWORD = "admin", "seed-password"


class LiveServer:
    """`caffebatch serve` with CAFFEBATCH_HOME=`home`; its output goes to `log`.

    Servers sharing one home (and store) need a `name` each, for their logs."""

    def __init__(
        self, home: Path, env: dict[str, str] | None = None, name: str | None = None
    ) -> None:
        self.home = home
        self.log = home.parent / f"{name or home.name}-server.log"
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> LiveServer:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "CAFFEBATCH_HOME": str(self.home),
            "CAFFEBATCH_ADMIN_USER": ADMIN_USER,
            "CAFFEBATCH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CAFFEBATCH_POLL_INTERVAL_S": "0.1",
            "CAFFEBATCH_PROGRESS_INTERVAL_S": "0.2",
            **self.extra_env,
        }
        command = [
            sys.executable,
            "-c",
            "from caffebatch.cli import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"caffebatch serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("caffebatch serve did not answer within 60 s")

    def instance_id(self) -> str:
        """The instance id the first start printed."""
        for line in self.log.read_text().splitlines():
            if line.startswith("created instance "):
                return line.split()[2]
        raise AssertionError("the server did not print the instance it created")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
