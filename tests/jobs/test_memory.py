"""Peak memory of a whole `caffebatch score` run follows the byte budget, not the object size.

Eight 30 MB records on S3 took 1.85 GB of RSS before the budget (issue 10, item 7). Here the
run is a real CLI subprocess against a real S3 server, and its peak RSS is read with
getrusage(RUSAGE_CHILDREN) in a fresh helper process, so no other child counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from caffebatch.caffe.proto import caffe_pb2
from caffebatch.jobs.budget import entry_bytes, record_bytes
from caffebatch.jobs.storage import Entry
from tests.compiler.netbuilder import layer, write_caffe_files
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY

BIG_SHAPE = (1, 1000, 1500)    # 1.5M numbers: 30 MB of JSON at ~20 characters each
TINY_SHAPE = (1, 2, 2)
RECORDS = 8
BUDGET_MIB = 64                 # below one big record's charge: they go one at a time
MIB = 1024 * 1024

# The helper is its own process, so RUSAGE_CHILDREN sees the CLI run only (ru_maxrss: KiB).
PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def _mean_model(folder: Path, shape: tuple[int, ...]) -> Path:
    """A weightless net: the mean of its one input (global average pooling)."""
    folder.mkdir()
    pool = layer("mean", "Pooling", ["data"], ["mean"], pooling_param={
        "pool": caffe_pb2.PoolingParameter.AVE, "global_pooling": True})
    write_caffe_files([pool], {"data": (1, *shape)}, folder)
    (folder / "deployment-meta.json").write_text(json.dumps({
        "input_layers": ["data"], "output_layers": ["mean"],
        "network_definitions_file_name": "deploy.prototxt",
        "weights_file_name": "weights.caffemodel"}))
    return folder


def _records(shape: tuple[int, ...]) -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    base = rng.random(shape)
    return {f"r{index}.json": json.dumps({"data": (base + index).tolist()}).encode()
            for index in range(RECORDS)}


def _score_peak(s3_server, model: Path, records: dict[str, bytes]) -> tuple[int, int]:
    """The exit code and peak RSS (bytes) of one CLI run over `records`; every one scored."""
    source, target = s3_server.create_bucket(), s3_server.create_bucket()
    s3_server.upload(source, records)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_REGION": REGION}
    command = [sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "caffebatch", "score",
               str(model), "--input", f"s3://{source}", "--output", f"s3://{target}",
               "--s3-endpoint", s3_server.url, "--max-inflight-mib", str(BUDGET_MIB),
               "--engine", "onnxruntime"]  # auto would hold a probe batch (the model's part)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                          check=True)
    code, peak = (int(word) for word in done.stdout.split())
    results = {key: json.loads(body) for key, body in s3_server.download(target).items()
               if "/" not in key}
    assert sorted(results) == sorted(records)
    for key in sorted(records):
        mean = np.mean(json.loads(records[key])["data"])
        assert np.isclose(np.ravel(results[key][key]["mean"])[0], mean, rtol=1e-4)
    return code, peak


@pytest.mark.slow
def test_eight_30_mb_records_on_s3_stay_within_the_budget_of_a_tiny_run(s3_server, tmp_path):
    tiny_code, baseline = _score_peak(s3_server, _mean_model(tmp_path / "tiny", TINY_SHAPE),
                                      _records(TINY_SHAPE))
    big = _records(BIG_SHAPE)
    assert min(map(len, big.values())) > 28 * 10**6
    big_code, peak = _score_peak(s3_server, _mean_model(tmp_path / "big", BIG_SHAPE), big)
    assert (tiny_code, big_code) == (0, 0)
    # Under a budget smaller than one record, one record at a time is in flight: the run
    # may take its charge (text while decoded, then arrays), not eight of them.
    decoded = record_bytes({"data": BIG_SHAPE})
    one = entry_bytes(Entry("r0.json", max(map(len, big.values()))), decoded)
    bound = baseline + max(BUDGET_MIB * MIB, one)
    print(f"baseline {baseline / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB, "
          f"bound {bound / MIB:.0f} MiB")
    assert peak <= bound, (peak / MIB, bound / MIB)
