"""Settings: the environment, production's refusals, development's generated secrets, the docs."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask

from oidc_provider import create_app
from oidc_provider.core.settings import DEFAULTS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
KEY = Fernet.generate_key().decode()


@pytest.fixture
def instance(tmp_path, monkeypatch) -> Path:
    """A clean environment, and an instance folder of the test's own."""
    for name in list(os.environ):
        if name.startswith("OIDC_PROVIDER_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    folder = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(folder))
    return folder


SHARED_STORE = "redis://127.0.0.1:6379"


def production(**settings) -> Flask:
    return create_app(
        {
            "MODE": "production",
            "ISSUER": "https://op.partner.example",
            "RATELIMIT_STORAGE_URI": SHARED_STORE,
            **settings,
        }
    )


# -- production -------------------------------------------------------------------------------


def test_production_starts_with_its_secrets_and_an_https_issuer(instance):
    app = production(SECRET_KEY="s" * 32, ENCRYPTION_KEYS=[KEY])

    assert app.config["SECRET_KEY"] == "s" * 32
    assert app.config["ENCRYPTION_KEYS"] == [KEY]
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert not (instance / "secret_key").exists()
    assert not (instance / "encryption_keys").exists()


def test_production_refuses_to_start_without_a_secret_key(instance):
    with pytest.raises(RuntimeError, match="production mode needs OIDC_PROVIDER_SECRET_KEY:"):
        production(ENCRYPTION_KEYS=[KEY])
    assert not (instance / "secret_key").exists()


def test_production_refuses_to_start_without_encryption_keys(instance):
    with pytest.raises(RuntimeError, match="production mode needs OIDC_PROVIDER_ENCRYPTION_KEYS:"):
        production(SECRET_KEY="s" * 32)
    assert not (instance / "encryption_keys").exists()


def test_production_names_every_missing_secret(instance):
    with pytest.raises(
        RuntimeError,
        match="OIDC_PROVIDER_SECRET_KEY, OIDC_PROVIDER_ENCRYPTION_KEYS, OIDC_PROVIDER_RATELIMIT_STORAGE_URI",
    ):
        production(RATELIMIT_STORAGE_URI=None)


@pytest.mark.parametrize(
    "keys",
    [KEY, [None], ["not-a-fernet-key"], [KEY, "not-a-fernet-key"], {"key": KEY}],
    ids=["a-bare-key", "none", "not-a-key", "one-good-one-bad", "an-object"],
)
def test_production_needs_the_encryption_keys_as_a_list_of_fernet_keys(instance, keys):
    with pytest.raises(RuntimeError, match="OIDC_PROVIDER_ENCRYPTION_KEYS as a JSON list of Fernet keys"):
        production(SECRET_KEY="s" * 32, ENCRYPTION_KEYS=keys)


def test_production_accepts_several_encryption_keys(instance):
    second = Fernet.generate_key().decode()

    assert production(SECRET_KEY="s" * 32, ENCRYPTION_KEYS=[KEY, second]).config["ENCRYPTION_KEYS"] == [KEY, second]


@pytest.mark.parametrize("store", [None, "", "memory://"])
def test_production_refuses_throttling_counts_kept_in_process_memory(instance, store):
    with pytest.raises(RuntimeError, match="OIDC_PROVIDER_RATELIMIT_STORAGE_URI"):
        production(SECRET_KEY="s" * 32, ENCRYPTION_KEYS=[KEY], RATELIMIT_STORAGE_URI=store)


@pytest.mark.parametrize("issuer", ["http://op.partner.example", "http://10.0.0.5:5000"])
def test_production_refuses_an_http_issuer_off_loopback(instance, issuer):
    with pytest.raises(RuntimeError, match="https OIDC_PROVIDER_ISSUER"):
        production(SECRET_KEY="s" * 32, ENCRYPTION_KEYS=[KEY], ISSUER=issuer)


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:5000", "http://localhost:8000"])
def test_production_allows_http_on_loopback(instance, issuer):
    app = production(SECRET_KEY="s" * 32, ENCRYPTION_KEYS=[KEY], ISSUER=issuer)

    assert app.config["ISSUER"] == issuer
    # A Secure cookie would never come back over http.
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_production_reads_its_settings_from_the_environment(instance, monkeypatch):
    monkeypatch.setenv("OIDC_PROVIDER_MODE", "production")
    monkeypatch.setenv("OIDC_PROVIDER_ISSUER", "https://op.partner.example/")
    monkeypatch.setenv("OIDC_PROVIDER_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("OIDC_PROVIDER_ENCRYPTION_KEYS", f'["{KEY}"]')
    monkeypatch.setenv("OIDC_PROVIDER_RATELIMIT_STORAGE_URI", SHARED_STORE)

    app = create_app()

    assert app.config["MODE"] == "production"
    assert app.config["ISSUER"] == "https://op.partner.example"
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["ENCRYPTION_KEYS"] == [KEY]
    assert app.config["RATELIMIT_STORAGE_URI"] == SHARED_STORE
    assert app.config["LOG_FORMAT"] == "json"


def test_production_refuses_when_the_environment_lacks_a_secret(instance, monkeypatch):
    monkeypatch.setenv("OIDC_PROVIDER_MODE", "production")
    monkeypatch.setenv("OIDC_PROVIDER_ISSUER", "https://op.partner.example")
    monkeypatch.setenv("OIDC_PROVIDER_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("OIDC_PROVIDER_RATELIMIT_STORAGE_URI", SHARED_STORE)

    with pytest.raises(RuntimeError, match="OIDC_PROVIDER_ENCRYPTION_KEYS"):
        create_app()


def test_several_encryption_keys_come_as_a_json_list(instance, monkeypatch):
    second = Fernet.generate_key().decode()
    monkeypatch.setenv("OIDC_PROVIDER_ENCRYPTION_KEYS", f'["{KEY}", "{second}"]')

    assert create_app().config["ENCRYPTION_KEYS"] == [KEY, second]


# -- development ------------------------------------------------------------------------------


def test_development_generates_its_secrets_into_the_instance_folder(instance):
    app = create_app()

    secret_key = (instance / "secret_key").read_text()
    encryption_key = (instance / "encryption_keys").read_text()
    assert app.config["MODE"] == "development"
    assert app.config["SECRET_KEY"] == secret_key and len(secret_key) >= 43
    assert app.config["ENCRYPTION_KEYS"] == [encryption_key]
    Fernet(encryption_key)  # a usable key
    for name in ("secret_key", "encryption_keys"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_development_reuses_the_generated_secrets_on_the_next_start(instance):
    first = create_app()
    second = create_app()

    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert second.config["ENCRYPTION_KEYS"] == first.config["ENCRYPTION_KEYS"]


def test_development_keeps_a_secret_that_is_given(instance):
    app = create_app({"SECRET_KEY": "given"})

    assert app.config["SECRET_KEY"] == "given"
    assert not (instance / "secret_key").exists()
    assert (instance / "encryption_keys").exists()


def test_development_says_that_it_generated_a_secret(instance, caplog):
    create_app()

    assert any("generated SECRET_KEY" in r.getMessage() for r in caplog.records)
    assert any("generated ENCRYPTION_KEYS" in r.getMessage() for r in caplog.records)


def test_development_keeps_throttling_counts_in_memory_and_says_so(instance, caplog):
    app = create_app()

    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert app.config["LOG_FORMAT"] == "text"
    assert any("throttling counts are kept in this process's memory" in r.getMessage() for r in caplog.records)


# -- the database -----------------------------------------------------------------------------


def test_the_default_database_is_a_sqlite_file_in_the_instance_folder(instance):
    app = create_app()

    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'oidc_provider.sqlite'}"


def test_database_url_is_read_under_its_plain_name(instance, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://partner@db.internal/oidc")

    app = create_app()

    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://partner@db.internal/oidc"
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True, "hide_parameters": True}


# -- defaults and their documentation ---------------------------------------------------------


def test_the_lifetimes_have_the_documented_defaults(instance):
    config = create_app().config

    assert config["AUTHORIZATION_CODE_LIFETIME"] == 60
    assert config["ACCESS_TOKEN_LIFETIME"] == 3600
    assert config["ID_TOKEN_LIFETIME"] == 3600
    assert config["PERMANENT_SESSION_LIFETIME"] == config["TENANT_SESSION_LIFETIME"] == 8 * 3600
    assert config["KEY_ACTIVATION_DELAY"] == 24 * 3600
    assert config["ISSUER"] == "http://127.0.0.1:5000"


def test_a_lifetime_comes_from_the_environment_as_a_number(instance, monkeypatch):
    monkeypatch.setenv("OIDC_PROVIDER_AUTHORIZATION_CODE_LIFETIME", "30")

    assert create_app().config["AUTHORIZATION_CODE_LIFETIME"] == 30


def test_every_setting_is_documented():
    text = DOCS.read_text()

    undocumented = [name for name in DEFAULTS if not re.search(rf"\bOIDC_PROVIDER_{name}\b", text)]
    assert undocumented == []
    assert "DATABASE_URL" in text


# -- commands that serve no request ------------------------------------------------------------


def flask_command(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "oidc_provider", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def production_environment(tmp_path) -> dict[str, str]:
    """Production settings without a throttling store, on a SQLite file of the test's own."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OIDC_PROVIDER_")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'provider.sqlite'}",
        OIDC_PROVIDER_MODE="production",
        OIDC_PROVIDER_ISSUER="https://op.partner.example",
        OIDC_PROVIDER_SECRET_KEY="s" * 32,
        OIDC_PROVIDER_ENCRYPTION_KEYS=json.dumps([KEY]),
    )
    return env


def test_commands_that_serve_no_request_run_without_a_throttling_store(production_environment):
    upgrade = flask_command("db", "upgrade", env=production_environment)
    clients = flask_command("clients", "list", "--json", env=production_environment)

    assert upgrade.returncode == 0, upgrade.stderr
    assert clients.returncode == 0, clients.stderr
    assert json.loads(clients.stdout) == []


def test_the_development_server_still_needs_a_throttling_store_in_production(production_environment):
    served = flask_command("run", "--port", "0", env=production_environment)

    assert served.returncode != 0
    assert "OIDC_PROVIDER_RATELIMIT_STORAGE_URI" in served.stderr


# -- every setting checked at start -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PURGE_RETENTION", "7d", "a whole number of seconds, at least 0, e.g. 604800"),
        ("TRUSTED_PROXY_COUNT", "one", "a whole number of proxies, at least 0, e.g. 1"),
        ("ACCESS_TOKEN_LIFETIME", "1h", "a whole number of seconds, at least 1, e.g. 3600"),
        ("AUTHORIZATION_CODE_LIFETIME", "0", "a whole number of seconds, at least 1, e.g. 3600"),
        ("MAX_CONTENT_LENGTH", "-1", "a whole number of bytes, at least 1, e.g. 65536"),
        ("OUTBOX_IN_PROCESS", "yes", "true or false"),
        ("ADMIN_IDLE_TIMEOUT", "true", "a whole number of seconds, at least 1, e.g. 3600"),
        ("MODE", "prod", "development or production"),
        ("LOG_FORMAT", "xml", "json or text"),
        ("SIGN_IN_LIMIT", "ten a minute", 'limits such as "10 per 15 minutes", several joined by ";"'),
        ("WEBHOOK_PREFIX", "hooks", "a path beginning with /, e.g. /servicetitan/webhooks"),
        ("SCOPES_SUPPORTED", "openid", 'a JSON list of scopes, e.g. ["openid", "profile", "email"]'),
        ("ISSUER", "auth.partner.example", "an http or https URL, e.g. https://auth.partner.example"),
    ],
)
def test_a_wrong_setting_stops_the_product_with_one_line_naming_it(instance, monkeypatch, name, value, expected):
    monkeypatch.setenv(f"OIDC_PROVIDER_{name}", value)

    with pytest.raises(SystemExit) as stopped:
        create_app()

    assert str(stopped.value.code) == f"oidc_provider: OIDC_PROVIDER_{name}={value}: expected {expected}"


def test_every_setting_has_a_check_and_the_defaults_pass_it(instance):
    from oidc_provider.core.settings import _CHECKS

    assert set(_CHECKS) == set(DEFAULTS) - {"SECRET_KEY", "ENCRYPTION_KEYS"}  # checked by production's rules
    assert create_app().config["PURGE_RETENTION"] == 7 * 24 * 3600


def test_a_wrong_setting_stops_every_cli_command_with_one_line(instance, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_PROVIDER_")}
    env["OIDC_PROVIDER_PURGE_RETENTION"] = "7d"
    for command in (["purge"], ["admins", "--help"]):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "oidc_provider", *command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            "oidc_provider: OIDC_PROVIDER_PURGE_RETENTION=7d: expected a whole number of seconds, at least 0, e.g. 604800"
        ]
