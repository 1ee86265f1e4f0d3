"""The storage interface over a local folder and a real S3 server."""

from __future__ import annotations

import os
import stat
from dataclasses import replace

import pytest

from caffebatch.errors import AccessDeniedError, LocationNotFoundError, ObjectNotFoundError
from caffebatch.jobs.spec import Location, RetryPolicy
from caffebatch.jobs.storage import local as local_storage
from caffebatch.jobs.storage import overlaps
from caffebatch.jobs.storage.local import LocalStorage
from caffebatch.jobs.storage.s3 import S3Storage, parse_url
from tests.jobs.faultproxy import FaultProxy

QUICK = RetryPolicy(outage_s=0.5, base_delay_s=0.01, max_delay_s=0.1)


def test_local_lists_files_sorted_and_the_rest_as_skipped(tmp_path):
    for name in ["b.json", "a.json", "Z.json", ".hidden", "é.json"]:
        (tmp_path / name).write_bytes(b"{}")
    (tmp_path / "sub").mkdir()
    entries = list(LocalStorage(tmp_path).list())
    assert [e.key for e in entries] == [".hidden", "Z.json", "a.json", "b.json", "sub", "é.json"]
    assert [e.skip for e in entries] == ["hidden", None, None, None, "nested", None]


def test_local_put_is_atomic_and_leaves_no_temporary_file(tmp_path):
    storage = LocalStorage(tmp_path / "out")
    storage.prepare()
    storage.put("k.json", b"one")
    storage.put("k.json", b"two")
    storage.put("_caffebatch/r/summary.json", b"{}")
    assert (tmp_path / "out/k.json").read_bytes() == b"two"
    assert list((tmp_path / "out/_caffebatch/.tmp").iterdir()) == []
    (tmp_path / "out/_caffebatch/.tmp/leftover").write_bytes(b"half")
    storage.prepare()  # a rerun clears what a killed run left
    assert list((tmp_path / "out/_caffebatch/.tmp").iterdir()) == []


def test_local_errors_are_ours(tmp_path):
    with pytest.raises(LocationNotFoundError):
        list(LocalStorage(tmp_path / "missing").list())
    with pytest.raises(ObjectNotFoundError):
        LocalStorage(tmp_path).get("missing.json", 10)


def test_local_get_reads_one_byte_past_the_limit(tmp_path):
    (tmp_path / "k").write_bytes(b"x" * 100)
    assert len(LocalStorage(tmp_path).get("k", 10)) == 11


@pytest.mark.parametrize("size, limit", [(0, 10), (10, 10), (11, 10), (5000, 10), (5000, 1 << 26)])
def test_local_get_returns_the_file_or_one_byte_past_the_limit(tmp_path, size, limit):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    (tmp_path / "k").write_bytes(data)
    assert LocalStorage(tmp_path).get("k", limit) == data[: limit + 1]


def test_local_read_goes_on_when_the_file_is_longer_than_its_size_says():
    reader, writer = os.pipe()
    os.write(writer, b"0123456789")
    os.close(writer)
    try:  # 2 bytes when it was opened: 10 now
        assert local_storage._read_at_most(reader, 2, 7) == b"0123456"
    finally:
        os.close(reader)


def test_local_results_are_written_with_the_usual_permissions(tmp_path):
    storage = LocalStorage(tmp_path / "out")
    storage.prepare()
    storage.put("k.json", b"{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out/k.json").stat().st_mode) == 0o666 & ~umask


def test_s3_lists_page_by_page_in_order(s3_server):
    bucket = s3_server.create_bucket()
    keys = [f"k{index:03d}.json" for index in range(25)]
    s3_server.upload(bucket, {key: b"{}" for key in reversed(keys)}, prefix="p/")
    s3_server.upload(bucket, {"p/deeper/x.json": b"{}", "other.json": b"{}"})
    storage = S3Storage(s3_server.location(f"s3://{bucket}/p/"), QUICK, page_size=7)
    entries = list(storage.list())
    assert [e.key for e in entries] == ["deeper/", *keys]  # S3's order, prefixes among keys
    inputs = [e for e in entries if e.skip is None]
    assert [e.key for e in inputs] == keys
    assert all(e.size == 2 for e in inputs)
    assert [e.skip for e in entries if e.skip] == ["nested"]


def test_s3_errors_are_ours(s3_server):
    bucket = s3_server.create_bucket()
    storage = S3Storage(s3_server.location(f"s3://{bucket}"), QUICK)
    with pytest.raises(ObjectNotFoundError):
        storage.get("missing.json", 10)
    with pytest.raises(LocationNotFoundError):
        S3Storage(s3_server.location("s3://no-such-bucket"), QUICK).prepare()


def test_s3_without_credentials_is_access_denied(s3_server, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    storage = S3Storage(Location("s3://any", endpoint_url=s3_server.url), QUICK)
    with pytest.raises(AccessDeniedError):
        storage.prepare()


@pytest.mark.parametrize("a, b, expected", [
    ("s3://b", "s3://b/out", True),
    ("s3://b/in", "s3://b/out", False),
    ("s3://b/in", "s3://b/input", False),
    ("s3://b/in/", "s3://b/in", True),
    ("s3://b", "s3://c", False),
    ("/data/in", "/data/in/out", True),
    ("/data/in", "/data/out", False),
    ("/data/in", "s3://data/in", False),
])
def test_overlaps(a, b, expected):
    assert overlaps(Location(a), Location(b)) is expected


def test_parse_url():
    assert parse_url("s3://bucket") == ("bucket", "")
    assert parse_url("s3://bucket/a/b/") == ("bucket", "a/b/")


def _established_to(port: int) -> int:
    """Open TCP connections to 127.0.0.1:`port` (Linux's table; state 01 is ESTABLISHED)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.read().splitlines()[1:]]
    return sum(row[2] == f"0100007F:{port:04X}" and row[3] == "01" for row in rows)


def test_s3_close_lets_go_of_its_connections_and_is_safe_twice(s3_server):
    bucket = s3_server.create_bucket()
    s3_server.upload(bucket, {"k.json": b"{}"})
    # moto answers HTTP/1.0 and hangs up; the proxy keeps connections alive, as S3 does
    with FaultProxy(upstream=s3_server.url, fault_rate=0.0) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        storage = S3Storage(replace(s3_server.location(f"s3://{bucket}"), endpoint_url=proxy.url),
                            QUICK)
        assert storage.get("k.json", 10) == b"{}"
        assert _established_to(port) == 1  # the kept-alive connection, waiting for more
        storage.close()
        storage.close()
        assert _established_to(port) == 0


def test_local_close_is_a_no_op(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.put("k.json", b"{}")
    storage.close()
    storage.close()
    assert storage.get("k.json", 10) == b"{}"
