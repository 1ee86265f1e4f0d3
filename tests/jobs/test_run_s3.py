"""Runs against a real S3-compatible server on 127.0.0.1: bucket and folder in every direction,
and through a proxy that drops connections and answers 503."""

from __future__ import annotations

import json

from caffebatch.jobs import Location, RetryPolicy, RunOptions, run_batch
from tests.jobs.conftest import digit_bytes
from tests.jobs.faultproxy import FaultProxy
from tests.jobs.formats import check_result

COUNT = 60


def check_outputs(found: dict[str, bytes], caffe_probs, run_id: str, count: int = COUNT) -> None:
    """Exactly one result per input, byte-checked, plus the run's report and nothing else."""
    keys = sorted(caffe_probs)[:count]
    assert sorted(found) == sorted([*keys, f"_caffebatch/{run_id}/errors.jsonl",
                                    f"_caffebatch/{run_id}/summary.json"])
    for key in keys:
        check_result(key, found[key], caffe_probs[key])
    assert json.loads(found[f"_caffebatch/{run_id}/summary.json"])["scored"] == count


def test_bucket_to_bucket(s3_server, lenet, lenet_scorer, caffe_probs):
    source, target = s3_server.create_bucket(), s3_server.create_bucket()
    s3_server.upload(source, digit_bytes(COUNT), prefix="in/")
    s3_server.upload(source, {"in/deeper/ignored.json": b"not an input"})
    summary = run_batch(lenet, s3_server.location(f"s3://{source}/in"),
                        s3_server.location(f"s3://{target}/results"), RunOptions("b2b"),
                        scorer=lenet_scorer)
    assert (summary.status, summary.scored, summary.total) == ("SUCCESS", COUNT, COUNT + 1)
    assert summary.skip_reasons == {"nested": 1}  # the prefix deeper/, counted, not read
    check_outputs(s3_server.download(target, "results/"), caffe_probs, "b2b")


def test_folder_to_bucket(s3_server, lenet, lenet_scorer, digits, caffe_probs):
    for path in sorted(digits.iterdir())[COUNT:]:
        path.unlink()
    target = s3_server.create_bucket()
    summary = run_batch(lenet, Location(str(digits)), s3_server.location(f"s3://{target}"),
                        RunOptions("f2b"), scorer=lenet_scorer)
    assert summary.status == "SUCCESS"
    check_outputs(s3_server.download(target), caffe_probs, "f2b")


def test_bucket_to_folder_and_resume(s3_server, lenet, lenet_scorer, tmp_path, caffe_probs):
    source = s3_server.create_bucket()
    s3_server.upload(source, digit_bytes(COUNT))
    out = tmp_path / "out"
    summary = run_batch(lenet, s3_server.location(f"s3://{source}"), Location(str(out)),
                        RunOptions("b2f"), scorer=lenet_scorer)
    assert summary.status == "SUCCESS"
    found = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and ".tmp" not in p.parts}
    check_outputs(found, caffe_probs, "b2f")
    again = run_batch(lenet, s3_server.location(f"s3://{source}"), Location(str(out)),
                      RunOptions("again"), scorer=lenet_scorer)
    assert (again.scored, again.skipped) == (0, COUNT)


def test_a_missing_bucket_fails_the_run(s3_server, lenet, lenet_scorer, tmp_path):
    summary = run_batch(lenet, s3_server.location("s3://no-such-bucket"), Location(str(tmp_path)),
                        RunOptions("missing"), scorer=lenet_scorer)
    assert summary.status == "FAILURE" and summary.failure["code"] == "storage_error"
    assert "no-such-bucket" in summary.failure["message"]


def test_runs_through_faults(s3_server, lenet, lenet_scorer, caffe_probs):
    source, target = s3_server.create_bucket(), s3_server.create_bucket()
    s3_server.upload(source, digit_bytes(COUNT))
    retry = RetryPolicy(outage_s=20, base_delay_s=0.01, max_delay_s=0.2)
    with FaultProxy(s3_server.url, fault_rate=0.25) as proxy:
        summary = run_batch(
            lenet, s3_server.location(f"s3://{source}", endpoint=proxy.url),
            s3_server.location(f"s3://{target}", endpoint=proxy.url),
            RunOptions("faulty", retry=retry, concurrency=8), scorer=lenet_scorer,
        )
    assert summary.status == "SUCCESS", summary.failure
    assert min(proxy.counts[fault] for fault in ("503", "drop", "cut")) > 0, proxy.counts
    check_outputs(s3_server.download(target), caffe_probs, "faulty")
