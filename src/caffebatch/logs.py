"""The process's log lines: plain text or JSON (`Settings.log_format`), uvicorn's included,
each with the id of the request being served (`REQUEST_ID`, set by the HTTP middleware).

Uvicorn is started without a logging config of its own (``log_config=None``), so its
loggers (``uvicorn.error``, ``uvicorn.access``) pass their lines to the root handler set here.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

# the id of the request this task or thread serves (FastAPI's threadpool copies the context)
REQUEST_ID: ContextVar[str | None] = ContextVar("caffebatch_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request)s: %(message)s"


class _RequestField(logging.Filter):
    """Puts the current request's id on every record: `request_id`, and `request` for text."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        record.request_id = request_id
        record.request = f" [{request_id}]" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


FORMATTERS = {"text": lambda: logging.Formatter(TEXT_FORMAT), "json": JsonFormatter}


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Send every logger's lines (ours, uvicorn's, libraries') to stderr in `log_format`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FORMATTERS[log_format]())
    handler.addFilter(_RequestField())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
