"""The admin console as a test sees it: a Flask test client signed in as a partner admin.

The session is written directly (no argon2 per test); ``tests/web/admin/test_auth.py`` tests the
real sign-in. Every POST carries the page's CSRF token unless a test says otherwise.
"""

from __future__ import annotations

import re

from oidc_provider.core import clock
from tests.factories import Factories

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page_text: str) -> str:
    return CSRF.search(page_text).group(1)


class Console:
    def __init__(self, app, email: str = "admin@partner.example"):
        self.app = app
        self.email = email
        self.admin_id = Factories(app).admin(email)
        self.web = app.test_client()
        sign_in_as(self.web, f"admin:{self.admin_id}")
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = csrf_token(self.get("/admin/").text)
        return self._token

    def get(self, path: str, **kwargs):
        return self.web.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kwargs):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        return self.web.post(path, data=data, **kwargs)


def sign_in_as(web, session_user_id: str) -> None:
    """Put a Flask-Login session in the test client's cookie: "admin:<id>" or "tenant:<id>"."""
    from oidc_provider.web.sessions import SEEN_KEY, STARTED_KEY, VERSION_KEY

    with web.session_transaction() as session:
        session["_user_id"] = session_user_id
        session["_fresh"] = True
        session[VERSION_KEY] = 0
        session[STARTED_KEY] = session[SEEN_KEY] = clock.now().timestamp()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def seed_world(app, retirable_key: bool = False) -> dict:
    """One of everything the console edits: the standard directory, a client, a PROCESSING
    pairing, job types, two webhook keys, a partner API client and, when asked, a signing key old enough to retire.
    Answers the ids a test needs."""
    from datetime import timedelta

    from sqlalchemy import select

    from oidc_provider.core.extensions import db
    from oidc_provider.core.models import Client, JobType, Pairing, TenantUser
    from oidc_provider.oidc.keys import create_key
    from oidc_provider.servicetitan.catalog.job_types import import_csv
    from oidc_provider.servicetitan.catalog.webhook_keys import generate

    factories = Factories(app)
    factories.directory()
    client = factories.client(name="ServiceTitan", async_pairing=True)
    with app.app_context():
        now = clock.now()
        client_pk = db.session.scalar(select(Client.id).where(Client.client_id == client.client_id))
        owner = db.session.scalar(select(TenantUser).where(TenantUser.email == "owner@mtech.example"))
        pairing = Pairing(
            environment="sandbox",
            client_pk=client_pk,
            user_id=owner.id,
            account_id="acct-hvac",
            request_id="req-world",
            status="PROCESSING",
            created_at=now,
            updated_at=now,
        )
        manager = db.session.scalar(select(TenantUser).where(TenantUser.email == "manager@mtech.example"))
        custom_pairing = Pairing(
            mechanism="custom",
            environment="sandbox",
            user_id=manager.id,
            account_id="acct-plumbing",
            request_id="req-world-custom",
            status="COMPLETED",
            created_at=now,
            updated_at=now,
        )
        db.session.add_all([pairing, custom_pairing])
        db.session.commit()
        import_csv("Category,Partner Job Type Key\nHVAC,hvac-repair\nHVAC,hvac-install\nElectrical,\n", "test")
        older, _ = generate("test", "sandbox")  # the environment of the world's client
        generate("test", "sandbox")
        from oidc_provider.core.models import Admin, Booking, WebhookDelivery
        from oidc_provider.servicetitan import outbox
        from oidc_provider.servicetitan.validation import check_booking

        other = Admin(email="other@partner.example", password_hash="x", session_version=0)
        disabled = Admin(email="disabled@partner.example", password_hash="x", session_version=0, disabled_at=now)
        db.session.add_all([other, disabled])
        message = outbox.enqueue_booking("sandbox", check_booking(sample_booking("world-booking-1")))
        message.state = outbox.FAILED
        booking = Booking(
            partner_booking_id="world-booking-1",
            environment="sandbox",
            account_id="acct-hvac",
            profile_id="p-north",
            service_id="hvac-repair",
            message=message,
        )
        delivery = WebhookDelivery(topic="accounts", headers={}, body=b"not json", state="not_json", problems=["x"])
        db.session.add_all([booking, delivery])
        db.session.commit()
        from oidc_provider.oidc.api_clients import create_api_client

        api_client, _ = create_api_client("Booking platform", "bookings:write", "test")
        kid = None
        if retirable_key:
            old = create_key("RS256", now - timedelta(days=30))
            db.session.commit()
            kid = old.kid
        return {
            "client_id": client.client_id,
            "client": client,
            "user_id": owner.id,
            "pairing_id": pairing.id,
            "custom_pairing_id": custom_pairing.id,
            "job_type_id": db.session.scalar(select(JobType.id).where(JobType.partner_key == "hvac-repair")),
            "older_webhook_key_id": older.id,
            "kid": kid,
            "admin_id": other.id,
            "disabled_admin_id": disabled.id,
            "message_id": message.id,
            "booking_id": booking.id,
            "delivery_id": delivery.id,
            "api_client_id": api_client.client_id,
        }


def sample_booking(partner_booking_id: str, token: str | None = None, **overrides) -> dict:
    """A valid booking for the standard directory and the job type hvac-repair."""
    return {
        "idempotencyToken": token or f"tok-{partner_booking_id}",
        "partnerBookingId": partner_booking_id,
        "slot": {"accountId": "acct-hvac", "profileId": "p-north", "serviceId": "hvac-repair", **overrides},
        "userInformation": {
            "givenName": "Jane",
            "familyName": "Customer",
            "telephone": "+15550100",
            "email": "jane@customer.example",
            "address": {"streetAddress": "1 Main St"},
        },
        "description": "The furnace makes a noise",
    }
