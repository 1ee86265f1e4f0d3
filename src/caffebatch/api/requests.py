"""The HTTP middleware around the whole server: a request id, and the request metrics.

Each request gets an id: the caller's ``X-Request-ID`` when it is a sane token, else a new
one. It is in every log line written while the request is served (`caffebatch.logs`), in
the response's ``X-Request-ID`` header, and is the `trace` of an error body. Requests are
counted by method, route template (``/v3/.../deployments/{deployment_id}``, not the
concrete path, so the metrics stay small) and status, and timed.
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caffebatch.logs import REQUEST_ID
from caffebatch.service.metrics import ServiceMetrics

HEADER = "x-request-id"
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
UNMATCHED = "(unmatched)"  # a path no route knows: one label, whatever was asked


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER.encode():
            offered = bytes(value).decode("latin-1")
            if SANE_ID.fullmatch(offered):
                return offered
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    return f"{scope.get('root_path', '')}{path}" or "/"


class RequestObserver:
    """ASGI middleware: request id in context and headers; counts and times every request."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # what a client sees when the app fails before it answers

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            route, method = route_template(scope), scope["method"]
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_latency.labels(method, route).observe(
                time.perf_counter() - started
            )
            REQUEST_ID.reset(token)
