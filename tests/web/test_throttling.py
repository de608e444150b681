"""Sign-in throttling: failures counted per email and address together, a clean 429, audit
events, the same for unknown emails, no lockout of a tenant by a stranger, and counts that
instances share through Redis."""

from __future__ import annotations

import json
import re

import pytest
import redis
from sqlalchemy import select

from oidc_provider.core.extensions import db, limiter
from oidc_provider.core.models import AuditEvent
from tests.conftest import build_app, unavailable
from tests.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of its own: reset() empties it
STRANGER = "203.0.113.9"
TENANT_ADDRESS = "198.51.100.20"


@pytest.fixture
def tenant(make, clean_app, monkeypatch):
    make.directory()
    monkeypatch.setitem(clean_app.config, "SIGN_IN_LIMIT", "3 per 15 minutes")
    monkeypatch.setitem(clean_app.config, "SIGN_IN_ADDRESS_LIMIT", "6 per hour")
    return clean_app


def attempt(web, email="owner@mtech.example", password="not the password", address="127.0.0.1"):
    environ = {"REMOTE_ADDR": address}
    token = _CSRF.search(web.get("/login", environ_overrides=environ).text).group(1)
    return web.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": password},
        environ_overrides=environ,
    )


def events(app, kind: str) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id))
        return [row.detail for row in rows]


def test_failures_beyond_the_limit_get_a_429_page_with_retry_after(tenant, web):
    statuses = [attempt(web).status_code for _ in range(3)]

    throttled = attempt(web, password=PASSWORD)

    assert statuses == [401, 401, 401]
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 15 * 60
    assert throttled.headers["Cache-Control"] == "no-store"
    assert throttled.mimetype == "text/html"
    assert "Too many failed sign-ins" in throttled.text
    # Even the right password does not get through while throttled.
    assert "You are signed in as" not in web.get("/").text


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(tenant, web):
    known = [attempt(web, email="owner@mtech.example") for _ in range(4)]
    unknown = [attempt(web, email="stranger@mtech.example") for _ in range(4)]

    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401, 401, 401, 429]
    assert known[-1].text == unknown[-1].text
    # The same wait, give or take the second that passed between the two runs.
    assert abs(int(known[-1].headers["Retry-After"]) - int(unknown[-1].headers["Retry-After"])) <= 1


def test_the_email_is_counted_as_normalized(tenant, web):
    for email in ("owner@mtech.example", " Owner@MTech.example", "OWNER@MTECH.EXAMPLE "):
        assert attempt(web, email=email).status_code == 401

    assert attempt(web, email="owner@mtech.example", password=PASSWORD).status_code == 429


def test_a_stranger_cannot_lock_the_tenant_out(tenant, clean_app):
    stranger, owner = clean_app.test_client(), clean_app.test_client()
    for _ in range(5):
        attempt(stranger, address=STRANGER)
    assert attempt(stranger, address=STRANGER).status_code == 429

    signed_in = attempt(owner, password=PASSWORD, address=TENANT_ADDRESS)

    assert signed_in.status_code == 302
    home = owner.get("/", environ_overrides={"REMOTE_ADDR": TENANT_ADDRESS})
    assert "You are signed in as owner@mtech.example" in home.text


def test_other_emails_from_the_address_are_counted_apart_up_to_the_address_limit(tenant, web):
    for _ in range(3):
        attempt(web, email="owner@mtech.example")

    others = [attempt(web, email=f"user{n}@mtech.example").status_code for n in range(4)]

    # The address limit (6) counts every failure from the address, whichever email.
    assert others == [401, 401, 401, 429]
    assert attempt(web, email="manager@mtech.example", password=PASSWORD).status_code == 429


def test_successful_sign_ins_are_not_counted(tenant, clean_app):
    for _ in range(5):
        browser = clean_app.test_client()
        assert attempt(browser, password=PASSWORD).status_code == 302


def test_the_sign_in_page_itself_is_never_throttled(tenant, web):
    for _ in range(4):
        attempt(web)

    assert web.get("/login").status_code == 200


def test_failed_and_throttled_sign_ins_are_audited_without_the_password(tenant, web):
    for _ in range(4):
        attempt(web, password="hunter2-secret")

    failed = events(tenant, "sign_in_failed")
    throttled = events(tenant, "sign_in_throttled")
    assert failed == [{"realm": "tenant", "email": "owner@mtech.example", "remote_addr": "127.0.0.1"}] * 3
    assert throttled == [
        {"realm": "tenant", "email": "owner@mtech.example", "limit": "3 per 15 minute", "remote_addr": "127.0.0.1"}
    ]
    assert "hunter2-secret" not in json.dumps(failed + throttled)


def test_something_typed_into_the_email_field_that_is_no_email_is_not_audited(tenant, web):
    attempt(web, email="hunter2-secret")

    assert events(tenant, "sign_in_failed") == [{"realm": "tenant", "email": "", "remote_addr": "127.0.0.1"}]


def test_a_successful_sign_in_is_no_security_event(tenant, web):
    attempt(web, password=PASSWORD)

    assert events(tenant, "sign_in_failed") == events(tenant, "sign_in_throttled") == []


# -- Redis: counts shared between instances -------------------------------------------------------


@pytest.fixture
def redis_url():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")
    return REDIS_URL


def instance(clean_app, tmp_path, name, storage_uri):
    """Another instance over the same database, with its own connection to the store."""
    return build_app(
        clean_app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path / name,
        RATELIMIT_STORAGE_URI=storage_uri,
        SIGN_IN_LIMIT="3 per 15 minutes",
        SIGN_IN_ADDRESS_LIMIT="6 per hour",
    )


def test_instances_share_the_counts_through_redis(tenant, clean_app, tmp_path, redis_url):
    first = instance(clean_app, tmp_path, "first", redis_url)
    limiter.reset()
    for _ in range(3):
        assert attempt(first.test_client()).status_code == 401

    # A second instance: a new connection to Redis, nothing in this process's memory.
    second = instance(clean_app, tmp_path, "second", redis_url)

    assert attempt(second.test_client(), password=PASSWORD).status_code == 429


def test_in_memory_counts_stay_with_their_process(tenant, clean_app, tmp_path):
    first = instance(clean_app, tmp_path, "first", "memory://")
    for _ in range(3):
        assert attempt(first.test_client()).status_code == 401

    second = instance(clean_app, tmp_path, "second", "memory://")

    assert attempt(second.test_client(), password=PASSWORD).status_code == 302


def test_redis_holds_no_email_address(tenant, clean_app, tmp_path, redis_url):
    app = instance(clean_app, tmp_path, "first", redis_url)
    limiter.reset()
    attempt(app.test_client(), email="owner@mtech.example")

    keys = [k.decode() for k in redis.Redis.from_url(redis_url).keys("*")]
    assert keys, "the failure was counted in Redis"
    assert not [k for k in keys if "mtech" in k or "127.0.0.1" in k]


def test_an_unreachable_store_refuses_sign_in_with_a_503_page(tenant, clean_app, tmp_path):
    app = instance(clean_app, tmp_path, "first", "redis://127.0.0.1:1")
    web = app.test_client()

    page = web.get("/login")
    token = _CSRF.search(page.text).group(1)
    refused = web.post("/login", data={"csrf_token": token, "email": "owner@mtech.example", "password": PASSWORD})

    assert page.status_code == 200
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    assert "Signing in is unavailable for a moment" in refused.text
    assert "You are signed in as" not in web.get("/").text
