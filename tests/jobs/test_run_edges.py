"""Runs meet odd objects, outages and damaged bodies: each odd object is one bad record with its
code, the rest is scored exactly as Caffe does; an outage within the budget costs time only."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from caffebatch.jobs import Location, RetryPolicy, RunOptions, run_batch
from tests.jobs.bad_inputs import OBJECT_KINDS, SKIP_KINDS
from tests.jobs.conftest import LENET, digit_bytes
from tests.jobs.faultproxy import FaultProxy
from tests.jobs.formats import check_result
from tests.jobs.odd_objects import WITHOUT_DAC, plant_local, plant_s3
from tests.jobs.test_run_s3 import COUNT, check_outputs

CLI = [sys.executable, "-c", WITHOUT_DAC + "from caffebatch.cli import main; main()"]


def errors_of(out, run_id: str) -> dict[str, str]:
    lines = (out / f"_caffebatch/{run_id}/errors.jsonl").read_bytes().splitlines()
    return {entry["input"]: entry["code"] for entry in map(json.loads, lines)}


def expected_errors(planted: dict[str, str]) -> dict[str, str]:
    return {key: OBJECT_KINDS[kind] for kind, key in planted.items() if kind in OBJECT_KINDS}


def test_odd_local_objects_are_bad_records_and_the_run_goes_on(digits, tmp_path, caffe_probs):
    """As a user runs it (the CLI, without root's DAC override, so mode 000 means unreadable)."""
    planted = plant_local(digits)
    out = tmp_path / "out"
    result = subprocess.run(
        [*CLI, "score", str(LENET), "--input", str(digits), "--output", str(out),
         "--run-id", "odd", "--threads", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 3, result.stderr  # PARTIAL_SUCCESS: 4 bad of 364
    assert "Traceback" not in result.stderr
    assert errors_of(out, "odd") == expected_errors(planted)
    for key, expected in caffe_probs.items():
        check_result(key, (out / key).read_bytes(), expected)
    skipped = [key for kind, key in planted.items() if kind in SKIP_KINDS]
    assert not any((out / key).exists() for key in skipped if key != "_caffebatch")
    summary = json.loads((out / "_caffebatch/odd/summary.json").read_bytes())
    assert (summary["scored"], summary["failed"]) == (360, len(expected_errors(planted)))


def test_odd_s3_objects_are_bad_records_and_the_run_goes_on(s3_server, lenet, lenet_scorer,
                                                           tmp_path, caffe_probs):
    bucket = s3_server.create_bucket()
    s3_server.upload(bucket, digit_bytes(COUNT), prefix="in/")
    out = tmp_path / "out"
    with FaultProxy(s3_server.url, fault_rate=0.0) as proxy:
        planted = plant_s3(s3_server, bucket, proxy)
        summary = run_batch(lenet, s3_server.location(f"s3://{bucket}/in", endpoint=proxy.url),
                            Location(str(out)), RunOptions("odd", max_error_ratio=0.5),
                            scorer=lenet_scorer)
    assert summary.status == "PARTIAL_SUCCESS", summary.failure
    assert errors_of(out, "odd") == expected_errors(planted)
    for key in sorted(caffe_probs)[:COUNT]:
        check_result(key, (out / key).read_bytes(), caffe_probs[key])
    assert summary.scored == COUNT


def _outage_after(proxy: FaultProxy, scored: int, seconds: float):
    """A progress listener that starts an outage once `scored` results are written."""
    started = threading.Event()

    def listen(progress) -> None:
        if progress.scored >= scored and not started.is_set():
            started.set()
            proxy.outage(seconds)

    return listen, started


@pytest.mark.slow
def test_a_five_second_outage_in_the_middle_is_ridden_out(s3_server, lenet, lenet_scorer,
                                                         caffe_probs):
    source, target = s3_server.create_bucket(), s3_server.create_bucket()
    s3_server.upload(source, digit_bytes(COUNT))
    with FaultProxy(s3_server.url, fault_rate=0.0) as proxy:
        listen, started = _outage_after(proxy, 8, 5.0)
        summary = run_batch(
            lenet, s3_server.location(f"s3://{source}", endpoint=proxy.url),
            s3_server.location(f"s3://{target}", endpoint=proxy.url),
            RunOptions("outage", batch_size=4, concurrency=4, progress_interval_s=0.05),
            scorer=lenet_scorer, progress=listen,
        )
    assert started.is_set() and proxy.counts["outage"] > 0
    assert summary.status == "SUCCESS", summary.failure
    check_outputs(s3_server.download(target), caffe_probs, "outage")


def test_an_outage_past_the_budget_fails_cleanly_and_a_rerun_completes(s3_server, lenet,
                                                                       lenet_scorer, tmp_path,
                                                                       caffe_probs):
    source = s3_server.create_bucket()
    s3_server.upload(source, digit_bytes(COUNT))
    out = tmp_path / "out"
    quick = RetryPolicy(outage_s=1.0, base_delay_s=0.05, max_delay_s=0.2)
    with FaultProxy(s3_server.url, fault_rate=0.0) as proxy:
        listen, started = _outage_after(proxy, 8, 60.0)
        location = s3_server.location(f"s3://{source}", endpoint=proxy.url)
        failed = run_batch(lenet, location, Location(str(out)),
                           RunOptions("cut", batch_size=4, concurrency=4, retry=quick,
                                      progress_interval_s=0.05),
                           scorer=lenet_scorer, progress=listen)
        assert started.is_set()
        assert failed.status == "FAILURE" and failed.failure["code"] == "storage_error"
        assert "kept failing for" in failed.failure["message"]
        assert "outage budget is 1 s" in failed.failure["message"]
        proxy.outage(0)  # the server is back
        rerun = run_batch(lenet, location, Location(str(out)), RunOptions("again", retry=quick),
                          scorer=lenet_scorer)
    assert rerun.status == "SUCCESS", rerun.failure
    assert rerun.skipped >= 8 and rerun.skipped + rerun.scored == COUNT
    for key in sorted(caffe_probs)[:COUNT]:
        check_result(key, (out / key).read_bytes(), caffe_probs[key])


def test_damaged_bodies_never_give_a_wrong_output(s3_server, lenet, lenet_scorer, caffe_probs):
    source, target = s3_server.create_bucket(), s3_server.create_bucket()
    s3_server.upload(source, digit_bytes(COUNT))
    with FaultProxy(s3_server.url, fault_rate=0.0, corrupt_rate=0.1) as proxy:
        summary = run_batch(
            lenet, s3_server.location(f"s3://{source}", endpoint=proxy.url),
            s3_server.location(f"s3://{target}", endpoint=proxy.url),
            RunOptions("damaged", concurrency=8), scorer=lenet_scorer,
        )
    assert proxy.counts["corrupt"] > 0
    assert summary.status == "SUCCESS", summary.errors
    check_outputs(s3_server.download(target), caffe_probs, "damaged")
