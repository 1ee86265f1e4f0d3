"""An S3-compatible bucket (or a prefix in one) as a Storage, through one boto3 client."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from typing import TypeVar

import boto3
from botocore.config import Config

from caffebatch.jobs.retry import retrying
from caffebatch.jobs.spec import Location, RetryPolicy
from caffebatch.jobs.storage import Entry
from caffebatch.jobs.storage.s3errors import FOREIGN, translate

T = TypeVar("T")
PAGE = 1000


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/"); the prefix may be ""."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


class S3Storage:
    """The objects directly under ``s3://bucket[/prefix]`` (not those in deeper "folders").

    The client is shared by all threads (boto3 clients are thread-safe). Every call is
    retried here, with the run's RetryPolicy, on what s3errors.py calls transient (5xx,
    throttling, dropped connections, a body cut off mid-read), so a flaky endpoint costs
    time, not records.
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
            # One retry policy, ours, for everything (botocore's backoff waits up to 20 s).
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=connections + 4,
            connect_timeout=5,
            read_timeout=30,
            s3={"addressing_style": "path"},
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=location.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
            aws_access_key_id=location.access_key,
            aws_secret_access_key=location.secret_key,
            region_name=region,
            config=config,
        )

    def __repr__(self) -> str:
        return f"S3Storage('s3://{self.bucket}/{self.prefix}')"

    def _call(self, action: Callable[[], T], what: str) -> T:
        def translated() -> T:
            try:
                return action()
            except FOREIGN as error:
                raise translate(error, what) from error

        return retrying(self.retry, translated, what)

    def list(self) -> Iterator[Entry]:
        token: str | None = None
        while True:
            arguments = {"Bucket": self.bucket, "Prefix": self.prefix, "Delimiter": "/",
                         "MaxKeys": self.page_size}
            if token:
                arguments["ContinuationToken"] = token
            page = self._call(
                partial(self.client.list_objects_v2, **arguments),
                f"listing s3://{self.bucket}/{self.prefix}",
            )
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix):]
                if key:  # the "folder" marker object of the prefix itself
                    yield Entry(key, int(item.get("Size", 0)))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def get(self, key: str, limit: int) -> bytes:
        def read() -> bytes:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            with response["Body"] as body:
                if response.get("ContentLength", 0) > limit:  # too large: enough to tell
                    data: bytes = body.read(limit + 1)
                else:  # a full read checks the length, so a cut-off body raises
                    data = body.read()
                return data

        return self._call(read, f"reading s3://{self.bucket}/{self.prefix}{key}")

    def put(self, key: str, data: bytes) -> None:
        self._call(
            lambda: self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data),
            f"writing s3://{self.bucket}/{self.prefix}{key}",
        )

    def prepare(self) -> None:
        """Check that the bucket exists and answers (a PUT is atomic: no temporary files)."""
        self._call(
            lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1),
            f"opening s3://{self.bucket}/{self.prefix}",
        )

    def close(self) -> None:
        """Close the client's pooled connections (boto3 leaves them to the garbage collector)."""
        self.client.close()
