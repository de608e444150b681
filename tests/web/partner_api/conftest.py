"""A partner API client with a token, for the /api/v1 tests."""

from __future__ import annotations

import pytest

from tests.flows import basic


def api_token(web, client_id: str, secret: str, scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = web.post("/token", data=form, headers={"Authorization": basic(client_id, secret)})
    assert response.status_code == 200, response.json
    return response.json["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_client(make):
    return make.api_client("bookings:write bookings:read bookings:personal leads:read")


@pytest.fixture
def token(web, api_client) -> str:
    return api_token(web, *api_client)


def assert_problem(response, status: int, where: str) -> dict:
    """A problem+json answer with ``status`` and a problem at ``where``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert where in [problem["where"] for problem in body["problems"]], body
    return body
