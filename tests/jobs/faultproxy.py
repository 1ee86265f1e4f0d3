"""A small fault-injecting HTTP proxy for tests: 503s, dropped connections, cut-off bodies.

    with FaultProxy(upstream="http://127.0.0.1:5000", fault_rate=0.2) as proxy:
        ... use proxy.url as the S3 endpoint ...

Faults are drawn from a seeded generator, so a run is repeatable in kind if not in order.
"""

from __future__ import annotations

import http.client
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")
FAULTS = ("503", "drop", "cut")


class FaultProxy:
    """Forwards requests to `upstream`; a `fault_rate` share of them gets one of FAULTS."""

    def __init__(self, upstream: str, fault_rate: float, seed: int = 7) -> None:
        self.upstream = urlsplit(upstream)
        self.fault_rate = fault_rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = {"forwarded": 0, **{fault: 0 for fault in FAULTS}}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def draw(self) -> str | None:
        with self.lock:
            fault = self.random.choice(FAULTS) if self.random.random() < self.fault_rate else None
            self.counts[fault or "forwarded"] += 1
            return fault

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy.draw()
                if fault == "drop":  # the request is lost before it reaches the server
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "503":
                    self._reply(503, {"Content-Type": "application/xml"}, SLOW_DOWN)
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
