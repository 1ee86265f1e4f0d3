"""A real S3-compatible server (moto in server mode) on 127.0.0.1, for tests.

    with S3Server() as server:
        server.create_bucket("in")
        location = server.location("in")

Reusable by any test package: `s3_server` in tests/jobs/conftest.py is a session fixture
over it. The server runs in its own process, so it does not share the tests' GIL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Self

import boto3
from botocore.config import Config

from caffebatch.jobs.spec import Location

ACCESS_KEY, SECRET_KEY, REGION = "testing", "testing", "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """moto_server in a subprocess; `url` is its endpoint."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None:
                    raise RuntimeError("moto_server exited at start")
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start within 30 s")

    def __exit__(self, *exc) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def client(self, endpoint: str | None = None):
        return boto3.client(
            "s3", endpoint_url=endpoint or self.url, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"b-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def location(self, url: str, endpoint: str | None = None) -> Location:
        """A Location on this server (or on `endpoint`, e.g. a proxy in front of it)."""
        return Location(url, endpoint_url=endpoint or self.url, access_key=ACCESS_KEY,
                        secret_key=SECRET_KEY, region=REGION)

    def upload(self, bucket: str, objects: dict[str, bytes], prefix: str = "") -> None:
        client = self.client()
        for key, data in objects.items():
            client.put_object(Bucket=bucket, Key=prefix + key, Body=data)

    def download(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under `prefix` (all depths), key relative to the prefix."""
        client = self.client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                found[item["Key"][len(prefix):]] = body
        return found
