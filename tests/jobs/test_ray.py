"""The same batch run on a local Ray (2 CPUs): the same bytes, the same error report, resume.

Every test compares the Ray executor with the local one on the same inputs, through the real
stack: moto on 127.0.0.1 or temporary folders, real ONNX Runtime, real Ray actors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from caffebatch.jobs import Location, RunOptions, run_batch
from caffebatch.jobs.executors.ray import RayExecutor, RaySettings
from tests.jobs.bad_inputs import CORPUS, LIMIT
from tests.jobs.conftest import DIGITS, LENET, digit_bytes
from tests.jobs.formats import check_result
from tests.jobs.jsonl_inputs import digit_line, jsonl
from tests.ray_fixtures import local_ray  # noqa: F401 (a fixture)

CLI = [sys.executable, "-c", "from caffebatch.cli import main; main()"]
COUNT = 120


def results_of(found: dict[str, bytes]) -> dict[str, bytes]:
    """The result objects only (not the run's own folder)."""
    return {key: data for key, data in found.items() if not key.startswith("_caffebatch/")}


def error_lines(found: dict[str, bytes], run_id: str) -> list[dict]:
    lines = found[f"_caffebatch/{run_id}/errors.jsonl"].splitlines()
    return sorted(map(json.loads, lines), key=lambda entry: entry["input"])


def folder(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*")
            if p.is_file() and ".tmp" not in p.parts}


def test_importing_caffebatch_never_imports_ray():
    modules = ["caffebatch", "caffebatch.jobs", "caffebatch.cli", "caffebatch.cli.score",
               "caffebatch.jobs.executors.ray", "caffebatch.jobs.executors.choice",
               "caffebatch.service.execution"]
    code = f"import sys, {', '.join(modules)}; print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_choosing_ray_without_it_says_how_to_install(tmp_path):
    # A `ray` first on the path that fails to import, as a missing one does.
    hidden = tmp_path / "no-ray/ray"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    path = os.pathsep.join([str(hidden.parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    result = subprocess.run([*CLI, "score", str(LENET), "--input", str(DIGITS), "--output",
                             str(tmp_path / "out"), "--executor", "ray"],
                            check=False, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "pip install 'caffebatch[ray]'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_s3_to_s3_same_bytes_and_error_report_as_local(local_ray, s3_server, lenet, caffe_probs):
    source = s3_server.create_bucket()
    s3_server.upload(source, digit_bytes(COUNT))
    s3_server.upload(source, {f"bad_{name}.json": data for name, (data, _) in CORPUS.items()})
    options = {"max_error_ratio": 0.5, "max_record_bytes": LIMIT, "batch_size": 16}
    found = {}
    for name, executor in (("local", None), ("ray", RayExecutor(RaySettings()))):
        target = s3_server.create_bucket()
        summary = run_batch(lenet, s3_server.location(f"s3://{source}"),
                            s3_server.location(f"s3://{target}"), RunOptions(name, **options),
                            executor=executor)
        assert (summary.status, summary.scored, summary.failed) == (
            "PARTIAL_SUCCESS", COUNT, len(CORPUS)), summary.failure
        found[name] = s3_server.download(target)
    assert results_of(found["ray"]) == results_of(found["local"])  # byte for byte
    for key in sorted(caffe_probs)[:COUNT]:
        check_result(key, found["ray"][key], caffe_probs[key])
    assert error_lines(found["ray"], "ray") == error_lines(found["local"], "local")
    assert {e["input"]: e["code"] for e in error_lines(found["ray"], "ray")} == {
        f"bad_{name}.json": code for name, (_, code) in CORPUS.items()}


def test_cancelled_mid_run_then_resumed(local_ray, lenet, digits, tmp_path):
    cancel = threading.Event()
    seen = []

    def progress(report) -> None:
        seen.append(report)
        if report.scored:
            cancel.set()

    out = tmp_path / "out"
    first = run_batch(lenet, Location(str(digits)), Location(str(out)),
                      RunOptions("first", batch_size=8, progress_interval_s=0.01),
                      progress=progress, cancel=cancel, executor=RayExecutor(RaySettings(), cancel))
    assert first.status == "CANCELLED" and 0 < first.scored < 360
    assert [r.scored for r in seen] == sorted(r.scored for r in seen)  # progress came back
    again = run_batch(lenet, Location(str(digits)), Location(str(out)), RunOptions("again"),
                      executor=RayExecutor(RaySettings()))
    assert again.status == "SUCCESS"
    assert again.skipped >= first.scored and again.skipped + again.scored == 360
    local = tmp_path / "local"
    run_batch(lenet, Location(str(digits)), Location(str(local)), RunOptions("local"))
    assert results_of(folder(out)) == results_of(folder(local))

    # a rerun with nothing pending starts no actors: with more actors asked than the cluster
    # holds, starting them fails the run, which it does only when something is pending
    crowded = RaySettings(actors=50)
    nothing = run_batch(lenet, Location(str(digits)), Location(str(out)), RunOptions("idle"),
                        executor=RayExecutor(crowded))
    assert (nothing.status, nothing.scored, nothing.skipped) == ("SUCCESS", 0, 360)
    pending = run_batch(lenet, Location(str(digits)), Location(str(tmp_path / "fresh")),
                        RunOptions("fresh"), executor=RayExecutor(crowded))
    assert pending.status == "FAILURE" and "do not fit" in pending.failure["message"]


def test_json_lines_on_ray_are_the_same_bytes_as_local(local_ray, lenet, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for number in range(4):
        lines = [digit_line(number * 10 + index) for index in range(10)]
        lines[number] = b"[]"
        (source / f"part-{number}.jsonl").write_bytes(jsonl(lines))
    for index in range(5):
        (source / f"digit_{index:03d}.json").write_bytes(digit_line(index))
    outs = {}
    for name, executor in (("ray", RayExecutor(RaySettings())), ("local", None)):
        outs[name] = tmp_path / name
        summary = run_batch(lenet, Location(str(source)), Location(str(outs[name])),
                            RunOptions(name, batch_size=4, max_error_ratio=0.5),
                            executor=executor)
        assert (summary.total, summary.scored, summary.failed) == (45, 41, 4)
    assert results_of(folder(outs["ray"])) == results_of(folder(outs["local"]))
    assert [e["input"] for e in error_lines(folder(outs["ray"]), "ray")] == [
        f"part-{number}.jsonl#{number + 1}" for number in range(4)]


@pytest.mark.slow
def test_cli_on_ray_killed_then_rerun_completes(local_ray, lenet, tmp_path):
    """SIGKILL a `caffebatch score --executor ray` that joined the session's Ray; rerun it."""
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    digits = sorted(DIGITS.iterdir())
    for index in range(3000):
        os.link(digits[index % len(digits)], source / f"x{index:05d}.json")
    address = local_ray.get_runtime_context().gcs_address
    # The engine is fixed: the results are compared byte for byte with run_batch's (ONNX
    # Runtime), and `auto` may pick another backend, equal within tolerance, not to the bit.
    command = [*CLI, "score", str(LENET), "--input", str(source), "--output", str(out),
               "--executor", "ray", "--ray-address", address, "--run-id", "ray-cli",
               "--engine", "onnxruntime"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_dir() and len(os.listdir(out)) > 300:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[1][-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len([name for name in os.listdir(out) if name.endswith(".json")])
    assert 0 < done < 3000
    rerun = subprocess.run(command, check=False, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "skipped of 3000" in rerun.stdout
    local = tmp_path / "local"
    summary = run_batch(lenet, Location(str(source)), Location(str(local)), RunOptions("local"))
    assert summary.scored == 3000
    assert results_of(folder(out)) == results_of(folder(local))
