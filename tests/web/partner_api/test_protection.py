"""Who may call /api/v1: a partner API client's token with the scope, within its rate limit."""

from __future__ import annotations

import pytest

from oidc_provider.core.extensions import limiter
from oidc_provider.oidc.api_clients import find_api_client, revoke_api_client
from tests.web.partner_api.conftest import api_token, assert_problem, bearer


def test_a_token_with_the_scope_is_let_in(web, token):
    response = web.get("/api/v1/leads/report", headers=bearer(token))
    assert response.status_code == 200
    assert response.json["total"]["funnel"]["sent"] == 0


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "bearer\tx"]
)
def test_no_usable_token_is_401_invalid_token(web, clean_app, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = web.get("/api/v1/leads/report", headers=headers)
    body = assert_problem(response, 401, "Authorization")
    assert body["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="http://localhost", error="invalid_token"')


def test_a_tenants_access_token_and_id_token_are_refused(web, make, flows, api_client):
    make.directory()
    servicetitan = make.client()
    tokens = flows.tokens(servicetitan)
    for presented in (tokens["access_token"], tokens["id_token"]):
        assert_problem(web.get("/api/v1/leads/report", headers=bearer(presented)), 401, "Authorization")


def test_a_token_without_the_scope_is_403_insufficient_scope(web, api_client):
    token = api_token(web, *api_client, scope="bookings:read")
    response = web.get("/api/v1/leads/report", headers=bearer(token))
    body = assert_problem(response, 403, "Authorization")
    assert body["error"] == "insufficient_scope"
    assert 'error="insufficient_scope", scope="leads:read"' in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_refused(web, clean_app, api_client, frozen_clock):
    token = api_token(web, *api_client)
    frozen_clock.advance(clean_app.config["ACCESS_TOKEN_LIFETIME"])
    assert_problem(web.get("/api/v1/leads/report", headers=bearer(token)), 401, "Authorization")


def test_revoking_the_client_ends_its_tokens(web, clean_app, api_client, token):
    with clean_app.app_context():
        revoke_api_client(find_api_client(api_client[0]))
    assert_problem(web.get("/api/v1/leads/report", headers=bearer(token)), 401, "Authorization")


@pytest.fixture
def two_a_minute(clean_app):
    limiter.init_app(clean_app)  # this app's memory store, fresh
    clean_app.config["API_RATE_LIMIT"] = "2/minute"
    yield
    clean_app.config["API_RATE_LIMIT"] = "600/minute"


def test_each_client_has_its_own_rate_limit(web, make, two_a_minute, api_client, token):
    for _ in range(2):
        assert web.get("/api/v1/leads/report", headers=bearer(token)).status_code == 200
    response = web.get("/api/v1/leads/report", headers=bearer(token))
    assert_problem(response, 429, "")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    other = api_token(web, *make.api_client("leads:read", name="Other"))
    assert web.get("/api/v1/leads/report", headers=bearer(other)).status_code == 200


def test_unknown_paths_and_methods_under_the_api_are_problems(web, token):
    assert_problem(web.get("/api/v1/nothing-here", headers=bearer(token)), 404, "")
    response = web.delete("/api/v1/leads/report", headers=bearer(token))
    assert_problem(response, 405, "")
    assert "GET" in response.headers["Allow"]


def test_a_refused_query_parameter_is_422_with_where(web, token):
    assert_problem(web.get("/api/v1/leads/report?environment=moon", headers=bearer(token)), 422, "environment")


def test_availability_lists_items(web, token):
    response = web.get("/api/v1/availability", headers=bearer(token))
    assert response.status_code == 200
    assert response.json == {"items": [], "next": None}
