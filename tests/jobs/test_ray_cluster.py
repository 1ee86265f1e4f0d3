"""`caffebatch score --executor ray` on a Ray cluster started apart, as a user runs it.

The cluster is two nodes on this machine, each a `ray start` of its own (tests/ray_cluster.py):
the head, and a worker node joined with `ray start --address`, one CPU each, so that the run's
two actors (one CPU each) run one on each node. The CLI runs from a working folder with
relative paths, as a subprocess, with only the address and the cluster's token to go on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.jobs.conftest import DIGITS, LENET
from tests.ray_cluster import RayCluster

pytestmark = pytest.mark.slow

COUNT = 1500  # inputs of the runs that lose actors; the other scores the first 600
SCORING = "ray::ChunkWorker.process"  # the title of a Ray worker process doing a chunk
CLI = [sys.executable, "-m", "caffebatch", "score", "lenet", "--engine", "onnxruntime"]
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
    with RayCluster(cpus_per_node=1) as started:
        started.start(nodes=2)
        yield started


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A working folder with the model (`lenet`), COUNT inputs (`in`) and the local
    executor's results for them (`local`), scored by the CLI as the Ray runs are."""
    work = tmp_path_factory.mktemp("reference")
    link_inputs(work / "in", COUNT)
    shutil.copytree(LENET, work / "lenet")
    done = subprocess.run([*CLI, "--input", "in", "--output", "local", "--run-id", "local"],
                          check=False, cwd=work, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return work


def link_inputs(folder: Path, count: int) -> None:
    """`count` inputs x00000.json... that are the example digits over and over."""
    folder.mkdir()
    digits = sorted(DIGITS.iterdir())
    for index in range(count):
        os.link(digits[index % len(digits)], folder / f"x{index:05d}.json")


def working_folder(reference: Path, tmp_path: Path, count: int) -> Path:
    """A fresh working folder with the model and the first `count` reference inputs."""
    work = tmp_path / "work"
    (work / "in").mkdir(parents=True)
    for path in sorted((reference / "in").iterdir())[:count]:
        os.link(path, work / "in" / path.name)
    (work / "lenet").symlink_to(reference / "lenet")
    return work


def score_on(cluster: RayCluster, work: Path, run_id: str) -> subprocess.Popen:
    command = [*CLI, "--input", "in", "--output", "out", "--run-id", run_id,
               "--executor", "ray", "--ray-address", cluster.address]
    return subprocess.Popen(command, cwd=work, env=cluster.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def results(folder: Path) -> dict[str, bytes]:
    """The result files of an output folder (not its run folder, _caffebatch)."""
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def summary(folder: Path, run_id: str) -> dict:
    return json.loads((folder / "_caffebatch" / run_id / "summary.json").read_bytes())


def test_two_nodes_score_the_same_bytes_as_the_local_executor(cluster, reference, tmp_path):
    cluster.ensure(2)
    assert [node["cpus"] for node in cluster.seen] == [1.0, 1.0]  # two nodes, as the GCS sees
    count = 600
    work = working_folder(reference, tmp_path, count)
    run = score_on(cluster, work, "ray")
    busy = [False] * len(cluster.nodes)  # which nodes were seen scoring a chunk
    deadline = time.monotonic() + TIMEOUT_S
    while run.poll() is None and time.monotonic() < deadline:
        for index, node in enumerate(cluster.nodes):
            busy[index] = busy[index] or SCORING in node.titles().values()
        time.sleep(0.02)
    stdout, stderr = run.communicate(timeout=10)
    assert run.returncode == 0, stderr[-2000:]
    assert f"SUCCESS: {count} scored, 0 failed, 0 skipped of {count}" in stdout
    assert busy == [True, True], cluster.logs()  # the head and the worker node both scored
    expected = {name: data for name, data in results(reference / "local").items()
                if name < f"x{count:05d}.json"}
    assert len(expected) == count
    assert results(work / "out") == expected  # byte for byte
    # the relative locations were made absolute on the driver, the actors wrote there
    written = summary(work / "out", "ray")
    assert (written["input"], written["output"]) == (str(work / "in"), str(work / "out"))
    assert (written["scored"], written["failed"]) == (count, 0)


def test_every_actor_lost_fails_the_run_with_true_counts_then_a_rerun_completes(
        cluster, reference, tmp_path):
    """docs/ray.md: with no actor left the run fails (executor_error), saying what it wrote;
    the rerun scores the rest."""
    cluster.ensure(2)
    work = working_folder(reference, tmp_path, COUNT)
    out = work / "out"
    run = score_on(cluster, work, "lost")
    deadline = time.monotonic() + TIMEOUT_S
    while run.poll() is None and time.monotonic() < deadline:
        if out.is_dir() and len(os.listdir(out)) > 300:
            break
        time.sleep(0.02)
    assert run.poll() is None, run.communicate()[1][-2000:]
    killed = [pid for node in cluster.nodes for pid in node.kill_workers("ray::ChunkWorker")]
    assert len(killed) == 2  # one actor on each node; the nodes themselves live on
    stdout, stderr = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 1, stderr[-2000:]
    assert "every Ray actor of the run was lost" in stderr
    landed = len(results(out))
    assert 0 < landed < COUNT
    written = summary(out, "lost")
    assert (written["status"], written["failure"]["code"]) == ("FAILURE", "executor_error")
    assert (written["scored"], written["failed"]) == (landed, 0)  # what was written, no more
    assert f"FAILURE: {landed} scored" in stdout

    again = score_on(cluster, work, "rerun")
    stdout, stderr = again.communicate(timeout=TIMEOUT_S)
    assert again.returncode == 0, stderr[-2000:]
    assert (f"SUCCESS: {COUNT - landed} scored, 0 failed, {landed} skipped of {COUNT}"
            in stdout)
    assert results(out) == results(reference / "local")


def test_a_worker_node_killed_mid_run_loses_and_duplicates_no_record(cluster, reference,
                                                                      tmp_path):
    """docs/ray.md: the chunks of a lost actor go to the actors left; the run completes."""
    cluster.ensure(2)
    worker = cluster.nodes[1]
    work = working_folder(reference, tmp_path, COUNT)
    out = work / "out"
    run = score_on(cluster, work, "killed")
    deadline = time.monotonic() + TIMEOUT_S
    # kill the worker node once results are landing and it is in the middle of a chunk
    while run.poll() is None and time.monotonic() < deadline:
        if out.is_dir() and len(os.listdir(out)) > 300 and SCORING in worker.titles().values():
            break
        time.sleep(0.02)
    assert run.poll() is None, run.communicate()[1][-2000:]
    cluster.kill(worker)
    landed = len(results(out))
    assert not worker.pids()  # every process of the node is gone
    stdout, stderr = run.communicate(timeout=TIMEOUT_S)
    assert 0 < landed < COUNT
    assert run.returncode == 0, stderr[-2000:]
    assert "a Ray actor of the run was lost" in stderr  # a chunk was in flight on the lost node
    assert f"SUCCESS: {COUNT} scored, 0 failed, 0 skipped of {COUNT}" in stdout

    found = results(out)
    assert sorted(found) == sorted(f"x{index:05d}.json" for index in range(COUNT))
    assert found == results(reference / "local")  # rescored chunks wrote the same bytes
    written = summary(out, "killed")
    assert (written["status"], written["scored"], written["failed"]) == ("SUCCESS", COUNT, 0)
    assert (out / "_caffebatch/killed/errors.jsonl").read_bytes() == b""

    # a rerun finds every result complete, and starts nothing
    again = score_on(cluster, work, "again")
    stdout, stderr = again.communicate(timeout=TIMEOUT_S)
    assert again.returncode == 0, stderr[-2000:]
    assert f"SUCCESS: 0 scored, 0 failed, {COUNT} skipped of {COUNT}" in stdout
