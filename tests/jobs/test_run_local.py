"""Folder-to-folder runs of the real LeNet example: results, report, resume, refusals."""

from __future__ import annotations

import json
import threading

import pytest

from caffebatch.jobs import Location, RunOptions, run_batch
from tests.jobs.bad_inputs import CORPUS, LIMIT
from tests.jobs.formats import check_result


def run(model, source, target, scorer, **options):
    return run_batch(model, Location(str(source)), Location(str(target)),
                     RunOptions(run_id=options.pop("run_id", "r1"), **options), scorer=scorer)


def test_scores_every_digit_like_caffe(lenet, lenet_scorer, digits, tmp_path, caffe_probs):
    out = tmp_path / "out"
    summary = run(lenet, digits, out, lenet_scorer)
    assert (summary.status, summary.total, summary.scored, summary.failed) == ("SUCCESS", 360, 360, 0)
    assert summary.batch_size == 64  # the prototxt's batch
    results = sorted(p.name for p in out.iterdir())
    assert results == ["_caffebatch", *sorted(caffe_probs)]
    for key, expected in caffe_probs.items():
        check_result(key, (out / key).read_bytes(), expected)
    report = json.loads((out / "_caffebatch/r1/summary.json").read_bytes())
    assert report["status"] == "SUCCESS" and report["scored"] == 360 and report["batch_size"] == 64
    assert (out / "_caffebatch/r1/errors.jsonl").read_bytes() == b""
    assert list((out / "_caffebatch/.tmp").iterdir()) == []


def test_a_rerun_skips_what_is_done(lenet, lenet_scorer, digits, tmp_path, caffe_probs):
    out = tmp_path / "out"
    out.mkdir()
    done = sorted(caffe_probs)[::3]
    for key in done:  # complete results of those inputs, as an earlier attempt left them
        (out / key).write_bytes(b'{"%s":{"prob":[1.0]}}' % key.encode())
    summary = run(lenet, digits, out, lenet_scorer, batch_size=7)
    assert (summary.scored, summary.skipped, summary.total) == (360 - len(done), len(done), 360)
    assert summary.skip_reasons == {"done": len(done)}
    assert all((out / key).read_bytes().endswith(b"[1.0]}}") for key in done)
    again = run(lenet, digits, out, lenet_scorer, run_id="r2")
    assert (again.status, again.scored, again.skipped) == ("SUCCESS", 0, 360)


