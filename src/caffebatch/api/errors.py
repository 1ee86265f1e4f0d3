"""The error tree to HTTP statuses (one table), and the error body every failure has.

The code in the body is the error's stable code (`caffebatch.errors.code_of`).

Body: ``{"trace": "<id>", "errors": [{"code": "...", "message": "..."}]}``; the trace is the
request's id (`caffebatch.api.requests`), the one in the server's log lines for it.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from caffebatch import errors
from caffebatch.logs import REQUEST_ID

log = logging.getLogger("caffebatch.api")

# error class -> HTTP status; the most specific class in an error's MRO wins
STATUS: dict[type[Exception], int] = {
    errors.InvalidRequestError: 400,
    errors.ModelError: 400,
    errors.AuthenticationError: 401,
    errors.PermissionDeniedError: 403,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.PayloadTooLargeError: 413,
    errors.LimitExceededError: 429,
}

# Starlette's own HTTP errors (unknown route, wrong method) -> code
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_body(status: int, code: str, message: str) -> JSONResponse:
    trace = REQUEST_ID.get() or uuid.uuid4().hex
    body = {"trace": trace, "errors": [{"code": code, "message": message}]}
    return JSONResponse(body, status_code=status, headers={"X-Trace-Id": trace})


async def _caffebatch_error(request: Request, error: Exception) -> JSONResponse:
    status = errors.most_specific(STATUS, error)
    if status is None:  # a storage or run error reaching a request is the server's fault
        return await _unexpected(request, error)
    return error_body(status, errors.code_of(error) or "error", str(error))


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    messages = [
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
    ]
    return error_body(400, "invalid_request", "; ".join(messages) or "invalid request")


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = HTTP_CODES.get(error.status_code, "http_error")
    return error_body(error.status_code, code, str(error.detail))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    response = error_body(500, "internal_error", "the server failed; see its log for the trace")
    log.error(
        "trace %s: %s %s failed",
        response.headers["X-Trace-Id"],
        request.method,
        request.url.path,
        exc_info=error,
    )
    return response


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the error body."""
    app.add_exception_handler(errors.CaffebatchError, _caffebatch_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
