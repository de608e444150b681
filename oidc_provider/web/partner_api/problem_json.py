"""Errors of the partner API as ``application/problem+json`` (RFC 9457).

Every answer that refuses something has ``type``, ``title``, ``status``, ``detail`` and the
product's one problem shape, ``problems``: a list of ``{"where", "message"}`` (``where`` is a
JSON path into the request, a query parameter, or a header, empty for the request as a whole).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, json
from werkzeug.http import HTTP_STATUS_CODES

from oidc_provider.core.problems import Problem

MEDIA_TYPE = "application/problem+json"
#: Where the partner API lives; its errors are problem+json whatever raised them.
PATH_PREFIX = "/api/"


def problem_response(
    status: int,
    problems: Iterable[Problem],
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **members,
) -> Response:
    problems = list(problems)
    body = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or "; ".join(str(problem) for problem in problems) or HTTP_STATUS_CODES.get(status, ""),
        **members,
        "problems": [problem.as_dict() for problem in problems],
    }
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    response.headers["Cache-Control"] = "no-store"
    response.headers.extend(headers or {})
    return response
