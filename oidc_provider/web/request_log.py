"""Logs: one line per request with a request id, as JSON objects or plain text.

Every request gets an id — the caller's ``X-Request-ID`` when it is a plausible one (a load
balancer's, so that its log and ours line up), else a new one — echoed in the response and
carried by every log record made while the request runs.

What is logged is chosen, never dumped: the method, the path without its query string, the
status and the time taken. Query strings carry ``state`` and ``login_hint``, bodies carry
codes, secrets and passwords, and the Authorization header carries credentials or tokens;
none of them is ever written.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler

REQUEST_ID_HEADER = "X-Request-ID"
_PLAUSIBLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("oidc_provider.request")


def current_request_id() -> str:
    """The id of the request being served, "-" outside one."""
    return g.get("request_id", "-") if has_request_context() else "-"


def request_id_from(incoming: str) -> str:
    """The caller's request id when it is a plausible one, else a new one."""
    return incoming if _PLAUSIBLE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # A line written outside Flask's request (web/prebuilt.py) carries its id itself.
        record.request_id = (getattr(record, "data", None) or {}).get("request_id") or current_request_id()
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Fields passed as ``extra={"data": {...}}`` are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id != "-":
            entry["request_id"] = request_id
        entry.update(getattr(record, "data", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class QueryStringFilter(logging.Filter):
    """Takes the query string out of every path or URL in a record's message, whoever
    wrote it. Servers log request lines and URIs in messages of their own (gunicorn's
    "Invalid request from ip=...: Invalid HTTP request line: 'GET /authorize?state=...'",
    "Error handling request /authorize?..."), and query strings carry ``state`` and
    ``login_hint``. Installed on the handlers, so it sees every logger's records."""

    _QUERY = re.compile(r"(/[^\s?'\"]*)\?[^\s'\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self._QUERY.sub(r"\1", message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class _ProviderHandler(logging.StreamHandler):
    """Our handler on the root logger, recognizable so that a second app replaces it."""


def configure_logging(log_format: str) -> None:
    """Send every logger's records to stderr in ``log_format`` ("json" or "text")."""
    handler = _ProviderHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(QueryStringFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ProviderHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def _start_request() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
    g.request_started = time.perf_counter()


def _finish_request(response):
    if "request_id" not in g:  # an earlier before_request answered first
        _start_request()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "data": {
                "method": request.method,
                "path": request.path,
                "endpoint": request.endpoint,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.request_started) * 1000, 2),
                "remote_addr": request.remote_addr,
            }
        },
    )
    return response


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_FORMAT"])
    # Records reach the root logger's handler; Flask's own would print them twice.
    app.logger.removeHandler(default_handler)
    app.before_request(_start_request)
    app.after_request(_finish_request)