def test_a_rerun_scores_again_what_is_empty_cut_off_or_not_its_result(
        lenet, lenet_scorer, digits, tmp_path, caffe_probs):
    out = tmp_path / "out"
    run(lenet, digits, out, lenet_scorer)
    keys = sorted(caffe_probs)
    whole = (out / keys[1]).read_bytes()
    planted = {keys[0]: b"", keys[1]: whole[: len(whole) // 2], keys[2]: whole,  # another's
               keys[3]: b"kept"}
    for key, data in planted.items():
        (out / key).write_bytes(data)
    again = run(lenet, digits, out, lenet_scorer, run_id="r2")
    assert (again.status, again.scored, again.skipped) == ("SUCCESS", len(planted), 360 - 4)
    for key in planted:
        check_result(key, (out / key).read_bytes(), caffe_probs[key])


def test_bad_records_are_reported_and_good_ones_scored(lenet, lenet_scorer, digits, tmp_path,
                                                        caffe_probs):
    for name, (data, _) in CORPUS.items():
        (digits / f"bad_{name}.json").write_bytes(data)
    out = tmp_path / "out"
    summary = run(lenet, digits, out, lenet_scorer, max_error_ratio=0.5, max_record_bytes=LIMIT)
    assert summary.status == "PARTIAL_SUCCESS"
    assert (summary.scored, summary.failed) == (360, len(CORPUS))
    for key, expected in caffe_probs.items():
        check_result(key, (out / key).read_bytes(), expected)
    lines = (out / "_caffebatch/r1/errors.jsonl").read_bytes().splitlines()
    codes = {entry["input"]: entry["code"] for entry in map(json.loads, lines)}
    assert codes == {f"bad_{name}.json": code for name, (_, code) in CORPUS.items()}
    assert not any((out / f"bad_{name}.json").exists() for name in CORPUS)


def test_too_many_bad_records_fail_the_run(lenet, lenet_scorer, digits, tmp_path):
    for index in range(40):
        (digits / f"bad_{index}.json").write_bytes(b"[]")
    summary = run(lenet, digits, tmp_path / "out", lenet_scorer, max_error_ratio=0.05)
    assert summary.status == "FAILURE"
    assert summary.failure["code"] == "error_threshold"
    assert "of the output's 400 inputs are bad, over the max_error_ratio of 0.05" in (
        summary.failure["message"])
    assert summary.failed <= 40


@pytest.mark.parametrize("target", ["same", "inside"])
def test_source_and_target_may_not_overlap(lenet, lenet_scorer, digits, target):
    out = digits if target == "same" else digits / "out"
    summary = run(lenet, digits, out, lenet_scorer)
    assert summary.status == "FAILURE" and summary.failure["code"] == "invalid_run"
    assert not (digits / "_caffebatch").exists() or target == "same"


def test_a_missing_source_fails_with_a_storage_error(lenet, lenet_scorer, tmp_path):
    summary = run(lenet, tmp_path / "nowhere", tmp_path / "out", lenet_scorer)
    assert summary.status == "FAILURE" and summary.failure["code"] == "storage_error"
    assert "does not exist" in summary.failure["message"]
    assert json.loads((tmp_path / "out/_caffebatch/r1/summary.json").read_bytes())["status"] == "FAILURE"


def test_cancel_stops_promptly(lenet, tmp_path, digits):
    cancel = threading.Event()
    seen = []

    class SlowScorer:  # a real scorer would be too quick to catch in the act
        def __init__(self, inner):
            self.inner = inner
            self.layouts = inner.layouts

        def __call__(self, feeds):
            seen.append(1)
            cancel.set()
            return self.inner(feeds)

    from caffebatch.runtime.scorer import Scorer

    scorer = SlowScorer(Scorer(lenet.onnx.SerializeToString(), threads=1))
    summary = run_batch(lenet, Location(str(digits)), Location(str(tmp_path / "out")),
                        RunOptions(run_id="c", batch_size=4), scorer=scorer, cancel=cancel)
    assert summary.status == "CANCELLED"
    assert summary.scored < 360
    assert (summary.finished_at - summary.started_at).total_seconds() < 5


def test_progress_is_reported(lenet, lenet_scorer, digits, tmp_path):
    reports = []
    run_batch(lenet, Location(str(digits)), Location(str(tmp_path / "out")),
              RunOptions(run_id="p", progress_interval_s=0.01), scorer=lenet_scorer,
              progress=reports.append)
    assert reports and reports[-1].total == 360 and reports[-1].scored == 360
    assert [r.scored for r in reports] == sorted(r.scored for r in reports)


def test_a_failing_progress_listener_ends_no_run(lenet, lenet_scorer, digits, tmp_path, caplog):
    calls = []

    def listener(progress):
        calls.append(progress)
        raise RuntimeError("the listener's database is gone")

    out = tmp_path / "out"
    summary = run_batch(lenet, Location(str(digits)), Location(str(out)),
                        RunOptions(run_id="r1", progress_interval_s=0.01), scorer=lenet_scorer,
                        progress=listener)
    assert (summary.status, summary.scored) == ("SUCCESS", 360)
    assert calls, "the listener was called"
    assert json.loads((out / "_caffebatch/r1/summary.json").read_bytes())["scored"] == 360
    assert "the progress listener failed" in caplog.text


def test_a_batch_over_the_memory_limit_fails_the_run_before_reading(lenet, digits, tmp_path):
    summary = run_batch(lenet, Location(str(digits)), Location(str(tmp_path / "out")),
                        RunOptions(run_id="r1", batch_size=64, max_batch_bytes=64 * 3136 - 1))
    assert summary.status == "FAILURE" and summary.scored == 0
    assert summary.failure["code"] == "invalid_run"
    assert "at most 63" in summary.failure["message"]
