"""The engine benchmark still runs (a quick pass over LeNet, a few seconds), and its runners
take turns fairly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.engine import balanced_orders

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "engine.py"


def test_quick_run_on_lenet_writes_results_where_every_runner_agrees(tmp_path):
    results_file = tmp_path / "engine.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--models",
            "lenet",
            "--threads",
            "1",
            "--work",
            str(tmp_path / "nets"),
            "--json",
            str(results_file),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lenet" in done.stdout
    report = json.loads(results_file.read_text())
    assert report["machine"]["threads"] == 1
    (lenet,) = report["results"]
    assert lenet["model"] == "lenet" and lenet["agree"]
    assert [row["batch"] for row in lenet["batches"]] == [1, 16]
    for row in lenet["batches"]:
        runners = set(row["images_per_second"])
        assert {"caffebatch onnxruntime", "opencv", "onnxruntime, our graph without our passes"} <= runners
        assert row["auto_engine"] in ("onnxruntime", "openvino")
        assert f"caffebatch {row['auto_engine']}" in runners
        assert all(rate > 0 for rate in row["images_per_second"].values())
        assert row["sgemm_gflops"] > 0 and set(row["share_of_sgemm"]) == runners


@pytest.mark.parametrize("count", range(1, 8))
def test_each_runner_follows_every_other_and_takes_every_place_alike(count):
    orders = balanced_orders(count)
    assert all(sorted(order) == list(range(count)) for order in orders)
    follows = Counter((order[i], order[i + 1]) for order in orders for i in range(count - 1))
    places = Counter((runner, place) for order in orders for place, runner in enumerate(order))
    assert len(follows) == count * (count - 1) and len(set(follows.values())) <= 1
    assert len(places) == count * count and len(set(places.values())) == 1
