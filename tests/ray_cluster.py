"""A Ray cluster of separate processes on this machine, as a user starts one, for tests.

    with RayCluster(cpus_per_node=1) as cluster:
        cluster.start(nodes=2)            # `ray start --head`, then `ray start --address`
        subprocess.run([...], env=cluster.env)
        cluster.kill(cluster.nodes[1])    # SIGKILL a worker node, every process of it

Each node is one `ray start --block` in a session of its own, with its own short temp folder
under /tmp (Ray's socket paths must stay under about 107 bytes) and its own ports, so that
other Ray clusters on the machine (other test runs) are neither joined nor touched. A node's
processes are found by their session id, so stopping the cluster kills exactly the processes
it started, by pid; `ray stop` would stop every Ray on the machine.

The cluster asks for a token (RAY_AUTH_MODE=token, a fresh RAY_AUTH_TOKEN): `env` is the
environment a driver needs to join it, as docs/ray.md says for a user's cluster.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.s3server import free_port

RAY = [sys.executable, "-m", "ray.scripts.scripts"]
STARTED = "Ray runtime started."
START_TIMEOUT_S = 90
WORKER_PORTS = 24  # actors, idle workers and drivers of one node each take a port of its range

# The head notices a lost node by health checks: every 0.5 s, dead after 3 misses (the
# defaults, every 3 s with 5 misses, would make a killed node cost the test 15 s). A killed
# node's checks fail at once (its port is closed); the timeout stays long, so that a node
# slowed down on a busy machine is not taken for dead.
HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "500",
                 "RAY_health_check_timeout_ms": "10000", "RAY_health_check_failure_threshold": "3"}

# A driver that prints the cluster's nodes as JSON: ray.nodes() is the GCS's own table.
NODES = """
import json, sys, ray
ray.init(address=sys.argv[1], log_to_driver=False)
nodes = [{"node_id": node["NodeID"], "alive": node["Alive"],
          "cpus": node["Resources"].get("CPU", 0)} for node in ray.nodes()]
print(json.dumps(nodes))
"""


@dataclass
class RayNode:
    """One `ray start --block` and every process it started (its session)."""

    process: subprocess.Popen
    temp_dir: Path
    log: Path

    def pids(self) -> list[int]:
        """The pids of this node's processes: those in the session its `ray start` leads."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and _session_of(int(entry)) == self.process.pid:  # not zombies
                found.append(int(entry))
        return found

    def kill(self) -> None:
        """SIGKILL every process of the node, then reap its `ray start`."""
        deadline = time.monotonic() + 30
        # The leader is reaped last: until then its pid, the session id, cannot be reused.
        while (members := self.pids()) and time.monotonic() < deadline:
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        self.process.wait(timeout=10)

    def titles(self) -> dict[int, str]:
        """What the node's processes are doing now, by pid: Ray titles a worker process
        after its actor and the method it runs (``ray::ChunkWorker.process``)."""
        found = {}
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as command:
                    found[pid] = command.read().split(b"\0")[0].decode(errors="replace")
            except (FileNotFoundError, ProcessLookupError):
                pass
        return found

    def kill_workers(self, title: str) -> list[int]:
        """SIGKILL the node's processes whose title starts with `title` (an actor's worker
        processes, say); the pids killed."""
        killed = [pid for pid, name in self.titles().items() if name.startswith(title)]
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        return killed

    def started(self) -> bool:
        return STARTED in self.log.read_text(errors="replace")


