"""The back channel's OpenAPI document, and the running server fuzzed against it.

Schemathesis generates requests from the document — valid ones and deliberately invalid
ones, without credentials and with real ones — sends them over HTTP to the provider on a
loopback port (PostgreSQL, the stricter database), and checks every answer: never a 5xx,
only declared statuses, content types, headers and bodies. The examples are derandomized
(the "repeatable" Hypothesis profile in conftest), so every run sends the same requests.
"""

from __future__ import annotations

import base64
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import LiveServer, _empty_tables
from tests.factories import Factories
from tests.flows import Flows, basic

#: Requests per operation, per generation mode and per kind of credentials.
EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BACK_CHANNEL = {
    "/.well-known/openid-configuration": {"get"},
    "/jwks.json": {"get"},
    "/token": {"post"},
    "/userinfo": {"get", "post"},
    "/account-info": {"get"},
}
PARTNER_API = {
    "/api/v1/bookings": {"get", "post"},
    "/api/v1/bookings/{partnerBookingId}": {"get"},
    "/api/v1/leads/report": {"get"},
    "/api/v1/availability": {"get"},
    "/api/v1/events": {"get"},
    "/api/v1/pairings": {"get"},
    "/api/v1/pairings/{id}/unpair": {"post"},
}


def test_the_document_is_served_and_names_every_back_channel_endpoint(web, clean_app):
    response = web.get("/openapi.json")

    assert response.status_code == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": clean_app.config["ISSUER"]}]
    for path, methods in {**BACK_CHANNEL, **PARTNER_API}.items():
        assert set(document["paths"][path]) == methods, path
        rule = path.replace("{partnerBookingId}", "<partner_booking_id>").replace("{id}", "<int:pairing_id>")
        served = {m.lower() for r in clean_app.url_map.iter_rules() if r.rule == rule for m in r.methods}
        assert methods <= served, path


def test_every_operation_declares_its_statuses_with_a_body_schema(web):
    document = web.get("/openapi.json").json

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "200" in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                # The partner API's errors are problem+json (RFC 9457).
                media_type = "application/problem+json" if path.startswith("/api/") and status >= "400" else None
                assert response["content"][media_type or "application/json"]["schema"], (method, path, status)


@pytest.fixture
def credentials(postgres_app):
    """A paired access token and the client that got it, and a partner API client's token
    with every scope of the API, out of reach of its rate limit."""
    _empty_tables(postgres_app)
    make = Factories(postgres_app)
    make.directory()
    client = make.client()
    web = postgres_app.test_client()
    tokens = Flows(web).tokens(client)
    api_client = make.api_client(
        "bookings:write bookings:read bookings:personal leads:read events:read pairings:read pairings:write"
    )
    api_token = web.post(
        "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic(*api_client)}
    ).json["access_token"]
    postgres_app.config["API_RATE_LIMIT"] = "100000/minute"
    yield client, tokens["access_token"], api_token
    postgres_app.config["API_RATE_LIMIT"] = "600/minute"


def test_the_live_server_answers_as_its_document_says(postgres_app, credentials):
    client, access_token, api_token = credentials
    valid_auth = {
        "/token": basic(client.client_id, client.client_secret),
        "/userinfo": f"Bearer {access_token}",
        "/account-info": "Bearer " + base64.b64encode(access_token.encode()).decode(),
        **dict.fromkeys(PARTNER_API, f"Bearer {api_token}"),
    }
    answered: Counter = Counter()
    with LiveServer(postgres_app) as server, requests.Session() as session:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= set(BACK_CHANNEL) | set(PARTNER_API)
        for operation in operations:
            # An operation that takes no input has no invalid input to send.
            takes_input = {"parameters", "requestBody"} & set(operation.definition.raw)
            modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes_input else (GenerationMode.POSITIVE,)
            for mode in modes:
                for authorization in (None, valid_auth.get(operation.path)):
                    _fuzz(operation, mode, server.url, session, authorization, answered)

    statuses = {op: sorted({status for (label, status), n in answered.items() if label == op}) for op, _ in answered}
    # Every operation was really exercised, with real credentials reaching past authentication.
    assert sum(n for (label, _), n in answered.items() if label == "POST /token") >= 3 * EXAMPLES
    assert 200 in statuses["GET /account-info"] and 200 in statuses["GET /userinfo"], statuses
    assert 400 in statuses["POST /token"] and 401 in statuses["POST /token"], statuses
    # The partner API was reached with the token: content refused as content, not as a caller.
    assert 422 in statuses["POST /api/v1/bookings"] and 200 in statuses["GET /api/v1/bookings"], statuses
    assert 200 in statuses["GET /api/v1/leads/report"] and 404 in statuses["GET /api/v1/bookings/{partnerBookingId}"]
    assert 200 in statuses["GET /api/v1/events"] and 422 in statuses["GET /api/v1/events"], statuses
    assert 200 in statuses["GET /api/v1/pairings"] and 422 in statuses["GET /api/v1/pairings"], statuses
    assert 404 in statuses["POST /api/v1/pairings/{id}/unpair"], statuses


def _fuzz(operation, mode, base_url, session, authorization, answered: Counter):
    @settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        headers = {"Authorization": authorization} if authorization else None
        response = case.call(base_url=base_url, session=session, headers=headers)
        answered[(f"{operation.method.upper()} {operation.path}", response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
