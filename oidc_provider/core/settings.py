"""Every setting, its unit and its default.

Settings come from the environment: ``OIDC_PROVIDER_<NAME>`` sets ``<NAME>`` (Flask's
``from_prefixed_env``, so values are parsed as JSON where they can be: ``60`` is an int,
``true`` a bool, ``["a", "b"]`` a list). ``DATABASE_URL`` is read under its plain name, the
common convention of hosting platforms. ``docs/configuration.md`` lists them for operators.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import limits
from cryptography.fernet import Fernet
from flask import Flask

DEFAULTS: dict[str, object] = {
    # "development" generates missing secrets into the instance folder and says so;
    # "production" refuses to start without them, since several instances must share them.
    "MODE": "development",
    # Public issuer URL, no trailing slash. Discovery's "issuer" equals it exactly and every
    # endpoint is absolute under it.
    "ISSUER": "http://127.0.0.1:5000",
    # Signs the session cookie. REQUIRED in production.
    "SECRET_KEY": None,
    # Fernet keys (url-safe base64, 32 bytes) that encrypt secrets at rest: signing keys and
    # HS256 client secrets. A list: the first encrypts, all decrypt, so keys can be rotated.
    # REQUIRED in production.
    "ENCRYPTION_KEYS": None,
    # Lifetimes, in seconds.
    "AUTHORIZATION_CODE_LIFETIME": 60,
    "ACCESS_TOKEN_LIFETIME": 3600,
    "ID_TOKEN_LIFETIME": 3600,
    # A tenant's session ends this long after sign-in however busy (absolute), or after
    # TENANT_SESSION_IDLE_TIMEOUT without a page request (idle), whichever comes first.
    # Signing out, or a new password, ends it at once, every copy of the cookie included.
    "TENANT_SESSION_LIFETIME": 8 * 3600,
    "TENANT_SESSION_IDLE_TIMEOUT": 3600,
    "CONSENT_LIFETIME": 365 * 24 * 3600,
    # A rotated signing key is published in JWKS at once and signs only after this delay,
    # so that relying parties that cache the key set know it before they meet it.
    "KEY_ACTIVATION_DELAY": 24 * 3600,
    # Seconds an active signing key may sign before `keys rotate` is due: the console's
    # overview and the go-live check name a key older than this with no successor.
    "KEY_ROTATION_PERIOD": 90 * 24 * 3600,
    # How often, in seconds, a worker re-reads the signing keys (and the webhook signing
    # keys) from the database: a rotation done anywhere is followed by every worker within
    # this time.
    "KEY_REFRESH_INTERVAL": 5,
    # The user store, as "module:Class" implementing directory.AccountDirectory.
    "DIRECTORY": "oidc_provider.directory:DatabaseDirectory",
    # Scopes a client may be registered with.
    "SCOPES_SUPPORTED": ["openid", "profile", "email"],
    # Largest request body, in bytes.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Failed sign-ins allowed per email and client address together, then per client
    # address over all emails, in the limits syntax ("N per M minutes"; several joined by
    # ";"). Beyond them the address waits (429, Retry-After) until the oldest failure is
    # older than the window. See throttling.py.
    "SIGN_IN_LIMIT": "10 per 15 minutes",
    "SIGN_IN_ADDRESS_LIMIT": "100 per hour",
    # Where the throttling counts live (Flask-Limiter's own setting): "memory://" counts in
    # one process; redis://host:6379 lets every instance share the counts. Unset: memory in
    # development; in production the web server refuses to start without a shared store
    # (commands that serve no request, such as `db upgrade`, do not need it).
    "RATELIMIT_STORAGE_URI": None,
    # Requests each partner API client may make to /api/v1, in the limits syntax; counted
    # in RATELIMIT_STORAGE_URI, so every instance shares the count. Beyond it: 429 with
    # Retry-After.
    "API_RATE_LIMIT": "600/minute",
    # The admin console (/admin). Seconds without a request after which an admin is signed
    # out: a console left open on a shared screen must not stay usable.
    "ADMIN_IDLE_TIMEOUT": 15 * 60,
    # Seconds from sign-in after which an admin signs in again, however busy: a session
    # cookie copied somewhere is worth nothing after this.
    "ADMIN_SESSION_LIFETIME": 8 * 3600,
    # Largest upload to the console (directory files, logos), in bytes. Protocol requests
    # keep MAX_CONTENT_LENGTH.
    "ADMIN_UPLOAD_MAX_BYTES": 10 * 1024 * 1024,
    # Rows per page in the console's lists.
    "ADMIN_PAGE_SIZE": 50,
    # Path, under the issuer, of the Partner Pairing URL that ServiceTitan opens for Custom
    # pairing ("ST Pairing"), e.g. /st/pair -> https://auth.partner.example/st/pair.
    "CUSTOM_PAIRING_PATH": "/st/pair",
    # The ServiceTitan environment ("sandbox" or "production") that Custom pairings, and
    # clients registered without one, report to. Unset: "production" in production mode,
    # "sandbox" in development. Its URLs and API credentials: `flask servicetitan configure`.
    "SERVICETITAN_ENVIRONMENT": None,
    # Seconds each call to ServiceTitan may take to connect, and again to answer.
    "SERVICETITAN_TIMEOUT": 10,
    # Seconds the Custom pairing page waits before showing ServiceTitan's newer answer.
    "CUSTOM_PAIRING_REFRESH": 2,
    # The outbox of calls to ServiceTitan. A failed send is retried after OUTBOX_RETRY_BASE
    # seconds, doubling each time up to OUTBOX_RETRY_MAX seconds, each delay with jitter
    # (between half and all of it) so that workers do not retry in step after an outage.
    "OUTBOX_RETRY_BASE": 5,
    "OUTBOX_RETRY_MAX": 3600,
    # Seconds an idle worker waits before looking for due messages again.
    "OUTBOX_POLL_INTERVAL": 2,
    # Seconds a worker's claim on a message lasts; no other worker sends it meanwhile. Must
    # exceed the longest send (a token request and the call, SERVICETITAN_TIMEOUT each way).
    "OUTBOX_LEASE": 120,
    # Messages a worker claims at once.
    "OUTBOX_BATCH_SIZE": 10,
    # true: the web process runs an outbox worker thread itself (small installs); false:
    # run `flask outbox run` beside the web server.
    "OUTBOX_IN_PROCESS": False,
    # Path, under the issuer, where ServiceTitan's webhooks arrive: {prefix}/accounts,
    # {prefix}/leads/accepted, ...
    "WEBHOOK_PREFIX": "/servicetitan/webhooks",
    # Request header that carries the webhook signing key (ServiceTitan lets the partner
    # rename it).
    "WEBHOOK_HEADER": "X-STLeads-Token",
    # Largest webhook body kept, in bytes; a larger one gets 413. Webhooks only: other
    # requests keep MAX_CONTENT_LENGTH.
    "WEBHOOK_MAX_BYTES": 1024 * 1024,
    # true: accept webhooks without a key while none is set (a sandbox only). false: until
    # a signing key is set, every delivery is refused.
    "WEBHOOK_ALLOW_UNSIGNED": False,
    # Seconds between two sweeps that judge again the webhook deliveries left unjudged (a
    # judge that failed, a process that died); each web process sweeps once at its start,
    # then at this interval. 0: never (tests that judge by hand).
    "WEBHOOK_SWEEP_INTERVAL": 60,
    # Optional: the partner's own URL that receives each event of the feed (/api/v1/events)
    # by POST, through the outbox (retried while it is down). None: nothing is pushed.
    "WEBHOOK_FORWARD_URL": None,
    # The Standard Webhooks secret that signs each push: "whsec_" and base64 (at least 16
    # bytes). While one is rotated, two, space-separated: each push carries both signatures.
    # Required when WEBHOOK_FORWARD_URL is set.
    "WEBHOOK_FORWARD_SECRET": None,
    # Seconds an event stays in the feed before `flask purge` deletes it.
    "EVENT_RETENTION": 30 * 24 * 3600,
    # How many reverse proxies in front of the provider set X-Forwarded-For/-Proto/-Host/-Port
    # (a count, not a list of addresses). 0 trusts none of these headers. Behind one
    # TLS-terminating proxy, 1: requests are then seen as https, as the tenant sent them.
    "TRUSTED_PROXY_COUNT": 0,
    # "json" (one object per line, for log collectors) or "text" (for a terminal).
    # Unset: json in production, text in development.
    "LOG_FORMAT": None,
    # Seconds that expired or revoked access tokens are kept before `flask purge` deletes
    # them, so that an investigation can still find what a token did.
    "PURGE_RETENTION": 7 * 24 * 3600,
}


class SettingError(ValueError):
    """A setting of the wrong type or out of range; the message is one line naming the
    variable, the value and the form expected."""


def _whole(minimum: int) -> Callable[[object], bool]:
    return lambda value: type(value) is int and value >= minimum


def _one_of(*choices: object) -> Callable[[object], bool]:
    return lambda value: value in choices


def _path(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/") and not value.startswith("//") and value.isprintable()


def _text(value: object) -> bool:
    return isinstance(value, str) and value.strip() != "" and value.isprintable()


def _url(value: object) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme in ("http", "https") and bool(urlsplit(value).netloc)


def _forward_secret(value: object) -> bool:
    if not isinstance(value, str) or not 1 <= len(value.split()) <= 2:
        return False
    for part in value.split():
        try:
            if not part.startswith("whsec_") or len(base64.b64decode(part[6:], validate=True)) < 16:
                return False
        except ValueError:
            return False
    return True


def _limits(value: object) -> bool:
    try:
        return isinstance(value, str) and bool(limits.parse_many(value))
    except ValueError:
        return False


_SECONDS = (_whole(1), "a whole number of seconds, at least 1, e.g. 3600")
_BYTES = (_whole(1), "a whole number of bytes, at least 1, e.g. 65536")
_BOOLEAN = (_one_of(True, False), "true or false")
# Waits and timeouts may be fractions of a second.
_DELAY = (
    lambda value: isinstance(value, int | float) and not isinstance(value, bool) and value > 0,
    "a number of seconds above 0, e.g. 2 or 0.5",
)
# Each setting's check and the form it expects, as the one-line refusal says it.
_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "MODE": (_one_of("development", "production"), "development or production"),
    "ISSUER": (_url, "an http or https URL, e.g. https://auth.partner.example"),
    "AUTHORIZATION_CODE_LIFETIME": _SECONDS,
    "ACCESS_TOKEN_LIFETIME": _SECONDS,
    "ID_TOKEN_LIFETIME": _SECONDS,
    "TENANT_SESSION_LIFETIME": _SECONDS,
    "TENANT_SESSION_IDLE_TIMEOUT": _SECONDS,
    "CONSENT_LIFETIME": _SECONDS,
    "KEY_ACTIVATION_DELAY": (_whole(0), "a whole number of seconds, at least 0, e.g. 86400"),
    "KEY_REFRESH_INTERVAL": _SECONDS,
    "KEY_ROTATION_PERIOD": _SECONDS,
    "DIRECTORY": (lambda v: _text(v) and ":" in str(v), "module:Class, e.g. oidc_provider.directory:DatabaseDirectory"),
    "SCOPES_SUPPORTED": (
        lambda v: isinstance(v, list) and bool(v) and all(_text(scope) for scope in v),
        'a JSON list of scopes, e.g. ["openid", "profile", "email"]',
    ),
    "MAX_CONTENT_LENGTH": _BYTES,
    "SIGN_IN_LIMIT": (_limits, 'limits such as "10 per 15 minutes", several joined by ";"'),
    "SIGN_IN_ADDRESS_LIMIT": (_limits, 'limits such as "100 per hour", several joined by ";"'),
    # Whether production has one, and a shared one, is production's rule (below).
    "RATELIMIT_STORAGE_URI": (lambda v: v is None or isinstance(v, str), "a storage URI, e.g. redis://127.0.0.1:6379"),
    "ADMIN_IDLE_TIMEOUT": _SECONDS,
    "ADMIN_SESSION_LIFETIME": _SECONDS,
    "ADMIN_UPLOAD_MAX_BYTES": _BYTES,
    "ADMIN_PAGE_SIZE": (_whole(1), "a whole number of rows, at least 1, e.g. 50"),
    "CUSTOM_PAIRING_PATH": (_path, "a path beginning with /, e.g. /st/pair"),
    "SERVICETITAN_ENVIRONMENT": (_one_of(None, "sandbox", "production"), "sandbox or production"),
    "SERVICETITAN_TIMEOUT": _DELAY,
    "CUSTOM_PAIRING_REFRESH": _DELAY,
    "OUTBOX_RETRY_BASE": _DELAY,
    "OUTBOX_RETRY_MAX": _DELAY,
    "OUTBOX_POLL_INTERVAL": _DELAY,
    "OUTBOX_LEASE": _DELAY,
    "OUTBOX_BATCH_SIZE": (_whole(1), "a whole number of messages, at least 1, e.g. 10"),
    "OUTBOX_IN_PROCESS": _BOOLEAN,
    "WEBHOOK_PREFIX": (_path, "a path beginning with /, e.g. /servicetitan/webhooks"),
    "WEBHOOK_HEADER": (_text, "a header name, e.g. X-STLeads-Token"),
    "WEBHOOK_MAX_BYTES": _BYTES,
    "WEBHOOK_ALLOW_UNSIGNED": _BOOLEAN,
    "WEBHOOK_FORWARD_URL": (lambda v: v is None or _url(v), "an http or https URL"),
    "WEBHOOK_FORWARD_SECRET": (
        lambda v: v is None or _forward_secret(v),
        "whsec_ and base64 of at least 16 bytes; two, space-separated, while rotating",
    ),
    "EVENT_RETENTION": _SECONDS,
    "TRUSTED_PROXY_COUNT": (_whole(0), "a whole number of proxies, at least 0, e.g. 1"),
    "LOG_FORMAT": (_one_of("json", "text"), "json or text"),
    "PURGE_RETENTION": (_whole(0), "a whole number of seconds, at least 0, e.g. 604800"),
    "WEBHOOK_SWEEP_INTERVAL": (_whole(0), "a whole number of seconds, at least 0 (0 turns the sweep off), e.g. 60"),
    "API_RATE_LIMIT": (_limits, 'limits such as "600/minute", several joined by ";"'),
}


_SECRETS = frozenset({"WEBHOOK_FORWARD_SECRET"})


def check_settings(config) -> None:
    """Refuse a setting of the wrong type or out of range, naming it as the operator
    wrote it (``OIDC_PROVIDER_PURGE_RETENTION=7d``), before anything uses it."""
    for name, (valid, expected) in _CHECKS.items():
        value = config[name]
        if not valid(value):
            # A secret's value is never repeated, not even a malformed one.
            written = "(hidden)" if name in _SECRETS else os.environ.get(f"OIDC_PROVIDER_{name}", repr(value))
            raise SettingError(f"OIDC_PROVIDER_{name}={written}: expected {expected}")
    if config.get("WEBHOOK_FORWARD_TOKEN") is not None:
        raise SettingError(
            "OIDC_PROVIDER_WEBHOOK_FORWARD_TOKEN is retired: pushes are signed as Standard Webhooks now; "
            "set OIDC_PROVIDER_WEBHOOK_FORWARD_SECRET (whsec_ and base64) instead and unset the token "
            "(docs/partner-api-events.md says how to verify the signature)"
        )
    if config["WEBHOOK_FORWARD_URL"] and not config["WEBHOOK_FORWARD_SECRET"]:
        raise SettingError(
            "OIDC_PROVIDER_WEBHOOK_FORWARD_URL is set: OIDC_PROVIDER_WEBHOOK_FORWARD_SECRET must be set too "
            "(whsec_ and base64), to sign each push"
        )
    if config["OUTBOX_RETRY_MAX"] < config["OUTBOX_RETRY_BASE"]:
        raise SettingError(
            f"OIDC_PROVIDER_OUTBOX_RETRY_MAX={config['OUTBOX_RETRY_MAX']}: expected at least "
            f"OIDC_PROVIDER_OUTBOX_RETRY_BASE ({config['OUTBOX_RETRY_BASE']})"
        )


def load_settings(app: Flask, overrides: dict | None = None) -> list[str]:
    """Fill ``app.config`` from the defaults, the environment, ``overrides`` (tests) and
    the instance folder. Answers the warnings to log once logging is set up in the chosen
    ``LOG_FORMAT``, so that they too are JSON lines when the logs are."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("OIDC_PROVIDER")
    app.config.from_mapping(overrides or {})
    app.config["ISSUER"] = str(app.config["ISSUER"]).rstrip("/")
    app.config["LOG_FORMAT"] = app.config["LOG_FORMAT"] or ("json" if app.config["MODE"] == "production" else "text")
    check_settings(app.config)
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        app.config.get("SQLALCHEMY_DATABASE_URI") or os.environ.get("DATABASE_URL") or _default_database_url(app)
    )
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app))
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config["TENANT_SESSION_LIFETIME"]
    # A session lasts its lifetime from when it last changed (a sign-in, a request kept for
    # the consent page), not from its last use: a copied cookie cannot be kept alive by
    # using it, and an unchanged cookie is not signed again on every page.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    # Secure cookies on an https issuer; production refuses any other issuer but loopback,
    # where an http client would otherwise never send the session back.
    app.config["SESSION_COOKIE_SECURE"] = app.config["ISSUER"].startswith("https://")
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # the session lifetime already bounds it
    # Flask-WTF also demands, over https only, a Referer from our own host; our pages send
    # "Referrer-Policy: no-referrer", so browsers send none and every form would be refused
    # in production. The token, bound to the SameSite=Lax session, is the CSRF defence.
    app.config["WTF_CSRF_SSL_STRICT"] = False

    if app.config["MODE"] == "production":
        _require_production_settings(app)
        return []
    warnings = _generate_development_secrets(app)
    if isinstance(app.config["ENCRYPTION_KEYS"], str):
        app.config["ENCRYPTION_KEYS"] = [app.config["ENCRYPTION_KEYS"]]
    return warnings


