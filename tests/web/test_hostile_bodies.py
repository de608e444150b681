"""Hostile bodies over real HTTP, to every webhook receiver and every back-channel endpoint
that reads a body: JSON nested 500, 5,000 and 100,000 levels deep, numbers that overflow,
every content type, and bodies at the size limit and one byte either side, with and
without Content-Length. None gets a 5xx, and no webhook delivery is left unjudged.

Each endpoint gets every body in one test, so that the whole stays within a minute."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import WebhookDelivery
from oidc_provider.servicetitan import webhooks
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from tests.conftest import LiveServer

KEY = "hostile-bodies-key"
PREFIX = "/servicetitan/webhooks"


def nested_object(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


def nested_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


JSON = "application/json"
HOSTILE_JSON = [
    *((nested(depth), JSON) for depth in (500, 5_000, 100_000) for nested in (nested_object, nested_array)),
    (b'{"total": 1e999999}', JSON),
    (b'[{"price": -1e400, "quantity": 1' + b"0" * 400 + b"}]", JSON),
    (b'{"eventData": {"totalPrice": 1' + b"0" * 400 + b"}}", JSON),
]
CONTENT_TYPES = [
    (b"a=1&b=%00&c=%FF", "application/x-www-form-urlencoded"),
    (
        b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n\x00\xff\r\n--B--\r\n',
        "multipart/form-data; boundary=B",
    ),
    (b"--B\r\nbroken", "multipart/form-data; boundary=B"),
    (b"<x/>", "application/xml"),
    (b"\xff\xfe{}", "text/plain; charset=utf-16"),
    (bytes(range(256)), "application/octet-stream"),
    (b'{"a": 1}', ""),
]


def at_the_limit(limit: int) -> list[tuple[bytes, int]]:
    """JSON bodies of ``limit`` - 1, ``limit`` and ``limit`` + 1 bytes, and how big each is."""
    sizes = (limit - 1, limit, limit + 1)
    return [(json.dumps({"pad": "x" * (size - 11)}).encode(), size) for size in sizes]


def in_chunks(raw: bytes):
    for start in range(0, len(raw), 64 * 1024):
        yield raw[start : start + 64 * 1024]


@pytest.fixture(scope="module")
def server(app):
    with LiveServer(app) as live:
        yield live.url


def every_body(
    session: requests.Session, url: str, headers: dict, limit: int
) -> list[tuple[str, int, requests.Response]]:
    """Each hostile body sent to ``url``: (what it was, its size, the answer)."""
    answers = []
    for raw, content_type in HOSTILE_JSON + CONTENT_TYPES:
        answer = session.post(url, data=raw, headers={**headers, "Content-Type": content_type}, timeout=30)
        answers.append((f"{content_type} {raw[:30]!r}", len(raw), answer))
    for raw, size in at_the_limit(limit):
        for chunked in (False, True):
            answer = session.post(url, data=in_chunks(raw) if chunked else raw, headers=headers, timeout=30)
            assert ("Content-Length" in answer.request.headers) is not chunked
            answers.append((f"{size} bytes{' chunked' if chunked else ''}", size, answer))
    return answers


@pytest.mark.parametrize("topic", webhooks.TOPICS)
def test_every_webhook_receiver_judges_every_hostile_body(clean_app, server, topic):
    with clean_app.app_context():
        paste(KEY, "test")
    with requests.Session() as session:
        answers = every_body(
            session, f"{server}{PREFIX}/{topic}", {"X-STLeads-Token": KEY}, clean_app.config["WEBHOOK_MAX_BYTES"]
        )

    for sent, size, answer in answers:
        assert answer.status_code < 500, (sent, answer.status_code, answer.text)
        if size > clean_app.config["WEBHOOK_MAX_BYTES"]:
            assert answer.status_code == 413, sent
        else:
            assert answer.status_code in (200, 400), (sent, answer.text)
            assert answer.json()["state"] != "received", (sent, answer.json())
    stored = [answer for _, size, answer in answers if size <= clean_app.config["WEBHOOK_MAX_BYTES"]]
    with clean_app.app_context():
        states = dict(db.session.execute(select(WebhookDelivery.id, WebhookDelivery.state)).all())
        assert db.session.scalar(select(func.count()).where(WebhookDelivery.state == "received")) == 0
    assert sorted(states) == sorted(answer.json()["deliveryId"] for answer in stored)
    # Nested too deep, or a number that overflows: invalid, with the reason, on every topic.
    for sent, _, answer in answers[: len(HOSTILE_JSON) - 1]:
        assert answer.json()["state"] == "invalid" and answer.json()["problems"], sent


@pytest.mark.parametrize(
    "method, path",
    [("POST", "/token"), ("POST", "/userinfo"), ("GET", "/userinfo"), ("GET", "/account-info"), ("POST", "/login")],
)
def test_every_endpoint_that_reads_a_body_answers_hostile_bodies_without_a_5xx(clean_app, server, method, path):
    with requests.Session() as session:
        session.headers["Authorization"] = "Bearer bm90LWEtdG9rZW4="
        if method == "POST":
            answers = every_body(session, server + path, {}, clean_app.config["MAX_CONTENT_LENGTH"])
        else:
            answers = [
                ("a body on a GET", len(raw), session.request(method, server + path, data=raw, timeout=30))
                for raw, _ in HOSTILE_JSON
            ]

    # Refused, with the endpoint's own error: none of these is a valid request.
    for sent, _, answer in answers:
        assert 400 <= answer.status_code < 500, (sent, answer.status_code, answer.text[:300])
