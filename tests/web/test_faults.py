"""Faults: the database going away mid-request, no signing key, clocks that disagree.

Each fault is answered cleanly (503 with Retry-After: JSON on the back channel, a page for
the browser), loses nothing (the code of a failed exchange still works afterwards), and is
recovered from without a restart.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import psycopg
import pytest
from cryptography.fernet import Fernet
from flask import current_app, has_app_context
from sqlalchemy import event, select, update

import oidc_provider.core.clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, SigningKey, TenantUser
from oidc_provider.oidc.keys import key_ring
from tests.conftest import POSTGRES_ADMIN_URL, build_app, unavailable
from tests.console import sign_in_as
from tests.factories import PASSWORD, Factories
from tests.flows import Flows, base64_bearer, hidden_fields

_CSRF = r'name="csrf_token" value="([^"]+)"'


# -- the database goes away ----------------------------------------------------------------------


@pytest.fixture
def outage(tmp_path):
    """An app on a PostgreSQL database of its own, and ``outage.arm()``: the next SQL
    statement any request sends finds every connection to that database terminated."""
    name = f"oidc_outage_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    app = build_app(url, tmp_path / "instance")
    armed, down = [], []

    def terminate_everything(*_):
        if armed or down:
            armed.clear()
            # Waits (up to 5 s) until each backend has really gone.
            admin.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", terminate_everything)
    app.arm = lambda: armed.append(True)
    # A database that stays away: every statement finds its connection terminated.
    app.go_down = lambda: down.append(True)
    app.come_back = down.clear
    yield app
    event.remove(engine, "before_cursor_execute", terminate_everything)
    with app.app_context():
        db.engine.dispose()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.text
    assert response.mimetype == "application/json"
    assert response.json["error"] == "temporarily_unavailable"
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_database_going_away_is_a_503_and_the_next_request_recovers(outage):
    make, web = Factories(outage), outage.test_client()
    make.directory()
    client = make.client()
    flows = Flows(web)
    code = flows.code(client)

    outage.arm()
    failed = flows.exchange(client, code)

    assert_unavailable_json(failed)
    assert make.count(AccessToken) == 0
    # No restart: the pool hands out a new connection, and the code was not used up.
    exchanged = flows.exchange(client, code)
    assert exchanged.status_code == 200, exchanged.json
    token = exchanged.json["access_token"]

    outage.arm()
    assert_unavailable_json(flows.account_info(token))
    assert flows.account_info(token).status_code == 200


def test_the_database_going_away_during_sign_in_is_a_503_page(outage):
    make, web = Factories(outage), outage.test_client()
    make.directory()
    token = re.search(_CSRF, web.get("/login").text).group(1)

    outage.arm()
    failed = web.post("/login", data={"csrf_token": token, "email": "owner@mtech.example", "password": PASSWORD})

    assert failed.status_code == 503
    assert failed.mimetype == "text/html"
    assert failed.headers["Retry-After"] == "30"
    assert "unavailable for a moment" in failed.text
    signed_in = web.post("/login", data={"csrf_token": token, "email": "owner@mtech.example", "password": PASSWORD})
    assert signed_in.status_code == 302


def _pages(app) -> list[str]:
    """Every page a browser may ask for: each GET route that answers HTML, with any
    variable part filled in."""
    # The Partner API answers problem+json, and asks for its bearer token before any query.
    json_paths = ("/.well-known/", "/jwks.json", "/openapi.json", "/userinfo", "/account-info", "/healthz", "/api/")
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.rule.startswith(json_paths):
            continue
        pages.append(rule.rule.replace("<int:", "<").split("<")[0] + ("1" if "<" in rule.rule else ""))
    return sorted(set(pages) - {"/metrics", "/readyz"})


@pytest.mark.parametrize("who", ["tenant", "admin", "nobody"])
def test_during_an_outage_every_page_answers_the_503_page_signed_in_or_not(outage, who):
    """The 503 page itself must not load the signed-in user from the database that failed."""
    make, web = Factories(outage), outage.test_client()
    make.directory()
    if who == "tenant":
        with outage.app_context():
            user_id = db.session.scalar(select(TenantUser.id).where(TenantUser.email == "owner@mtech.example"))
        sign_in_as(web, f"tenant:{user_id}")
    elif who == "admin":
        sign_in_as(web, f"admin:{make.admin()}")
    pages = _pages(outage)
    assert {"/", "/login", "/admin/", "/st/pair"} <= set(pages)

    outage.go_down()
    try:
        answers = {page: web.get(page) for page in pages}
        not_found = web.get("/no-such-page")
    finally:
        outage.come_back()

    # An error page needs no database either, signed in or not.
    assert not_found.status_code == 404

    for page, response in answers.items():
        if who == "nobody" and response.status_code < 500:
            continue  # a page that needs no database for a stranger
        assert response.status_code == 503, (page, response.status_code)
        assert response.mimetype == "text/html", page
        assert response.headers["Retry-After"] == "30", page
        assert "unavailable for a moment" in response.text, page
    assert web.get("/").status_code == 200


# -- no signing key -------------------------------------------------------------------------------


def set_activation(app, alg: str, when) -> None:
    with app.app_context():
        db.session.execute(update(SigningKey).where(SigningKey.alg == alg).values(activates_at=when))
        db.session.commit()
        key_ring().invalidate()


def test_no_active_signing_key_is_a_503_at_the_token_endpoint_not_a_500(fresh_signing_keys, make, flows):
    make.directory()
    rs256, hs256 = make.client(), make.client(id_token_alg="HS256")
    code, hs256_code = flows.code(rs256), flows.code(hs256)
    now = oidc_provider.core.clock.now()
    set_activation(fresh_signing_keys, "RS256", now + timedelta(days=1))  # every RS256 key not yet active

    refused = flows.exchange(rs256, code)

    assert_unavailable_json(refused)
    assert make.count(AccessToken) == 0
    # A client signed with its own secret is not affected.
    assert flows.exchange(hs256, hs256_code).status_code == 200
    # Once a key signs again, the same code is exchanged: the failed attempt used nothing up.
    set_activation(fresh_signing_keys, "RS256", now - timedelta(days=1))
    assert flows.exchange(rs256, code).status_code == 200


# -- clocks that disagree between instances --------------------------------------------------------

SKEW = 5  # seconds each instance is off, in opposite directions


@pytest.fixture
def instances(clean_app, tmp_path, frozen_clock, monkeypatch):
    """Two instances over one database: ``ahead`` runs SKEW seconds fast, ``behind`` SKEW
    seconds slow, around the frozen clock."""
    behind = build_app(clean_app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "behind")

    def skewed_now():
        if has_app_context() and current_app._get_current_object() is behind:
            return frozen_clock.current - timedelta(seconds=SKEW)
        return frozen_clock.current + timedelta(seconds=SKEW)

    monkeypatch.setattr(oidc_provider.core.clock, "now", skewed_now)
    return clean_app, behind


class Browser:
    """One browser whose requests a load balancer sends to either instance."""

    def __init__(self, *apps):
        self.clients = [app.test_client() for app in apps]
        self.cookie = None

    def on(self, index: int):
        client = self.clients[index]
        if self.cookie is not None:
            client.set_cookie("session", self.cookie)
        return _Remembering(self, client)


class _Remembering:
    def __init__(self, browser: Browser, client):
        self.browser, self.client = browser, client

    def __getattr__(self, method):
        def call(*args, **kwargs):
            response = getattr(self.client, method)(*args, **kwargs)
            cookie = self.client.get_cookie("session")
            self.browser.cookie = cookie.value if cookie else None
            return response

        return call


def pair_across(instances, make, **params) -> str:
    """Authorize on the fast instance, sign in and consent on the slow one: the code."""
    ahead, behind = instances
    browser = Browser(ahead, behind)
    client = params.pop("client")
    to_login = Flows(browser.on(0)).authorize(client, **params)
    assert to_login.status_code == 302 and "/login" in to_login.headers["Location"]
    login_page = browser.on(1).get(to_login.headers["Location"])
    signed_in = browser.on(1).post(
        "/login",
        data={
            "csrf_token": re.search(_CSRF, login_page.text).group(1),
            "pending": re.search(r'name="pending" value="([^"]*)"', login_page.text).group(1),
            "email": "owner@mtech.example",
            "password": PASSWORD,
        },
    )
    consent = browser.on(0).get(signed_in.headers["Location"])
    assert consent.status_code == 200 and "Allow" in consent.text, "the sign-in was asked for again"
    decided = browser.on(1).post(
        "/authorize/decision",
        data={
            "csrf_token": re.search(_CSRF, consent.text).group(1),
            "pending": re.search(r'name="pending" value="([^"]*)"', consent.text).group(1),
            "decision": "allow",
            "account_id": "acct-hvac",
        },
    )
    return hidden_fields(decided.text)["code"]


@pytest.mark.parametrize("params", [{"prompt": "login"}, {"max_age": "0"}], ids=["prompt-login", "max_age-0"])
def test_a_sign_in_on_a_slow_instance_satisfies_a_request_that_arrived_on_a_fast_one(instances, make, params):
    """The request arrived at the fast instance's "later" than the sign-in the slow one
    recorded; the sign-in it asked for must still count, or the tenant loops forever."""
    make.directory()
    client = make.client()

    code = pair_across(instances, make, client=client, **params)

    assert Flows(instances[1].test_client()).exchange(client, code).status_code == 200


def test_codes_and_tokens_of_one_instance_work_on_the_other_within_their_lifetimes(instances, make, frozen_clock):
    ahead, behind = instances
    make.directory()
    client = make.client()
    code = pair_across(instances, make, client=client)  # issued by the slow instance

    # The slow instance dated the code SKEW seconds early; it works until then on the fast one.
    frozen_clock.advance(ahead.config["AUTHORIZATION_CODE_LIFETIME"] - 2 * SKEW - 1)
    exchanged = Flows(ahead.test_client()).exchange(client, code)
    assert exchanged.status_code == 200
    token = exchanged.json["access_token"]

    # Issued by the fast instance, presented to the slow one: valid for its whole lifetime.
    frozen_clock.advance(ahead.config["ACCESS_TOKEN_LIFETIME"] - 1)
    assert Flows(behind.test_client()).account_info(token).status_code == 200
    userinfo = behind.test_client().get("/userinfo", headers={"Authorization": base64_bearer(token)})
    assert userinfo.status_code == 200
    frozen_clock.advance(2 * SKEW + 1)
    assert Flows(behind.test_client()).account_info(token).status_code == 401


def test_a_signing_key_the_encryption_keys_cannot_open_is_a_503_not_a_500(fresh_signing_keys, make, flows):
    """An encryption key taken out of the setting before `flask keys reencrypt` ran."""
    make.directory()
    client = make.client()
    code = flows.code(client)
    with fresh_signing_keys.app_context():
        rows = db.session.scalars(select(SigningKey)).all()
        kept = {row.kid: row.private_jwk_encrypted for row in rows}
        other_key = Fernet(Fernet.generate_key())
        for row in rows:
            row.private_jwk_encrypted = other_key.encrypt(b"{}").decode()
        db.session.commit()
        key_ring().invalidate()

    refused = flows.exchange(client, code)
    jwks = flows.web.get("/jwks.json")
    readiness = flows.web.get("/readyz")

    assert_unavailable_json(refused)
    assert_unavailable_json(jwks)
    assert make.count(AccessToken) == 0
    # The load balancer takes the instance out, and the operator reads why.
    assert readiness.status_code == 503
    assert "cannot be decrypted with OIDC_PROVIDER_ENCRYPTION_KEYS" in readiness.json["checks"]["signing_keys"]
    with fresh_signing_keys.app_context():
        for row in db.session.scalars(select(SigningKey)):
            row.private_jwk_encrypted = kept[row.kid]
        db.session.commit()
        key_ring().invalidate()
    assert flows.exchange(client, code).status_code == 200
