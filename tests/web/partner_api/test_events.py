"""GET /api/v1/events: the feed, resumed from the last id, refused with where and why; the
CLI's `events list --json` is the same object."""

from __future__ import annotations

import json

import pytest

from oidc_provider.core.extensions import db
from oidc_provider.servicetitan import events
from tests.web.partner_api.conftest import api_token, assert_problem, bearer


@pytest.fixture
def reader(web, make) -> str:
    return api_token(web, *make.api_client("events:read", name="Event reader"))


def record(app, count: int) -> list[str]:
    with app.app_context():
        ids = [events.record("booking.delivered", {"partnerBookingId": f"booking-{n}"})["id"] for n in range(count)]
        db.session.commit()
        return ids


def test_the_feed_pages_in_id_order_and_resumes_from_the_last_id(web, clean_app, reader):
    ids = record(clean_app, 5)
    first = web.get("/api/v1/events", query_string={"limit": 2}, headers=bearer(reader))
    assert first.status_code == 200
    assert [item["id"] for item in first.json["items"]] == ids[:2] and first.json["next"] == ids[1]
    item = first.json["items"][0]
    assert set(item) == {"id", "type", "occurredAt", "data"}
    assert (item["type"], item["data"]) == ("booking.delivered", {"partnerBookingId": "booking-0"})

    rest = web.get("/api/v1/events", query_string={"after": ids[1]}, headers=bearer(reader))
    assert [item["id"] for item in rest.json["items"]] == ids[2:] and rest.json["next"] is None
    caught_up = web.get("/api/v1/events", query_string={"after": ids[-1]}, headers=bearer(reader))
    assert caught_up.json == {"items": [], "next": None}


def test_the_cli_lists_the_same_objects(web, clean_app, reader, runner):
    ids = record(clean_app, 3)
    api = web.get("/api/v1/events", query_string={"after": ids[0], "limit": 1}, headers=bearer(reader)).json
    result = runner.invoke(args=["events", "list", "--after", ids[0], "--limit", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == api
    text = runner.invoke(args=["events", "list"])
    assert text.exit_code == 0 and "booking.delivered" in text.output


@pytest.mark.parametrize(
    ("query", "where"),
    [({"after": "-1"}, "after"), ({"after": "x"}, "after"), ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit")],
)
def test_bad_parameters_are_refused_with_where(web, reader, query, where):
    assert_problem(web.get("/api/v1/events", query_string=query, headers=bearer(reader)), 422, where)


def test_a_token_without_events_read_is_refused(web, token):
    body = assert_problem(web.get("/api/v1/events", headers=bearer(token)), 403, "Authorization")
    assert body["error"] == "insufficient_scope"
