"""An S3-compatible bucket (or a prefix in one) as a Storage, through one botocore client."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import botocore.session
from botocore.config import Config
from botocore.httpchecksum import StreamingChecksumBody

from caffebatch.errors import ObjectCorruptError
from caffebatch.jobs.retry import retrying
from caffebatch.jobs.spec import Location, RetryPolicy
from caffebatch.jobs.storage import NESTED, Entry, check_output_name
from caffebatch.jobs.storage.s3errors import FOREIGN, translate

T = TypeVar("T")
PAGE = 1000
MAX_KEY_BYTES = 1024  # S3's limit on a key, prefix included

# Reads of one object whose bytes must match its checksum before it counts as corrupt: a
# body damaged on the way differs from read to read, one damaged at rest never passes.
CORRUPT_READS = 5

# An ETag that is the MD5 of the bytes: a single-part upload without SSE-KMS or SSE-C.
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?')
_OPAQUE_ETAG_ENCRYPTION = ("aws:kms", "aws:kms:dsse")


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/"); the prefix may be ""."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


class S3Storage:
    """The objects directly under ``s3://bucket[/prefix]``; deeper "folders" are listed as
    skipped (NESTED), keys with an empty path segment as bad names.

    The client is shared by all threads (botocore's clients are thread-safe). Requests are
    retried by botocore (standard mode: it backs off longer when throttled); every call is
    retried again here, within the RetryPolicy's outage budget, on what s3errors.py calls
    transient (5xx, throttling, dropped connections, a body cut off mid-read), so a flaky
    endpoint or a short outage costs time, not records.

    Integrity: objects are written with a CRC32 checksum, which S3 verifies and keeps; a read
    asks for the stored checksum and botocore verifies the body against it. An object stored
    without one is verified against its ETag when that is the MD5 of its bytes.
    """

    remote = True

    def __init__(self, location: Location, retry: RetryPolicy, *, connections: int = 16,
                 page_size: int = PAGE) -> None:
        self.bucket, self.prefix = parse_url(location.url)
        self.page_size = page_size
        self.retry = retry
        region = (
            location.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        config = Config(
            retries={"mode": retry.mode, "total_max_attempts": retry.request_attempts},
            max_pool_connections=connections + 4,
            connect_timeout=5,
            read_timeout=30,
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_supported",
            response_checksum_validation="when_supported",
        )
        # Any: botocore makes S3's methods from its service model when it builds the client,
        # and its stubs' BaseClient declares none of them
        self.client: Any = botocore.session.Session().create_client(
            "s3",
            endpoint_url=location.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
            aws_access_key_id=location.access_key,
            aws_secret_access_key=location.secret_key,
            region_name=region,
            config=config,
        )

    def __repr__(self) -> str:
        return f"S3Storage('s3://{self.bucket}/{self.prefix}')"

    def _call(self, action: Callable[[], T], what: str, *, one_object: bool = False) -> T:
        def translated() -> T:
            try:
                return action()
            except FOREIGN as error:
                raise translate(error, what, one_object=one_object) from error

        return retrying(self.retry, translated, what)

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        """The listing pages under `prefix`, one request each, as they are needed."""
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix,
                                     "MaxKeys": self.page_size}
        if delimiter:
            arguments["Delimiter"] = delimiter
        while True:
            page: dict[str, Any] = self._call(
                partial(self.client.list_objects_v2, **arguments),
                f"listing s3://{self.bucket}/{prefix}",
            )
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            arguments["ContinuationToken"] = token

    def list(self) -> Iterator[Entry]:
        for page in self._pages(self.prefix, "/"):
            found = [(item["Key"][len(self.prefix):], item) for item in page.get("Contents", ())]
            found += [(item["Prefix"][len(self.prefix):], None)
                      for item in page.get("CommonPrefixes", ())]
            for key, item in sorted(found, key=lambda pair: pair[0]):  # S3's order: UTF-8 bytes
                if item is not None:
                    if key:  # an empty key is the "folder" marker object of the prefix itself
                        yield Entry(key, int(item.get("Size", 0)))
                elif key == "/":  # keys like "prefix//x": no result can be named after them
                    yield from self._empty_segment_keys()
                else:
                    yield Entry(key, skip=NESTED)

    def _empty_segment_keys(self) -> Iterator[Entry]:
        for page in self._pages(self.prefix + "/", None):
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix):]
                yield Entry(key, int(item.get("Size", 0)), bad_name=(
                    f"the key {item['Key']!r} has an empty path segment (a leading '/' or '//'); "
                    "no result can be named after it"))

    def get(self, key: str, limit: int) -> bytes:
        what = f"reading s3://{self.bucket}/{self.prefix}{key}"
        for read in range(1, CORRUPT_READS + 1):
            try:
                return self._call(lambda: self._read(key, limit, what), what, one_object=True)
            except ObjectCorruptError as error:
                if read == CORRUPT_READS:
                    raise ObjectCorruptError(
                        f"{what}: the bytes did not match the object's checksum in "
                        f"{CORRUPT_READS} reads; the last: {error}") from error
        raise AssertionError("unreachable")

    def _read(self, key: str, limit: int, what: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key,
                                          ChecksumMode="ENABLED")
        with response["Body"] as body:
            if response.get("ContentLength", 0) > limit:  # too large: enough to tell
                head: bytes = body.read(limit + 1)
                return head
            data: bytes = body.read()  # a full read checks the length, and S3's checksum
        if not isinstance(body, StreamingChecksumBody):  # no checksum came for botocore to check
            _check_etag(response, data, what)
        return data

    def put(self, key: str, data: bytes) -> None:
        self._call(
            lambda: self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data,
                                           ChecksumAlgorithm="CRC32"),
            f"writing s3://{self.bucket}/{self.prefix}{key}",
        )

    def check_name(self, key: str) -> None:
        """Refuse a result key S3 cannot hold: over 1,024 bytes with the prefix."""
        check_output_name(key, len((self.prefix + key).encode()), MAX_KEY_BYTES,
                          f"keys in s3://{self.bucket}")

    def prepare(self) -> None:
        """Check that the bucket exists and answers (a PUT is atomic: no temporary files)."""
        self._call(
            lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1),
            f"opening s3://{self.bucket}/{self.prefix}",
        )

    def close(self) -> None:
        """Close the client's pooled connections (botocore leaves them to the garbage collector)."""
        self.client.close()


def _check_etag(response: dict[str, Any], data: bytes, what: str) -> None:
    """Compare the bytes with the object's ETag, when that is their MD5."""
    match = _MD5_ETAG.fullmatch(response.get("ETag", ""))
    if (match is None or response.get("ServerSideEncryption") in _OPAQUE_ETAG_ENCRYPTION
            or response.get("SSECustomerAlgorithm")):
        return
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != match.group(1):
        raise ObjectCorruptError(f"{what}: the {len(data)} bytes read do not have the MD5 of "
                                 f"the object's ETag {match.group(1)}")