def _default_database_url(app: Flask) -> str:
    return f"sqlite:///{Path(app.instance_path) / 'oidc_provider.sqlite'}"


def _engine_options(app: Flask) -> dict:
    # Statement parameters (emails, request ids) stay out of error messages and SQL logs.
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Writers wait for each other instead of failing at once.
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    return {"pool_pre_ping": True, "hide_parameters": True}


def _require_production_settings(app: Flask) -> None:
    """Refuse to start with anything that one instance would make up on its own: several
    instances must share the secret key, the encryption keys and, when they serve requests,
    the throttling counts."""
    required = ("SECRET_KEY", "ENCRYPTION_KEYS") + (("RATELIMIT_STORAGE_URI",) if _serves_requests() else ())
    missing = [name for name in required if not app.config.get(name)]
    if missing:
        names = ", ".join(f"OIDC_PROVIDER_{name}" for name in missing)
        raise RuntimeError(f"production mode needs {names}: every instance must share them")
    keys = app.config["ENCRYPTION_KEYS"]
    if not isinstance(keys, list) or not all(_is_fernet_key(key) for key in keys):
        # A list even for one key, so that rotating it is adding a second, not a new format.
        raise RuntimeError(
            'production mode needs OIDC_PROVIDER_ENCRYPTION_KEYS as a JSON list of Fernet keys, e.g. ["<key>"]'
        )
    if "RATELIMIT_STORAGE_URI" in required and urlsplit(app.config["RATELIMIT_STORAGE_URI"]).scheme in ("", "memory"):
        raise RuntimeError(
            "production mode needs OIDC_PROVIDER_RATELIMIT_STORAGE_URI to name a shared store, "
            "e.g. redis://127.0.0.1:6379: counts kept in one process's memory let a client "
            "try again on every other instance"
        )
    issuer = urlsplit(app.config["ISSUER"])
    if issuer.scheme != "https" and issuer.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise RuntimeError("production mode needs an https OIDC_PROVIDER_ISSUER")


