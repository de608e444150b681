"""ServiceTitan floods the receiver: 1,000 deliveries, 50 in flight, on each database (SQLite
in WAL mode with a busy timeout, and PostgreSQL). Every answer is 200 and exactly 1,000
rows are kept. The speed itself is measured by bench/webhooks.py, not here."""

from __future__ import annotations

from sqlalchemy import func, select

from bench.webhooks import KEY, bodies, flood, seed
from oidc_provider.core.extensions import db
from oidc_provider.core.models import LeadStatusUpdate, WebhookDelivery
from tests.conftest import LiveServer

DELIVERIES = 1000
IN_FLIGHT = 50


def test_a_thousand_deliveries_fifty_in_flight(clean_app):
    seed(clean_app, DELIVERIES)
    with LiveServer(clean_app) as server:
        statuses, _ = flood(server.url + "/servicetitan/webhooks", KEY, bodies(DELIVERIES), IN_FLIGHT)
    assert statuses == [200] * DELIVERIES
    with clean_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == DELIVERIES
        assert db.session.scalar(select(func.count()).select_from(LeadStatusUpdate)) == DELIVERIES
        assert set(db.session.scalars(select(WebhookDelivery.state))) == {"stored"}
