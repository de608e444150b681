"""Structured logs: one JSON object per line, a request id, and never a secret or a token."""

from __future__ import annotations

import base64
import io
import json
import logging
import re

import pytest

from oidc_provider.web.request_log import JsonFormatter, QueryStringFilter, TextFormatter
from tests.factories import PASSWORD


@pytest.fixture
def log_lines():
    """What the provider writes while the test runs, at every level, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: stream.getvalue()
    root.removeHandler(handler)
    root.setLevel(level)


def request_entries(text: str) -> list[dict]:
    return [entry for entry in map(json.loads, text.splitlines()) if entry["logger"] == "oidc_provider.request"]


def test_every_response_carries_a_new_request_id(web):
    first = web.get("/healthz")
    second = web.get("/healthz")

    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_an_incoming_request_id_is_kept_and_echoed(web, log_lines):
    response = web.get("/healthz", headers={"X-Request-ID": "lb-7f3a.1:2_x"})

    assert response.headers["X-Request-ID"] == "lb-7f3a.1:2_x"
    assert request_entries(log_lines())[-1]["request_id"] == "lb-7f3a.1:2_x"


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 129, 'quote"d', ""])
def test_an_implausible_request_id_is_replaced(web, incoming):
    response = web.get("/healthz", headers={"X-Request-ID": incoming})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_each_request_is_one_json_line_with_what_it_was(web, log_lines):
    response = web.get("/healthz?state=secret-state")

    entries = request_entries(log_lines())
    assert len(entries) == 1
    entry = entries[0]
    assert entry["message"] == "GET /healthz 200"
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert {k: entry[k] for k in ("method", "path", "endpoint", "status", "remote_addr")} == {
        "method": "GET",
        "path": "/healthz",
        "endpoint": "operations.healthz",
        "status": 200,
        "remote_addr": "127.0.0.1",
    }
    assert entry["duration_ms"] >= 0
    assert entry["level"] == "INFO" and entry["time"].endswith("+00:00")
    assert "secret-state" not in log_lines()


def test_a_whole_pairing_logs_no_secret_token_code_or_password(web, make, flows, log_lines):
    make.directory()
    client = make.client(id_token_alg="HS256")
    login = flows.authorize(client, state="state-value-9f2", login_hint="owner@mtech.example", nonce="nonce-value-4e1")
    code = flows.authorization_result(flows.decide(flows.sign_in(login)))["code"]
    tokens = flows.exchange(client, code).json
    flows.exchange(client, code)  # reuse: refused, revokes, writes an audit event
    flows.account_info(tokens["access_token"], request_id="req-log-1")
    flows.sign_in(flows.authorize(client, prompt="login"), password="wrong " + PASSWORD)

    text = log_lines()
    lines = text.splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    paths = [entry["path"] for entry in request_entries(text)]
    assert "/token" in paths and "/account-info" in paths and "/login" in paths and "/authorize" in paths
    never = {
        "client secret": client.client_secret,
        "code": code,
        "access token": tokens["access_token"],
        "base64 access token": base64.b64encode(tokens["access_token"].encode()).decode(),
        "id_token": tokens["id_token"],
        "id_token signature": tokens["id_token"].rsplit(".", 1)[1],
        "password": PASSWORD,
        "state": "state-value-9f2",
        "nonce": "nonce-value-4e1",
        "login_hint": "login_hint",
    }
    assert [name for name, value in never.items() if value in text] == []


def test_text_format_names_the_request_too(clean_app):
    record = logging.LogRecord("oidc_provider", logging.WARNING, __file__, 1, "careful", None, None)

    with clean_app.test_request_context("/"):
        from flask import g

        g.request_id = "abc"
        line = TextFormatter().format(record)

    assert line.endswith("WARNING oidc_provider [abc] careful")


def test_the_query_string_filter_scrubs_any_loggers_message():
    """The filter the server settings install (gunicorn_conf.py; the app's own handler)."""
    record = logging.LogRecord(
        "gunicorn.error", logging.ERROR, __file__, 1, "Error handling request %s", ("/authorize?state=s3cret",), None
    )

    assert QueryStringFilter().filter(record) is True
    assert record.getMessage() == "Error handling request /authorize"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET http://h/a/b?login_hint=a@b.c&x=1 done", None, None)
    QueryStringFilter().filter(record)
    assert record.getMessage() == "GET http://h/a/b done"
