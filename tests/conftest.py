"""Fixtures: an app per database, a Flask test client, a controlled clock, live servers.

Protocol and model tests run on SQLite and on PostgreSQL (the ``app`` fixture is
parametrized); browser and multi-process tests ask for ``postgres_app`` and run once. With
``CI=true`` a missing PostgreSQL or Chromium fails the run instead of skipping.
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import hypothesis
import psycopg
import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask_migrate import upgrade
from werkzeug.serving import make_server

import oidc_provider.core.clock
from oidc_provider import create_app
from oidc_provider.core.extensions import db, limiter
from oidc_provider.core.models import SigningKey
from oidc_provider.oidc.keys import ASYMMETRIC_ALGS, create_key, key_ring
from oidc_provider.servicetitan.catalog import webhook_keys
from tests.factories import Factories
from tests.flows import Flows

IN_CI = os.environ.get("CI") == "true"

# Property tests and the schemathesis run are repeatable: the same examples on every run and
# machine (derandomized), nothing remembered between runs, no deadline a slow CI could miss.
hypothesis.settings.register_profile("repeatable", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis.settings.load_profile("repeatable")
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ENCRYPTION_KEY = Fernet.generate_key().decode()


# What a test needs decides its markers, so that no test has to remember them: a browser
# makes it "browser", PostgreSQL "postgres", and the end-to-end folder (gunicorn, several
# instances, benchmarks, Chromium) "slow". The quick command leaves out all three.
_MARKED_BY_FIXTURE = {
    "browser": "browser",
    "page": "browser",
    "postgres_app": "postgres",
    "postgres_database_url": "postgres",
}
_E2E = os.path.join(os.path.dirname(__file__), "e2e")


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture in set(item.fixturenames) & _MARKED_BY_FIXTURE.keys():
            item.add_marker(_MARKED_BY_FIXTURE[fixture])
        if str(item.path).startswith(_E2E):
            item.add_marker("slow")


def unavailable(reason: str):
    """Skip on a laptop without the service; fail in CI, where it must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_database_url():
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"oidc_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_app(database_url: str, instance_path, **overrides):
    settings = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "ISSUER": "http://localhost",
        "SECRET_KEY": "test-secret-key",
        "ENCRYPTION_KEYS": [ENCRYPTION_KEY],
        # Long enough that a key rotated in one test never activates in another.
        "KEY_ACTIVATION_DELAY": 3600,
        # No sweeper thread judging behind a test's back; tests sweep by hand.
        "WEBHOOK_SWEEP_INTERVAL": 0,
        **overrides,
    }
    app = create_app(settings)
    app.instance_path = str(instance_path)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    seed_signing_keys(app)
    return app


