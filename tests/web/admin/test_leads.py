"""The leads report in the console: charts drawn as SVG from the report, the table per
account and profile, the CSV export; and in Chromium, photographed for docs/."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.e2e.test_admin_console import admin_page, make, sign_in  # noqa: F401 - fixtures (provider is in conftest)
from tests.servicetitan.test_leads_report import scenario
from tests.servicetitan.test_webhooks import add_booking

DOCS_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "images" / "admin" / "leads-report-desktop.png"


@pytest.fixture
def reported(clean_app):
    scenario(clean_app)


def test_the_report_page_shows_the_funnel_and_the_table(console, reported):
    page = console.get("/admin/leads")
    assert page.status_code == 200
    text = page.text
    assert text.count('class="bar"') == 5 + 1 + 2  # funnel stages, one decline reason, two days
    assert "<title>sent: 4</title>" in text and "<title>Declined by CSR: 1</title>" in text
    assert "<title>2023-11-15: $400.1</title>" in text
    assert "Total: <strong>$500.05</strong>" in text
    assert "Median <strong>2100 s</strong>, longest 3600 s, over 2 accepted bookings." in text
    assert '<a href="/admin/leads" aria-current="page">Leads</a>' in text


def test_an_empty_report_page(console, clean_app):
    text = console.get("/admin/leads").text
    assert "No bookings sent yet." in text and "No booking accepted yet." in text


def test_the_csv_export(console, reported):
    response = console.get("/admin/leads/report.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="leads-report.csv"'
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [
        [
            "accountId",
            "profileId",
            "sent",
            "accepted",
            "declined",
            "scheduled",
            "invoiced",
            "medianAcceptanceSeconds",
            "revenue",
        ],
        ["acct-hvac", "p-north", "2", "1", "1", "1", "1", "600", "400.1"],
        ["acct-hvac", "p-south", "1", "1", "0", "0", "1", "3600", "99.95"],
        ["acct-plumbing", "p-main", "1", "0", "0", "0", "0", "", "0"],
    ]


def test_the_report_needs_an_admin(web, reported):
    assert web.get("/admin/leads").status_code == 302
    assert web.get("/admin/leads/report.csv").status_code == 302


def test_the_report_in_chromium(postgres_app, provider, admin_page):  # noqa: F811 - fixtures
    scenario(postgres_app)
    page = admin_page
    sign_in(page, provider)
    page.get_by_role("link", name="Leads").click()
    page.get_by_role("heading", name="Leads report").wait_for()
    assert page.locator("svg.bars rect.bar").count() == 8
    widths = page.locator("#h-funnel ~ figure rect.bar").evaluate_all("bars => bars.map(b => b.getBBox().width)")
    assert widths[0] == 100 and widths[1] == 50  # sent 4, accepted 2
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == "leads-report.csv"
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=DOCS_SCREENSHOT, full_page=True)
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.console_errors == []


def test_the_report_page_and_csv_are_of_one_environment(console, reported, clean_app):
    add_booking(clean_app, "live-1", environment="production")
    sandbox = console.get("/admin/leads").text
    production = console.get("/admin/leads?environment=production").text
    assert "<title>sent: 4</title>" in sandbox and "sandbox environment" in sandbox
    assert "<title>sent: 1</title>" in production and "production environment" in production
    assert '<option value="production" selected>' in production
    assert 'href="/admin/leads/report.csv?environment=production"' in production
    rows = list(csv.reader(io.StringIO(console.get("/admin/leads/report.csv?environment=production").text)))
    assert [row[:3] for row in rows[1:]] == [["acct-hvac", "p-north", "1"]]
    assert "<title>sent: 4</title>" in console.get("/admin/leads?environment=moon").text  # the default one
