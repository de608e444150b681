"""One environment at a time: the Environment column and filter of the bookings and outbox
lists, and the console-wide choice that becomes every list's default filter, shown in every
page's header, with an explicit ``?environment=`` still winning."""

from __future__ import annotations

import re

import pytest

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Booking, OutboxMessage
from oidc_provider.servicetitan import webhooks


def add_booking(app, partner_booking_id: str, environment: str) -> None:
    """A queued booking sent to ``environment``: in the bookings list and in the outbox."""
    with app.app_context():
        message = OutboxMessage(
            kind="booking",
            environment=environment,
            ordering_key=partner_booking_id,
            payload={"partnerBookingId": partner_booking_id},
        )
        db.session.add(message)
        db.session.flush()
        db.session.add(
            Booking(
                partner_booking_id=partner_booking_id,
                environment=environment,
                account_id="acct-hvac",
                profile_id="p-north",
                service_id="hvac-repair",
                message_id=message.id,
            )
        )
        db.session.commit()


@pytest.fixture
def both(clean_app):
    """A booking and a flagged webhook delivery in each environment."""
    add_booking(clean_app, "bk-sandbox", "sandbox")
    add_booking(clean_app, "bk-production", "production")
    with clean_app.app_context():
        for environment in ("sandbox", "production"):
            webhooks.receive("accounts", {}, f"not json from {environment}".encode(), environment)


def listed(console, path: str) -> list[str]:
    """The environments of a list page's rows, in order."""
    return re.findall(r'<td data-label="Environment">(\w+)</td>', console.get(path).text)


def filter_choice(console, path: str) -> str:
    """The environment a list page's own filter shows as chosen ("" for none)."""
    form = console.get(path).text.split('id="filter-environment"', 1)[1].split("</select>", 1)[0]
    chosen = re.search(r'<option value="(\w*)" selected>', form)
    return chosen.group(1) if chosen else ""


def choose(console, environment: str, next_path: str = "/admin/"):
    return console.post("/admin/environment", {"environment": environment, "next": next_path})


LISTS = ("/admin/bookings", "/admin/outbox", "/admin/webhooks")


@pytest.mark.parametrize("path", LISTS)
def test_each_list_shows_and_filters_the_environment(console, both, path):
    assert sorted(listed(console, path)) == ["Production", "Sandbox"]
    assert listed(console, f"{path}?environment=sandbox") == ["Sandbox"]
    assert listed(console, f"{path}?environment=production") == ["Production"]
    assert sorted(listed(console, f"{path}?environment=any")) == ["Production", "Sandbox"]
    assert sorted(listed(console, f"{path}?environment=moon")) == ["Production", "Sandbox"]  # not an error
    assert filter_choice(console, f"{path}?environment=sandbox") == "sandbox"


def test_the_bookings_filter_keeps_its_other_filters(console, both):
    def bookings(query: str) -> list[str]:
        return re.findall(r"<code>(bk-\w+)</code>", console.get(f"/admin/bookings?{query}").text)

    assert bookings("environment=sandbox&q=bk-production") == []
    assert bookings("environment=production&q=bk-production") == ["bk-production"]
    assert bookings("environment=sandbox&state=pending") == ["bk-sandbox"]


def test_the_console_wide_choice_is_every_lists_default_and_a_query_wins(console, both):
    assert "Showing all environments" in console.get("/admin/").text
    assert choose(console, "sandbox").status_code == 302
    for path in LISTS:
        assert listed(console, path) == ["Sandbox"], path
        assert listed(console, f"{path}?environment=production") == ["Production"], path
        assert sorted(listed(console, f"{path}?environment=any")) == ["Production", "Sandbox"], path
    for path in (*LISTS, "/admin/pairings"):
        assert filter_choice(console, path) == "sandbox", path
        assert filter_choice(console, f"{path}?environment=any") == "any", path
    assert "Showing sandbox only" in console.get("/admin/keys").text
    assert 'aria-label="1 queued booking messages"' in console.get("/admin/outbox").text  # its summary too
    assert 'aria-label="2 queued booking messages"' in console.get("/admin/outbox?environment=any").text
    # What needs attention is of both environments, and its links say so.
    assert '<a href="/admin/webhooks?environment=any">2 flagged webhook deliveries</a>' in console.get("/admin/").text
    assert 'href="/admin/leads/report.csv?environment=sandbox"' in console.get("/admin/leads").text

    choose(console, "production")
    assert listed(console, "/admin/bookings") == ["Production"]
    choose(console, "")
    assert sorted(listed(console, "/admin/bookings")) == ["Production", "Sandbox"]
    assert "Showing all environments" in console.get("/admin/bookings").text


def test_the_choice_goes_back_to_its_page_without_the_environment_it_asked_for(console):
    back = choose(console, "sandbox", "/admin/bookings?state=failed&environment=production&page=3")
    assert back.headers["Location"] == "/admin/bookings?state=failed"
    for elsewhere in ("https://evil.example/admin", "//evil.example/admin", "/oauth/authorize"):
        assert choose(console, "production", elsewhere).headers["Location"] == "/admin/"
    choose(console, "moon")  # an unknown environment is all of them
    assert "Showing all environments" in console.get("/admin/").text


def test_the_choice_needs_its_csrf_token(console, both):
    for refused in ({}, {"csrf_token": "forged"}):
        response = console.post("/admin/environment", {"environment": "sandbox", **refused}, csrf=False)
        assert response.status_code == 400
    assert sorted(listed(console, "/admin/bookings")) == ["Production", "Sandbox"]
