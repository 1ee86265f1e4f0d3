"""`caffebatch score` as a user runs it: exit codes, help, and a resume after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from caffebatch.runtime.backends import ONNXRUNTIME, OPENVINO, cpu_has_bf16, installed
from tests.jobs.conftest import LENET
from tests.jobs.formats import check_result

CLI = [sys.executable, "-c", "from caffebatch.cli import main; main()"]


def score(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "score", *args], check=False, capture_output=True, text=True, timeout=timeout)


def test_help_documents_the_exit_codes():
    result = subprocess.run([*CLI, "score", "--help"], check=False, capture_output=True, text=True)
    assert result.returncode == 0
    for line in ("0  every record was scored", "3  some records failed", "1  the run failed",
                 "2  usage error"):
        assert line in result.stdout


def test_exit_0_and_one_line_summary(digits, tmp_path):
    result = score(str(LENET), "--input", str(digits), "--output", str(tmp_path / "out"),
                   "--run-id", "cli")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SUCCESS: 360 scored, 0 failed, 0 skipped of 360")
    assert (tmp_path / "out/_caffebatch/cli/summary.json").is_file()


def test_exit_3_when_some_records_fail(digits, tmp_path):
    (digits / "broken.json").write_bytes(b"{")
    result = score(str(LENET), "--input", str(digits), "--output", str(tmp_path / "out"))
    assert result.returncode == 3
    assert result.stdout.startswith("PARTIAL_SUCCESS: 360 scored, 1 failed")


def test_exit_1_when_the_run_fails(digits, tmp_path):
    (digits / "broken.json").write_bytes(b"{")
    result = score(str(LENET), "--input", str(digits), "--output", str(tmp_path / "out"),
                   "--max-error-ratio", "0")
    assert result.returncode == 1
    assert "error_threshold" in result.stderr


def test_exit_1_when_the_model_does_not_load(digits, tmp_path):
    result = score(str(tmp_path), "--input", str(digits), "--output", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "cannot load the model" in result.stderr


@pytest.mark.parametrize("extra", [["--batch-size", "0"], ["--max-error-ratio", "2"], ["--bogus"]])
def test_exit_2_on_usage_errors(digits, tmp_path, extra):
    result = score(str(LENET), "--input", str(digits), "--output", str(tmp_path / "o"), *extra)
    assert result.returncode == 2


def test_exit_2_when_output_is_input(digits):
    result = score(str(LENET), "--input", str(digits), "--output", str(digits))
    assert result.returncode == 2
    assert "overlaps" in result.stderr


def test_exit_2_when_a_batch_would_not_fit_in_memory(digits, tmp_path):
    result = score(str(LENET), "--input", str(digits), "--output", str(tmp_path / "o"),
                   "--batch-size", "1000000")
    assert result.returncode == 2
    # LeNet's record is 1x28x28 float32: 3,136 bytes; the limit is 1 GiB
    assert "use a batch size of at most 342392" in result.stderr
    assert not (tmp_path / "o").exists()


def test_sigkill_then_rerun_scores_every_input_exactly_once(tmp_path, caffe_probs):
    source = tmp_path / "in"
    source.mkdir()
    originals = sorted(caffe_probs)
    expected = {}
    for index in range(3000):  # copies of the 360 digits under new names
        original = originals[index % len(originals)]
        name = f"x{index:05d}.json"
        os.link(LENET.parent / "digits/inputs" / original, source / name)
        expected[name] = caffe_probs[original]
    out = tmp_path / "out"
    arguments = [*CLI, "score", str(LENET), "--input", str(source), "--output", str(out),
                 "--batch-size", "8", "--threads", "1", "--concurrency", "2"]
    process = subprocess.Popen([*arguments, "--run-id", "first"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_dir() and sum(1 for _ in os.scandir(out)) > 300:
            break
        time.sleep(0.005)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = sum(1 for name in os.listdir(out) if name.endswith(".json"))
    assert 0 < written < 3000

    rerun = subprocess.run([*arguments, "--run-id", "second"], check=False, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{3000 - written} scored" in rerun.stdout and f"{written} skipped" in rerun.stdout
    assert sorted(os.listdir(out)) == ["_caffebatch", *sorted(expected)]
    assert sorted(os.listdir(out / "_caffebatch")) == [".tmp", "second"]
    assert os.listdir(out / "_caffebatch/.tmp") == []
    for name, probs in expected.items():
        check_result(name, (out / name).read_bytes(), probs)


@pytest.mark.skipif(not cpu_has_bf16() or OPENVINO not in installed(),
                    reason="bf16 needs AMX or AVX512-BF16 and the openvino extra")
def test_precision_bf16_prints_its_measured_deviation_and_scores_at_bf16(digits, tmp_path):
    exact, reduced = tmp_path / "f32", tmp_path / "bf16"
    assert score(str(LENET), "--input", str(digits), "--output", str(exact),
                 "--batch-size", "64", "--engine", "onnxruntime").returncode == 0
    result = score(str(LENET), "--input", str(digits), "--output", str(reduced),
                   "--batch-size", "64", "--precision", "bf16")
    assert result.returncode == 0, result.stderr
    assert "engine: openvino (precision bf16, batch 64: onnxruntime f32 " in result.stderr
    deviation = re.search(r"precision bf16 on openvino: outputs differ from f32 \(ONNX Runtime\) "
                          r"by up to (\S+) absolute, (\S+) relative to the output's scale, "
                          r"on a probe batch of 64", result.stderr)
    assert deviation is not None, result.stderr
    assert float(deviation[2]) > 1e-4  # what it says: not Caffe's numerics
    name = "digit_000.json"
    f32 = np.array(json.loads((exact / name).read_bytes())[name]["prob"])
    bf16 = np.array(json.loads((reduced / name).read_bytes())[name]["prob"])
    assert not np.array_equal(f32, bf16)  # it really ran at bf16...
    assert np.abs(f32 - bf16).max() < 0.1 and f32.argmax() == bf16.argmax()  # ...close to f32


@pytest.mark.skipif(OPENVINO not in installed(), reason="auto measures nothing without openvino")
def test_auto_keeps_its_choice_for_the_next_runs_until_remeasure(digits, tmp_path,
                                                                  engine_choices):
    arguments = (str(LENET), "--input", str(digits), "--batch-size", "64")
    first = score(*arguments, "--output", str(tmp_path / "first"))
    assert first.returncode == 0, first.stderr
    kept = re.search(r"engine: choice kept for the next runs in (\S+\.json)\n", first.stderr)
    assert kept is not None, first.stderr
    path = Path(kept[1])
    assert path.parent == engine_choices
    # The next run scores on what the file says, measuring nothing: make it say the other one.
    record = json.loads(path.read_bytes())
    measured = record["choices"][0]["engine"]
    other = OPENVINO if measured == ONNXRUNTIME else ONNXRUNTIME
    record["choices"][0]["engine"] = other
    path.write_text(json.dumps(record))

    second = score(*arguments, "--output", str(tmp_path / "second"))
    assert second.returncode == 0, second.stderr
    assert f"engine: {other} (auto, batch 64: " in second.stderr
    assert f"engine: as measured before on this machine, kept in {path} " in second.stderr
    for name in ("digit_000.json", "digit_359.json"):  # both backends give Caffe's numerics
        first_probs = json.loads((tmp_path / "first" / name).read_bytes())[name]["prob"]
        second_probs = json.loads((tmp_path / "second" / name).read_bytes())[name]["prob"]
        np.testing.assert_allclose(second_probs, first_probs, rtol=1e-4, atol=1e-6)

    other_batch = score(*arguments[:-1], "32", "--output", str(tmp_path / "other-batch"))
    assert "engine: choice kept for the next runs" in other_batch.stderr  # measured: batch 32
    third = score(*arguments, "--output", str(tmp_path / "third"), "--remeasure")
    assert third.returncode == 0, third.stderr
    assert f"engine: choice kept for the next runs in {path}\n" in third.stderr
    choices = json.loads(path.read_bytes())["choices"]
    assert sorted(choice["batch"] for choice in choices) == [32, 64]  # batch 32's is kept
    assert "as measured before" not in third.stderr


def test_a_choice_that_cannot_be_kept_does_not_stop_the_run(digits, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_bytes(b"")
    monkeypatch.setenv("CAFFEBATCH_CACHE_DIR", str(tmp_path / "a-file"))
    result = score(str(LENET), "--input", str(digits), "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    if OPENVINO in installed():
        assert "engine: the choice could not be kept for the next runs: " in result.stderr
