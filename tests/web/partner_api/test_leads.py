"""GET /api/v1/leads/report and GET /api/v1/availability: one ServiceTitan environment at a
time, the default one unless ``environment`` names the other."""

from __future__ import annotations

import json

from oidc_provider.core.extensions import db
from oidc_provider.servicetitan import webhooks
from tests.servicetitan.test_leads_report import scenario
from tests.servicetitan.test_webhooks import add_booking
from tests.web.partner_api.conftest import assert_problem, bearer


def test_the_report_is_of_one_environment(web, token, clean_app):
    scenario(clean_app)  # the sandbox's
    add_booking(clean_app, "live-1", environment="production")

    default = web.get("/api/v1/leads/report", headers=bearer(token)).json
    production = web.get("/api/v1/leads/report?environment=production", headers=bearer(token)).json

    assert default["environment"] == "sandbox" and default["total"]["funnel"]["sent"] == 4
    assert production["environment"] == "production"
    assert production["total"]["funnel"]["sent"] == 1 and production["total"]["revenue"] == "0"


def test_availability_is_of_one_environment(web, token, clean_app):
    with clean_app.app_context():
        for environment, slots in (("production", [1]), ("sandbox", [2])):
            item = {"accountId": "acct-hvac", "profileId": "p-north", "serviceId": "s1", "slots": slots}
            webhooks.receive("availabilities", {}, json.dumps(item).encode(), environment)
        db.session.commit()

    for query, environment, slots in (("", "sandbox", [2]), ("?environment=production", "production", [1])):
        items = web.get(f"/api/v1/availability{query}", headers=bearer(token)).json["items"]
        assert [(i["environment"], i["payload"]["slots"]) for i in items] == [(environment, slots)]
    assert_problem(web.get("/api/v1/availability?environment=moon", headers=bearer(token)), 422, "environment")