@dataclass
class RayCluster:
    """A head and any number of worker nodes, `cpus_per_node` CPUs each, on this machine."""

    cpus_per_node: int = 1
    object_store_mib: int = 80
    nodes: list[RayNode] = field(default_factory=list)
    gcs_port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    seen: list[dict] = field(default_factory=list)  # the alive nodes, when last asked

    def __post_init__(self) -> None:
        self.gcs_port = free_port()
        self.env = {**os.environ, "RAY_AUTH_MODE": "token",
                    "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}

    @property
    def address(self) -> str:
        """The GCS address `ray start --address` and `--ray-address` take."""
        return f"127.0.0.1:{self.gcs_port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, nodes: int) -> None:
        """The head, then `nodes - 1` worker nodes; returns once all of them are alive."""
        self.nodes.append(self._node(head=True))
        self._wait(self.nodes[0])
        self.ensure(nodes)

    def ensure(self, count: int) -> None:
        """Add worker nodes until `count` are alive (after a test killed one, say)."""
        if len(self.nodes) >= count:
            return
        if len(self.seen) > len(self.nodes):  # a killed node must be gone from the GCS's view
            self.wait_for_nodes(len(self.nodes))
        workers = [self._node(head=False) for _ in range(count - len(self.nodes))]
        self.nodes.extend(workers)
        for node in workers:
            self._wait(node)
        self.wait_for_nodes(count)

    def kill(self, node: RayNode) -> None:
        """SIGKILL a node, every process of it (a machine lost), and forget it."""
        node.kill()
        self.nodes.remove(node)
        shutil.rmtree(node.temp_dir, ignore_errors=True)

    def stop(self) -> None:
        """Kill every node's processes (by pid, see RayNode.kill) and remove their folders;
        every node, even when killing one of them fails."""
        failures = []
        for node in reversed(list(self.nodes)):
            try:
                self.kill(node)
            except (OSError, subprocess.TimeoutExpired) as error:
                failures.append(error)
        if failures:
            raise failures[0]

    def alive_nodes(self) -> list[dict]:
        """The GCS's view: one {"node_id", "alive", "cpus"} per node, asked by a driver."""
        result = subprocess.run([sys.executable, "-c", NODES, self.address], env=self.env,
                                capture_output=True, text=True, timeout=120, check=True)
        return [node for node in json.loads(result.stdout.splitlines()[-1]) if node["alive"]]

    def wait_for_nodes(self, count: int, timeout: float = START_TIMEOUT_S) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(alive := self.alive_nodes()) != count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(alive)} Ray nodes alive, not {count}:\n{self.logs()}")
            time.sleep(0.5)
        self.seen = alive
        return alive

    def logs(self) -> str:
        """The tail of every node's `ray start` output, for a failing test's message."""
        return "\n".join(f"--- {node.log}\n{node.log.read_text(errors='replace')[-3000:]}"
                         for node in self.nodes)

    def _node(self, head: bool) -> RayNode:
        temp_dir = Path(tempfile.mkdtemp(prefix="cbray", dir="/tmp"))
        low = _free_range(WORKER_PORTS)
        command = [
            *RAY, "start", "--block", "--node-ip-address", "127.0.0.1",
            "--num-cpus", str(self.cpus_per_node), "--num-gpus", "0",
            "--object-store-memory", str(self.object_store_mib * 1024 * 1024),
            "--temp-dir", str(temp_dir), "--disable-usage-stats",
            "--include-log-monitor", "false",  # it streams workers' output to drivers: not ours
            "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--min-worker-port", str(low), "--max-worker-port", str(low + WORKER_PORTS - 1),
            "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()),
            "--metrics-export-port", str(free_port()),
        ]
        if head:
            command += ["--head", "--port", str(self.gcs_port),
                        "--ray-client-server-port", str(free_port()),
                        # no web dashboard; its headless part still runs, on a port of ours
                        "--include-dashboard", "false", "--dashboard-port", str(free_port())]
        else:
            command += ["--address", self.address]
        log = temp_dir / "ray-start.log"
        with log.open("wb") as output:
            process = subprocess.Popen(command, env={**self.env, **HEALTH_CHECKS},
                                       stdout=output, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        return RayNode(process, temp_dir, log)

    def _wait(self, node: RayNode) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not node.started():
            if node.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"a Ray node did not start:\n{self.logs()}")
            time.sleep(0.2)


def _session_of(pid: int) -> int | None:
    """The session id of a live process; None for a zombie (dead, waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # the name (2nd field) is in parentheses and may hold spaces: split after it
            state, _, _, session = stat.read().rsplit(b")", 1)[1].split()[:4]
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return None if state == b"Z" else int(session)


def _free_range(size: int) -> int:
    """The first port of `size` consecutive ports that are free now."""
    for _ in range(200):
        low = secrets.randbelow(20000) + 20000
        if all(_free(port) for port in range(low, low + size)):
            return low
    raise RuntimeError(f"no {size} consecutive free ports found")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("", port))  # Ray binds every address
        except OSError:
            return False
        return True
