"""Browser defences on every response, and clean errors for whatever goes wrong."""

from flask import Flask, current_app, jsonify, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import BadRequest, HTTPException

from oidc_provider.core.extensions import db
from oidc_provider.core.problems import Problem
from oidc_provider.oidc.keys import KeyRingError
from oidc_provider.oidc.response_modes import page_form_action
from oidc_provider.web.partner_api.problem_json import PATH_PREFIX as API_PATH_PREFIX
from oidc_provider.web.partner_api.problem_json import problem_response

# Endpoints that speak JSON to machines (and the webhook receivers, whose prefix is a
# setting); every other path answers errors with a page.
_JSON_PATHS = ("/token", "/userinfo", "/account-info", "/.well-known/", "/jwks.json", "/openapi.json")


def _wants_json() -> bool:
    return request.path.startswith(_JSON_PATHS) or request.blueprint == "webhooks"


def add_headers(response):
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
        f"form-action {page_form_action()}; base-uri 'none'",
    )
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if current_app.config["ISSUER"].startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def refuse_nul_characters() -> None:
    """No value we accept holds a NUL character, and PostgreSQL refuses to store or even
    compare text with one: refuse it here, as a 400, before it can reach a query as a 500."""
    # Not the form of a webhook delivery: its body is kept byte for byte, whatever its
    # content type, and parsing it here would leave the receiver nothing to keep.
    sources = (request.args,) if request.blueprint == "webhooks" else (request.args, request.form)
    if "\x00" in request.path or any(
        "\x00" in name or any("\x00" in value for value in values)
        for source in sources
        for name, values in source.lists()
    ):
        raise BadRequest("A parameter holds a NUL character.")


def handle_http_error(error: HTTPException):
    if error.response is not None:  # already a complete answer, e.g. an RFC 6750 challenge
        return error.response
    if isinstance(error, CSRFError):
        description = "This form has expired or did not come from our page. Go back, reload and try again."
    else:
        description = error.description
    # The error's own headers stay, e.g. the Allow that a 405 must carry (RFC 9110 15.5.6).
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    if request.path.startswith(API_PATH_PREFIX):
        return problem_response(error.code, [Problem("", description)], headers=dict(headers))
    if _wants_json():
        response = jsonify(error=_oauth_error_code(error.code), error_description=description)
        response.status_code = error.code
        response.headers.extend(headers)
        response.headers["Cache-Control"] = "no-store"
        return response
    return _error_page(error.name, description), error.code, headers


def _oauth_error_code(status: int) -> str:
    return "invalid_request" if status < 500 else "server_error"


def handle_database_unavailable(error: OperationalError | InterfaceError):
    """The database went away (a restart, a failover, a dropped connection): 503, and the
    next request gets a new connection from the pool, without a restart of ours."""
    try:
        db.session.rollback()
    except DBAPIError:
        pass  # the connection is gone; the pool has already discarded it
    # The class only: the message carries the statement and may name the host and user.
    current_app.logger.error("database unavailable: %s", type(error.orig or error).__name__)
    return _unavailable("The service is unavailable for a moment. Try again shortly.")


def handle_no_signing_key(error: KeyRingError):
    """No key that signs now (every one retired, the next not yet active, or none that the
    encryption keys can open): the id_token cannot be made. 503 at once, so that ServiceTitan
    retries with the same code, which the rolled-back transaction left unused."""
    current_app.logger.error("cannot sign: %s", error)
    return _unavailable("Tokens cannot be issued for a moment. Try again shortly.")


def _unavailable(description: str):
    headers = {"Retry-After": "30", "Cache-Control": "no-store"}
    if request.path.startswith(API_PATH_PREFIX):
        return problem_response(503, [Problem("", description)], headers=headers)
    if _wants_json():
        response = jsonify(error="temporarily_unavailable", error_description=description)
        return response, 503, headers
    return _error_page("temporarily_unavailable", description), 503, headers


def _error_page(error: str, description: str) -> str:
    """An error page from its template alone, without the context processors: they load the
    signed-in user (Flask-Login's current_user, the console's navigation) from a database
    that may just have failed, and would turn any error page into a 500."""
    return current_app.jinja_env.get_template("error.html").render(error=error, description=description)


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
    app.after_request(add_headers)
    app.register_error_handler(HTTPException, handle_http_error)
    # Not every DBAPIError: an IntegrityError is a bug or a race to fix, not an outage.
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(InterfaceError, handle_database_unavailable)
    app.register_error_handler(KeyRingError, handle_no_signing_key)