def _serves_requests() -> bool:
    """Whether this process will answer requests, and so throttle sign-ins. A WSGI server
    calls the factory outside any command line; ``flask run`` calls it inside its own
    command. Every other command (``db upgrade``, ``purge``, ``outbox run``, ...) loads the
    app within the ``flask`` command line and never answers a sign-in."""
    context = click.get_current_context(silent=True)
    return context is None or context.command.name == "run"


def _is_fernet_key(key: Any) -> bool:
    try:
        Fernet(key)
    except (TypeError, ValueError):
        return False
    return True


def _generate_development_secrets(app: Flask) -> list[str]:
    """Create the secrets a laptop needs once, and keep them in the instance folder;
    answers what was made up."""
    warnings = []
    folder = Path(app.instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    generated = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(32),
        "ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
    }
    for name, generate in generated.items():
        if app.config.get(name):
            continue
        path = folder / name.lower()
        if not path.exists():
            path.write_text(generate())
            path.chmod(0o600)
            warnings.append(f"development mode: generated {name} into {path}")
        app.config[name] = path.read_text().strip()
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = "memory://"
        warnings.append(
            "development mode: throttling counts are kept in this process's memory; "
            "production needs OIDC_PROVIDER_RATELIMIT_STORAGE_URI, e.g. redis://127.0.0.1:6379"
        )
    return warnings