def seed_signing_keys(application) -> None:
    """Signing keys active since yesterday, unless there are keys already. Left to the key
    ring, the first keys would be made by whichever test signs first, at that test's time:
    a frozen clock moved forward would leave later tests with no active key, and one that
    starts a moment before the real clock would not find keys made a moment ago active."""
    with application.app_context():
        if db.session.scalar(db.select(SigningKey.kid).limit(1)) is None:
            yesterday = datetime.now(UTC) - timedelta(days=1)
            for alg in ASYMMETRIC_ALGS:
                create_key(alg, yesterday)
            db.session.commit()
        key_ring().invalidate()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request, tmp_path_factory):
    """The application on each database in turn."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("sqlite")
        url = f"sqlite:///{folder / 'test.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_database_url")
    return build_app(url, tmp_path_factory.mktemp("instance"))


@pytest.fixture(scope="session")
def postgres_app(postgres_database_url, tmp_path_factory):
    """The application on PostgreSQL only, for browser and multi-process tests."""
    return build_app(postgres_database_url, tmp_path_factory.mktemp("instance"))


def _empty_tables(application) -> None:
    """Every row but the signing keys (generating RSA keys for each test costs seconds)."""
    with application.app_context():
        for table in reversed(db.metadata.sorted_tables):
            if table.name != "signing_keys":
                db.session.execute(table.delete())
        db.session.commit()
        key_ring().invalidate()
        webhook_keys.forget_values()


_MEMORY_COUNTS = Flask("sign-in-counts")
_MEMORY_COUNTS.config["RATELIMIT_STORAGE_URI"] = "memory://"


@pytest.fixture(autouse=True)
def fresh_sign_in_counts():
    """Every test starts with no failed sign-in counted, in memory. Flask-Limiter keeps its
    storage on the one ``limiter`` of the process, set by the app bound last, so counts (and
    a Redis chosen by one test) would otherwise reach the tests that follow."""
    limiter.init_app(_MEMORY_COUNTS)


@pytest.fixture
def clean_app(app):
    """The app with empty tables. Tests push an app context only around their own
    database work: a request must get a fresh context (and ``g``), as in production."""
    _empty_tables(app)
    return app


@pytest.fixture
def fresh_signing_keys(clean_app):
    """Only freshly seeded signing keys, before and after the test: keys that a test rotates
    in at its frozen time, or retires, must not reach the tests that follow."""

    def reset():
        with clean_app.app_context():
            db.session.execute(SigningKey.__table__.delete())
            db.session.commit()
        seed_signing_keys(clean_app)

    reset()
    yield clean_app
    reset()


@pytest.fixture
def web(clean_app):
    """A Flask test client: a browser without JavaScript."""
    return clean_app.test_client()


@pytest.fixture
def runner(clean_app):
    return clean_app.test_cli_runner()


@pytest.fixture
def make(clean_app) -> Factories:
    return Factories(clean_app)


@pytest.fixture
def flows(web) -> Flows:
    return Flows(web)


@pytest.fixture
def console(clean_app):
    """A test client signed in to the admin console (tests/console.py)."""
    from tests.console import Console

    return Console(clean_app)


class FrozenClock:
    """The product's clock, held still and moved by hand."""

    def __init__(self, start: datetime):
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def frozen_clock(monkeypatch) -> FrozenClock:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(oidc_provider.core.clock, "now", clock.now)
    return clock


class LiveServer:
    """A WSGI app served by a real HTTP server on a loopback port, in a thread."""

    def __init__(self, wsgi_app):
        self._server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def provider(postgres_app):
    """The provider (PostgreSQL) on a real loopback socket; its issuer is the URL that
    browsers and relying parties use. Modules that need other settings override it."""
    previous_issuer = postgres_app.config["ISSUER"]
    with LiveServer(postgres_app) as server:
        postgres_app.config["ISSUER"] = server.url
        yield server
    postgres_app.config["ISSUER"] = previous_issuer


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = "/usr/bin/chromium"
    if not os.path.exists(path):
        unavailable("Debian's chromium is not installed at /usr/bin/chromium")
    return path


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


class RunningSandbox:
    """The ServiceTitan sandbox on a loopback port: ``url``, ``state`` (what it knows, the
    requests it applied, injected faults) and its ``app``."""

    def __init__(self, app, url: str):
        self.app = app
        self.url = url
        self.state = app.extensions["st_sandbox"]["state"]


@pytest.fixture(scope="session")
def st_sandbox_server():
    from st_sandbox import create_app as create_sandbox

    sandbox_app = create_sandbox({})
    with LiveServer(sandbox_app) as server:
        yield sandbox_app, server.url


@pytest.fixture
def st_sandbox(st_sandbox_server):
    """The sandbox serving /connect/token and the Leads API with its default credentials
    (``ST_SANDBOX_API_CLIENT_ID`` / ``_SECRET``), knowing nothing yet: one server for the
    session (stopping a server costs half a second), a fresh state for each test."""
    from st_sandbox.state import SandboxState

    sandbox_app, url = st_sandbox_server
    previous = sandbox_app.extensions["st_sandbox"]["state"]
    sandbox_app.extensions["st_sandbox"]["state"] = SandboxState(previous.client_id, previous.client_secret)
    return RunningSandbox(sandbox_app, url)


@pytest.fixture(scope="session")
def new_postgres_database():
    """Makes a fresh, empty PostgreSQL database on each call and answers its URL; all are
    dropped at the end of the session. For tests that own a whole database: migrations,
    several server instances."""
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    names = []

    def create(purpose: str) -> str:
        name = f"oidc_{purpose}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"

    yield create
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def no_app_context_left_open(request):
    """A test that leaves an app context pushed makes Flask's CLI, in any later test, run on
    that app's database: fail the test that leaked it, not the one it misleads."""
    from flask import has_app_context

    yield
    assert not has_app_context(), f"{request.node.nodeid} left an app context pushed"
