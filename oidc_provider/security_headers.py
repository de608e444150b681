"""Browser defences on every response, and clean errors for whatever goes wrong."""

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

# Endpoints that speak JSON to machines; every other path answers errors with a page.
_JSON_PATHS = ("/token", "/userinfo", "/account-info", "/.well-known/", "/jwks.json")


def add_headers(response):
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if current_app.config["ISSUER"].startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def handle_http_error(error: HTTPException):
    if error.response is not None:  # already a complete answer, e.g. an RFC 6750 challenge
        return error.response
    if isinstance(error, CSRFError):
        description = "This form has expired or did not come from our page. Go back, reload and try again."
    else:
        description = error.description
    # The error's own headers stay, e.g. the Allow that a 405 must carry (RFC 9110 15.5.6).
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    if request.path.startswith(_JSON_PATHS):
        response = jsonify(error=_oauth_error_code(error.code), error_description=description)
        response.status_code = error.code
        response.headers.extend(headers)
        return response
    return render_template("error.html", error=error.name, description=description), error.code, headers


def _oauth_error_code(status: int) -> str:
    return "invalid_request" if status < 500 else "server_error"


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
    app.register_error_handler(HTTPException, handle_http_error)
