"""A small fault-injecting HTTP proxy for tests: 503s, dropped connections, cut-off bodies,
bodies corrupted at the same length, total outages, and canned S3 errors for chosen keys.

    with FaultProxy(upstream="http://127.0.0.1:5000", fault_rate=0.2) as proxy:
        ... use proxy.url as the S3 endpoint ...
        proxy.outage(5)                       # every request for 5 s is dropped
        proxy.refuse("/bucket/k.json", 403, "AccessDenied")

Faults are drawn from a seeded generator, so a run is repeatable in kind if not in order.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")
FAULTS = ("503", "drop", "cut")


def error_body(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()


class FaultProxy:
    """Forwards requests to `upstream`; a `fault_rate` share of them gets one of FAULTS, and a
    `corrupt_rate` share of object reads (GETs of one object) gets one byte changed."""

    def __init__(self, upstream: str, fault_rate: float, seed: int = 7,
                 corrupt_rate: float = 0.0) -> None:
        self.upstream = urlsplit(upstream)
        self.fault_rate = fault_rate
        self.corrupt_rate = corrupt_rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = {"forwarded": 0, "corrupt": 0, "outage": 0, "refused": 0,
                       **{fault: 0 for fault in FAULTS}}
        self.outage_until = 0.0
        self.refusals: dict[str, tuple[int, str]] = {}  # request path -> (status, S3 code)
        self.refusals_left: dict[str, int] = {}  # request path -> how many more to refuse
        self.damaged: set[str] = set()  # request paths whose body is always corrupted
        self.put_headers: list[dict[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def outage(self, seconds: float) -> None:
        """From now on, for `seconds`, drop every request (a server down or restarting)."""
        self.outage_until = time.monotonic() + seconds

    def refuse(self, path: str, status: int, code: str, times: int | None = None) -> None:
        """Answer the requests for `path` (``/bucket/key``) with this S3 error: every one, or
        the next `times`."""
        self.refusals[path] = (status, code)
        if times is not None:
            self.refusals_left[path] = times

    def damage(self, path: str) -> None:
        """Corrupt every read of `path` (``/bucket/key``): the object looks damaged at rest."""
        self.damaged.add(path)

    def draw(self, path: str) -> str | None:
        with self.lock:
            if time.monotonic() < self.outage_until:
                fault = "outage"
            elif path in self.refusals:
                fault = "refused"
                if path in self.refusals_left:
                    self.refusals_left[path] -= 1
                    if not self.refusals_left[path]:
                        del self.refusals[path], self.refusals_left[path]
            else:
                fault = self.random.choice(FAULTS) if self.random.random() < self.fault_rate else None
            self.counts[fault or "forwarded"] += 1
            return fault

    def corrupts(self, path: str) -> bool:
        with self.lock:
            hit = path in self.damaged or self.random.random() < self.corrupt_rate
            self.counts["corrupt"] += hit
            return hit

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path, _, query = self.path.partition("?")
                if self.command == "PUT":
                    proxy.put_headers.append({k.lower(): v for k, v in self.headers.items()})
                fault = proxy.draw(path)
                if fault in ("drop", "outage"):  # the request is lost before it reaches the server
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "503":
                    self._reply(503, {"Content-Type": "application/xml"}, SLOW_DOWN)
                    return
                if fault == "refused":
                    status, code = proxy.refusals[path]
                    self._reply(status, {"Content-Type": "application/xml"},
                                error_body(code, f"refused by the test proxy: {code}"))
                    return
                status, headers, data = self._forward(body)
                if fault == "cut" and len(data) > 1:  # promise all of it, send half, hang up
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.close()
                    return
                one_object = self.command == "GET" and "list-type" not in query
                if one_object and status == 200 and data and proxy.corrupts(path):
                    data = _changed_byte(data, proxy.random)
                self._reply(status, dict(headers), data)

            def _forward(self, body: bytes | None):
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port,
                                                      timeout=30)
                try:
                    upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                    response = upstream.getresponse()
                    data = response.read()
                    skip = {"content-length", "transfer-encoding", "connection"}
                    headers = [(k, v) for k, v in response.getheaders() if k.lower() not in skip]
                    return response.status, headers, data
                finally:
                    upstream.close()

            def _reply(self, status: int, headers: dict, data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        return Handler


def _changed_byte(data: bytes, draw: random.Random) -> bytes:
    """`data` with one byte replaced by another value: same length, different bytes."""
    changed = bytearray(data)
    at = draw.randrange(len(changed))
    changed[at] = (changed[at] + 1 + draw.randrange(255)) % 256
    return bytes(changed)
