"""Discovery and JWKS repeated from prebuilt bytes (web/prebuilt.py): the same answer as
Flask's, headers included, with its own request id, log line and metrics, and never a key
set that the key ring no longer publishes."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.oidc.keys import create_key, rotate
from tests.oidc.test_keys import monotonic  # noqa: F401  (fixture)
from tests.web.test_request_log import log_lines, request_entries  # noqa: F401  (fixture)

DOCUMENTS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks.json"]


def served(path: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "oidc_provider_http_requests_total", {"endpoint": path, "method": "GET", "status": "200"}
        )
        or 0.0
    )


@pytest.mark.parametrize("path", DOCUMENTS)
def test_a_repeated_answer_is_flasks_own_with_a_new_request_id(clean_app, web, path, log_lines):  # noqa: F811
    built = web.get(path)
    assert path in clean_app.wsgi_app._answers  # kept: the next one is repeated
    built_entry = request_entries(log_lines())[-1]
    before = served(path)
    repeated = web.get(path, headers={"X-Request-ID": "lb-1"})

    assert repeated.status_code == 200
    assert repeated.data == built.data
    assert dict(repeated.headers) == {**dict(built.headers), "X-Request-ID": "lb-1"}
    assert repeated.headers["Cache-Control"] == "public, max-age=300"
    assert repeated.headers["ETag"]
    assert "Content-Security-Policy" in repeated.headers
    assert "Set-Cookie" not in repeated.headers
    assert served(path) == before + 1
    entry = request_entries(log_lines())[-1]
    assert entry.keys() == built_entry.keys()
    assert (entry["path"], entry["status"], entry["request_id"]) == (path, 200, "lb-1")
    assert entry["endpoint"] == ("discovery.jwks" if path == "/jwks.json" else "discovery.openid_configuration")


@pytest.mark.parametrize("path", DOCUMENTS)
def test_a_client_with_the_current_version_gets_304(web, path):
    etag = web.get(path).headers["ETag"]

    again = web.get(path, headers={"If-None-Match": etag})
    changed = web.get(path, headers={"If-None-Match": '"other"'})

    assert again.status_code == 304
    assert again.data == b""
    assert changed.status_code == 200


def test_a_rotation_is_published_at_once(fresh_signing_keys, web):
    before = {key["kid"] for key in web.get("/jwks.json").json["keys"]}
    web.get("/jwks.json")
    with fresh_signing_keys.app_context():
        new = {row.kid for row in rotate()}

    after = {key["kid"] for key in web.get("/jwks.json").json["keys"]}

    assert after == before | new


def test_a_key_made_by_another_instance_is_published_within_the_refresh_interval(
    fresh_signing_keys,
    frozen_clock,
    web,
    monotonic,  # noqa: F811
):
    app = fresh_signing_keys
    first = web.get("/jwks.json")
    with app.app_context():
        row = create_key("RS256", clock.now())  # behind this worker's key ring, as elsewhere
        db.session.commit()
        kid = row.kid

    monotonic.value += app.config["KEY_REFRESH_INTERVAL"] - 0.001
    assert web.get("/jwks.json").data == first.data
    monotonic.value += 0.001
    assert kid in {key["kid"] for key in web.get("/jwks.json").json["keys"]}


def test_a_moved_issuer_is_published_at_once(clean_app, web, monkeypatch):
    web.get("/.well-known/openid-configuration")
    monkeypatch.setitem(clean_app.config, "ISSUER", "https://moved.example")

    assert web.get("/.well-known/openid-configuration").json["issuer"] == "https://moved.example"


def test_a_query_string_and_head_still_reach_flask(web):
    web.get("/jwks.json")

    assert web.get("/jwks.json?x=%00").status_code == 400  # the NUL check sees it
    assert web.head("/jwks.json").status_code == 200
