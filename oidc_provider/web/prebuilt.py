"""Discovery and JWKS answered from prebuilt bytes, in front of Flask.

They are the most frequent requests (every relying party's library fetches them, the
back channel's id_token checks too) and the same for everyone, yet a Flask request costs
most of a millisecond before the view runs. This layer keeps the answer that Flask last
gave for each of the two documents — status, body and every header, so the security
headers, ``ETag`` and ``Cache-Control`` are Flask's own — and repeats it while the view
says it is current: discovery for the process's life (it depends on settings only), JWKS
until the key ring re-reads its table (``KeyRing.published``). What a Flask request adds
for every answer is done here too: a request id, the request's log line and its metrics.

Anything else goes to Flask: another path or method, a query string (so the NUL check
still sees it), a conditional request (Flask answers 304), a document not yet built or no
longer current (Flask builds it again, and this layer keeps the new answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, request

from oidc_provider.web import metrics
from oidc_provider.web.request_log import REQUEST_ID_HEADER, access_log, request_id_from

# The WSGI environ key through which a view hands this layer the check of its answer.
CURRENT_CHECK = "oidc_provider.prebuilt.current"

# Path -> the endpoint Flask would name in the request log.
DOCUMENTS = {
    "/.well-known/openid-configuration": "discovery.openid_configuration",
    "/.well-known/oauth-authorization-server": "discovery.openid_configuration",
    "/jwks.json": "discovery.jwks",
}


def keep(current: Callable[[], bool]) -> None:
    """Called by a view: its answer to this request may be repeated while ``current()``."""
    request.environ[CURRENT_CHECK] = current


@dataclass(frozen=True)
class _Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    current: Callable[[], bool]


class PrebuiltDocuments:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self._answers: dict[str, _Answer] = {}

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in DOCUMENTS or environ.get("REQUEST_METHOD") != "GET":
            return self.wsgi_app(environ, start_response)
        answer = self._answers.get(path)
        if (
            answer is None
            or environ.get("QUERY_STRING")
            or "HTTP_IF_NONE_MATCH" in environ
            or "HTTP_IF_MODIFIED_SINCE" in environ
            or not answer.current()
        ):
            return self._build(path, environ, start_response)
        return self._repeat(path, answer, environ, start_response)

    def _build(self, path: str, environ, start_response) -> Iterable[bytes]:
        seen: list = []

        def capture(status, headers, exc_info=None):
            seen[:] = [status, headers]
            return start_response(status, headers, exc_info)

        iterable = self.wsgi_app(environ, capture)
        try:
            body = b"".join(iterable)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
        current = environ.get(CURRENT_CHECK)
        if current is not None and seen and seen[0].startswith("200 "):
            headers = [(name, value) for name, value in seen[1] if name != REQUEST_ID_HEADER]
            # A cookie or a Vary on one would mean the answer is not the same for everyone.
            if not any(name.lower() in ("set-cookie", "vary") for name, _ in headers):
                self._answers[path] = _Answer(seen[0], headers, body, current)
        return [body]

    def _repeat(self, path: str, answer: _Answer, environ, start_response) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response(answer.status, [*answer.headers, (REQUEST_ID_HEADER, request_id)])
        status = int(answer.status[:3])
        elapsed = time.perf_counter() - started
        metrics.REQUESTS.labels(path, "GET", str(status)).inc()
        metrics.LATENCY.labels(path).observe(elapsed)
        access_log.info(
            "%s %s %s",
            "GET",
            path,
            status,
            extra={
                "data": {
                    "method": "GET",
                    "path": path,
                    "endpoint": DOCUMENTS[path],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "remote_addr": environ.get("REMOTE_ADDR"),
                    "request_id": request_id,
                }
            },
        )
        return [answer.body]


def init_app(app: Flask) -> None:
    """Before the reverse proxy's layer wraps the application, so that the log's
    ``remote_addr`` is the tenant's, as Flask's is."""
    app.wsgi_app = PrebuiltDocuments(app.wsgi_app)  # type: ignore[method-assign]
