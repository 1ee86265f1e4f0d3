"""A run spans its output, not one attempt: reruns and resumes with bad records, skips by
reason, nothing to score, and counts that say what was written after a run that stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from caffebatch.jobs import Location, RunOptions, run_batch
from tests.jobs.conftest import DIGITS, LENET

CLI = [sys.executable, "-m", "caffebatch"]
BAD = b"[0.5, true]"  # not_numeric


def score(source, out, run_id: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "score", str(LENET), "--input", str(source), "--output", str(out),
         "--run-id", run_id, "--threads", "1", *flags],
        capture_output=True, text=True, timeout=300, check=False,
    )


def errors_of(out, run_id: str) -> set[str]:
    lines = (out / f"_caffebatch/{run_id}/errors.jsonl").read_bytes().splitlines()
    return {json.loads(line)["input"] for line in lines}


def summary_of(out, run_id: str) -> dict:
    return json.loads((out / f"_caffebatch/{run_id}/summary.json").read_bytes())


def results_in(out) -> set[str]:
    return {name for name in os.listdir(out) if name.endswith(".json")}


def test_a_rerun_with_bad_records_stays_partial_and_lists_them_all(digits, tmp_path):
    bad = {f"bad_{index}.json" for index in range(6)}
    for key in bad:
        (digits / key).write_bytes(BAD)
    out = tmp_path / "out"
    first = score(digits, out, "a1")
    assert first.returncode == 3, first.stderr
    again = score(digits, out, "a2")
    assert again.returncode == 3, again.stderr  # was FAILURE, "1 of 6 records are bad"
    assert errors_of(out, "a2") == bad
    assert summary_of(out, "a2")["skip_reasons"] == {"done": 360}
    (digits / "bad_0.json").write_bytes((DIGITS / "digit_000.json").read_bytes())  # fixed
    third = score(digits, out, "a3")
    assert third.returncode == 3, third.stderr
    assert errors_of(out, "a3") == bad - {"bad_0.json"}
    assert (summary_of(out, "a3")["scored"], summary_of(out, "a3")["failed"]) == (1, 5)
    assert results_in(out) == {p.name for p in DIGITS.iterdir()} | {"bad_0.json"}


def test_sigkill_then_resume_with_bad_records(tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    digits = sorted(DIGITS.iterdir())
    good = {f"x{index:05d}.json" for index in range(1500)}
    for index, key in enumerate(sorted(good)):
        os.link(digits[index % len(digits)], source / key)
    bad = {f"x{index:05d}.json" for index in range(1500, 1575)}  # 5%
    for key in bad:
        (source / key).write_bytes(BAD)
    command = [*CLI, "score", str(LENET), "--input", str(source), "--output", str(out),
               "--run-id", "k", "--threads", "1", "--batch-size", "16", "--concurrency", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_dir() and len(os.listdir(out)) > 300:
            break
        time.sleep(0.02)
    assert process.poll() is None, process.communicate()[1][-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = results_in(out)
    assert 0 < len(written) < 1500
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 3, resumed.stderr[-2000:]
    assert results_in(out) == good
    assert errors_of(out, "k") == bad
    summary = summary_of(out, "k")
    assert summary["skip_reasons"]["done"] == len(written)
    assert summary["scored"] == 1500 - len(written)


def test_what_is_not_an_input_is_counted_by_reason(digits, tmp_path):
    (digits / ".hidden.json").write_bytes(b"{}")
    (digits / "folder").mkdir()
    os.mkfifo(digits / "fifo.json")
    summary = run_batch_local(digits, tmp_path / "out")
    assert (summary.status, summary.scored, summary.total) == ("SUCCESS", 360, 363)
    assert summary.skip_reasons == {"hidden": 1, "nested": 1, "not_a_regular_file": 1}
    assert summary_of(tmp_path / "out", "r")["skip_reasons"] == summary.skip_reasons


def test_nothing_to_score_fails_and_says_so(tmp_path):
    source = tmp_path / "in"
    (source / "deeper").mkdir(parents=True)
    (source / "deeper/digit.json").write_bytes((DIGITS / "digit_000.json").read_bytes())
    result = score(source, tmp_path / "out", "none")
    assert result.returncode == 1, result.stdout
    assert "no_inputs" in result.stderr and "1 nested" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    summary = run_batch_local(empty, tmp_path / "out2")
    assert summary.status == "FAILURE" and summary.failure["code"] == "no_inputs"


def test_ctrl_c_writes_a_summary_with_what_was_written(tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    digits = sorted(DIGITS.iterdir())
    for index in range(3000):
        os.link(digits[index % len(digits)], source / f"x{index:05d}.json")
    # Ctrl-C as a terminal delivers it: a suite started in the background by a shell without
    # job control ignores SIGINT, and a child inherits that (the run went on to the end).
    default_sigint = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                      "os.execv(sys.argv[1], sys.argv[1:])")
    process = subprocess.Popen(
        [sys.executable, "-c", default_sigint, *CLI, "score", str(LENET), "--input", str(source),
         "--output", str(out), "--run-id", "int", "--threads", "1", "--batch-size", "16",
         "--concurrency", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_dir() and len(os.listdir(out)) > 300:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and b"Aborted" in stderr, stderr[-2000:].decode()
    summary = summary_of(out, "int")
    assert summary["status"] == "CANCELLED" and summary["failure"]["code"] == "interrupted"
    assert summary["scored"] == len(results_in(out)) > 0, stderr[-2000:].decode()


def test_a_failed_run_counts_what_it_wrote(lenet, lenet_scorer, digits, tmp_path):
    """The threshold trips only once the listing is done: results written by then count."""
    for index in range(100):
        (digits / f"zz_bad_{index:03d}.json").write_bytes(BAD)
    out = tmp_path / "out"
    summary = run_batch(lenet, Location(str(digits)), Location(str(out)),
                        RunOptions("f", batch_size=8), scorer=lenet_scorer)
    assert summary.status == "FAILURE" and summary.failure["code"] == "error_threshold"
    assert summary.scored == len(results_in(out)) > 0
    assert summary_of(out, "f")["scored"] == summary.scored


def run_batch_local(source, out):
    from caffebatch.model import load_model

    return run_batch(load_model(LENET), Location(str(source)), Location(str(out)),
                     RunOptions("r"))
