"""Every setting, its unit and its default.

Settings come from the environment: ``OIDC_PROVIDER_<NAME>`` sets ``<NAME>`` (Flask's
``from_prefixed_env``, so values are parsed as JSON where they can be: ``60`` is an int,
``true`` a bool, ``["a", "b"]`` a list). ``DATABASE_URL`` is read under its plain name, the
common convention of hosting platforms. ``docs/configuration.md`` lists them for operators.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

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
    "TENANT_SESSION_LIFETIME": 8 * 3600,
    "CONSENT_LIFETIME": 365 * 24 * 3600,
    # A rotated signing key is published in JWKS at once and signs only after this delay,
    # so that relying parties that cache the key set know it before they meet it.
    "KEY_ACTIVATION_DELAY": 24 * 3600,
    # How often, in seconds, a worker re-reads the signing keys from the database: a
    # rotation done anywhere is followed by every worker within this time.
    "KEY_REFRESH_INTERVAL": 5,
    # The user store, as "module:Class" implementing directory.AccountDirectory.
    "DIRECTORY": "oidc_provider.directory:DatabaseDirectory",
    # Scopes a client may be registered with.
    "SCOPES_SUPPORTED": ["openid", "profile", "email"],
    # Largest request body, in bytes.
    "MAX_CONTENT_LENGTH": 64 * 1024,
}


def load_settings(app: Flask, overrides: dict | None = None) -> None:
    """Fill ``app.config`` from the defaults, the environment, ``overrides`` (tests) and
    the instance folder."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("OIDC_PROVIDER")
    app.config.from_mapping(overrides or {})
    app.config["ISSUER"] = str(app.config["ISSUER"]).rstrip("/")
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        app.config.get("SQLALCHEMY_DATABASE_URI") or os.environ.get("DATABASE_URL") or _default_database_url(app)
    )
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app))
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config["TENANT_SESSION_LIFETIME"]
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SECURE"] = app.config["MODE"] == "production"
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # the session lifetime already bounds it

    if app.config["MODE"] == "production":
        _require_production_settings(app)
    else:
        _generate_development_secrets(app)
    if isinstance(app.config["ENCRYPTION_KEYS"], str):
        app.config["ENCRYPTION_KEYS"] = [app.config["ENCRYPTION_KEYS"]]


def _default_database_url(app: Flask) -> str:
    return f"sqlite:///{Path(app.instance_path) / 'oidc_provider.sqlite'}"


def _engine_options(app: Flask) -> dict:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Writers wait for each other instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _require_production_settings(app: Flask) -> None:
    missing = [name for name in ("SECRET_KEY", "ENCRYPTION_KEYS") if not app.config.get(name)]
    if missing:
        names = ", ".join(f"OIDC_PROVIDER_{name}" for name in missing)
        raise RuntimeError(f"production mode needs {names}: every instance must share them")
    issuer = urlsplit(app.config["ISSUER"])
    if issuer.scheme != "https" and issuer.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise RuntimeError("production mode needs an https OIDC_PROVIDER_ISSUER")


def _generate_development_secrets(app: Flask) -> None:
    """Create the secrets a laptop needs once, and keep them in the instance folder."""
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
            app.logger.warning("development mode: generated %s into %s", name, path)
        app.config[name] = path.read_text().strip()
