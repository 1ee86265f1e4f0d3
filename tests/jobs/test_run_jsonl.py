"""JSON Lines inputs through whole runs: one result object per .jsonl, its lines in input
order, bad lines reported as ``<key>#<line>``, reruns that complete an object, limits, and a
SIGKILL mid-run then resume that scores every line exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from caffebatch.jobs import Location, RunOptions, run_batch
from tests.jobs.bad_inputs import JSONL_BYTES, JSONL_CORPUS, JSONL_LINES
from tests.jobs.conftest import LENET
from tests.jobs.formats import check_result
from tests.jobs.jsonl_inputs import BAD_LINES, digit_line, jsonl

CLI = [sys.executable, "-m", "caffebatch"]


def run(model, source, target, scorer, run_id="r1", **options):
    options.setdefault("max_error_ratio", 0.5)
    return run_batch(model, Location(str(source)), Location(str(target)),
                     RunOptions(run_id=run_id, **options), scorer=scorer)


def errors_of(out, run_id: str) -> dict[str, str]:
    lines = (out / f"_caffebatch/{run_id}/errors.jsonl").read_bytes().splitlines()
    return {entry["input"]: entry["code"] for entry in map(json.loads, lines)}


def result_lines(data: bytes) -> list[tuple[str, bytes]]:
    """(record key, line) of each line of a JSON Lines result; every line ends with \\n."""
    assert data.endswith(b"\n")
    return [(next(iter(json.loads(line))), line) for line in data[:-1].split(b"\n")]


def check_lines(key: str, data: bytes, expected: dict[int, np.ndarray]) -> None:
    """The result of `key` holds exactly the lines of `expected` (line -> Caffe's prob), in
    order, each exactly as a plain result of that record would be."""
    found = result_lines(data)
    assert [name for name, _ in found] == [f"{key}#{line}" for line in sorted(expected)]
    for (name, line), number in zip(found, sorted(expected), strict=True):
        check_result(name, line, expected[number])


@pytest.fixture
def mixed(tmp_path, caffe_probs):
    """Plain digits 0-9, `a.jsonl` (digits 10-19 with bad and blank lines among them) and
    `b.jsonl` (digits 20-24, CRLF line ends, no final newline); what each line expects."""
    source = tmp_path / "in"
    source.mkdir()
    for index in range(10):
        (source / f"digit_{index:03d}.json").write_bytes(digit_line(index))
    lines, expected, bad = [], {}, {}
    bad_lines = iter(BAD_LINES.items())
    for index in range(10, 20):
        lines.append(digit_line(index))
        expected[len(lines)] = caffe_probs[f"digit_{index:03d}.json"]
        if index % 3 == 0:
            line, code = next(bad_lines)
            lines.append(line)
            bad[f"a.jsonl#{len(lines)}"] = code
        if index == 14:
            lines.append(b"   ")  # blank: not a record, but its number counts
    (source / "a.jsonl").write_bytes(jsonl(lines))
    (source / "b.jsonl").write_bytes(b"\r\n".join(digit_line(index) for index in range(20, 25)))
    b_expected = {line: caffe_probs[f"digit_{19 + line:03d}.json"] for line in range(1, 6)}
    return source, expected, bad, b_expected


def test_lines_are_scored_in_order_and_bad_lines_reported(lenet, lenet_scorer, mixed, tmp_path,
                                                          caffe_probs):
    source, expected, bad, b_expected = mixed
    out = tmp_path / "out"
    summary = run(lenet, source, out, lenet_scorer, batch_size=4)
    assert summary.status == "PARTIAL_SUCCESS"
    records = 10 + len(expected) + len(bad) + len(b_expected)
    assert (summary.total, summary.scored, summary.failed) == (records, records - len(bad), len(bad))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["_caffebatch", "a.jsonl", "b.jsonl", *(f"digit_{i:03d}.json" for i in range(10))])
    check_lines("a.jsonl", (out / "a.jsonl").read_bytes(), expected)
    check_lines("b.jsonl", (out / "b.jsonl").read_bytes(), b_expected)
    for index in range(10):
        key = f"digit_{index:03d}.json"
        check_result(key, (out / key).read_bytes(), caffe_probs[key])
    assert errors_of(out, "r1") == bad


def test_a_rerun_retries_the_bad_lines_and_completes_the_object(lenet, lenet_scorer, mixed,
                                                                tmp_path, caffe_probs):
    source, expected, bad, _ = mixed
    out = tmp_path / "out"
    run(lenet, source, out, lenet_scorer, batch_size=4)
    first = (out / "a.jsonl").read_bytes()
    again = run(lenet, source, out, lenet_scorer, run_id="r2")
    assert (again.status, again.scored, again.failed) == ("PARTIAL_SUCCESS", 0, len(bad))
    assert again.skipped == again.total - len(bad)  # every scored line counts as done
    assert again.skip_reasons == {"done": again.skipped}
    assert (out / "a.jsonl").read_bytes() == first and errors_of(out, "r2") == bad

    fixed_line = int(min(bad).split("#")[1])  # one bad line is fixed, the others stay
    lines = (source / "a.jsonl").read_bytes().split(b"\n")
    lines[fixed_line - 1] = digit_line(30)
    (source / "a.jsonl").write_bytes(b"\n".join(lines))
    third = run(lenet, source, out, lenet_scorer, run_id="r3")
    assert (third.scored, third.failed) == (1, len(bad) - 1)
    expected[fixed_line] = caffe_probs["digit_030.json"]
    check_lines("a.jsonl", (out / "a.jsonl").read_bytes(), expected)
    kept = dict(result_lines(first))
    assert all(kept[name] == line for name, line in result_lines((out / "a.jsonl").read_bytes())
               if name in kept)  # the earlier lines are kept as they were, not rescored
    assert errors_of(out, "r3") == {key: code for key, code in bad.items()
                                    if key != f"a.jsonl#{fixed_line}"}


def test_a_damaged_result_line_is_scored_again(lenet, lenet_scorer, mixed, tmp_path):
    source = mixed[0]
    out = tmp_path / "out"
    run(lenet, source, out, lenet_scorer)
    whole = (out / "b.jsonl").read_bytes()
    (out / "b.jsonl").write_bytes(whole[:-40])  # cut off mid-line, as no write of ours does
    again = run(lenet, source, out, lenet_scorer, run_id="r2")
    assert again.scored == 1
    assert (out / "b.jsonl").read_bytes() == whole


def test_the_limits_of_one_object(lenet, lenet_scorer, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "lines.jsonl").write_bytes(jsonl([digit_line(index) for index in range(4)]))
    (source / "big.jsonl").write_bytes(jsonl([digit_line(0)] * 3))
    (source / "ok.jsonl").write_bytes(jsonl([digit_line(0)] * 2))
    (source / "blank.jsonl").write_bytes(b"\n \n\n")
    size = len(digit_line(0)) * 2 + 2
    out = tmp_path / "out"
    summary = run(lenet, source, out, lenet_scorer, max_jsonl_lines=3, max_jsonl_bytes=size,
                  max_error_ratio=1.0)
    assert errors_of(out, "r1") == {"lines.jsonl": "too_large", "big.jsonl": "too_large",
                                    "blank.jsonl": "empty"}
    assert summary.scored == 2
    (source / "lines.jsonl").write_bytes(b"\n".join([digit_line(0)[:10]] * 4))  # small, 4 lines
    run(lenet, source, out, lenet_scorer, "r2", max_jsonl_lines=3, max_jsonl_bytes=size,
        max_error_ratio=1.0)
    assert errors_of(out, "r2")["lines.jsonl"] == "too_many_lines"


def test_the_bad_jsonl_corpus_gets_its_codes_and_the_good_lines_are_scored(lenet, lenet_scorer,
                                                                          tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for name, (data, _) in JSONL_CORPUS.items():
        (source / f"{name}.jsonl").write_bytes(data)
    out = tmp_path / "out"
    summary = run(lenet, source, out, lenet_scorer, max_error_ratio=1.0,
                  max_jsonl_lines=JSONL_LINES, max_jsonl_bytes=JSONL_BYTES)
    assert errors_of(out, "r1") == {f"{name}.jsonl{where}": code
                                    for name, (_, codes) in JSONL_CORPUS.items()
                                    for where, code in codes.items()}
    scored = 0
    for name, (data, codes) in JSONL_CORPUS.items():
        key = f"{name}.jsonl"
        if "" in codes:
            assert not (out / key).exists()
            continue
        good = [number for number, line in enumerate(data.split(b"\n"), 1)
                if line.strip() and f"#{number}" not in codes]
        assert (out / key).exists() == bool(good)
        if good:
            assert [name for name, _ in result_lines((out / key).read_bytes())] == [
                f"{key}#{number}" for number in good]
        scored += len(good)
    assert (summary.scored, summary.failed) == (scored, len(errors_of(out, "r1")))


def test_the_cli_takes_the_limits(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "lines.jsonl").write_bytes(jsonl([digit_line(index) for index in range(3)]))
    (source / "one.json").write_bytes(digit_line(0))
    result = subprocess.run(
        [*CLI, "score", str(LENET), "--input", str(source), "--output", str(tmp_path / "out"),
         "--run-id", "c", "--threads", "1", "--max-jsonl-lines", "2", "--max-error-ratio", "1"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 3, result.stderr
    assert errors_of(tmp_path / "out", "c") == {"lines.jsonl": "too_many_lines"}


@pytest.mark.slow
def test_sigkill_then_resume_scores_every_line_exactly_once(tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    good: dict[str, list[int]] = {}
    bad: set[str] = set()
    for number in range(60):
        key = f"part-{number:03d}.jsonl"
        lines = [digit_line((number * 50 + index) % 360) for index in range(50)]
        if number % 7 == 0:
            lines[number % 50] = b"[]"
            bad.add(f"{key}#{number % 50 + 1}")
        good[key] = [index + 1 for index, line in enumerate(lines) if line != b"[]"]
        (source / key).write_bytes(jsonl(lines))
    command = [*CLI, "score", str(LENET), "--input", str(source), "--output", str(out),
               "--run-id", "k", "--threads", "1", "--batch-size", "16", "--concurrency", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_dir() and len(os.listdir(out)) > 10:
            break
        time.sleep(0.02)
    assert process.poll() is None, process.communicate()[1][-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {key: len(result_lines((out / key).read_bytes()))
              for key in os.listdir(out) if key.endswith(".jsonl")}
    assert 0 < len(before) < 60
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 3, resumed.stderr[-2000:]
    for key, lines in good.items():
        names = [name for name, _ in result_lines((out / key).read_bytes())]
        assert names == [f"{key}#{line}" for line in lines]
    assert set(errors_of(out, "k")) == bad
    summary = json.loads((out / "_caffebatch/k/summary.json").read_bytes())
    total_good = sum(map(len, good.values()))
    # every line scored once: by the killed run (its lines were kept) or by the resume
    assert summary["scored"] == total_good - sum(before.values())
    assert summary["skip_reasons"] == {"done": sum(before.values())}
    assert summary["total"] == 60 * 50 and summary["failed"] == len(bad)
