"""The leads report: what became of the leads sent to ServiceTitan, from its webhooks.

Charts are SVG drawn by the template from numbers computed here: no chart library and no
script, so the console's Content-Security-Policy stays as strict as it is. The report is
of one ServiceTitan environment (``?environment=``, by default the default one): sandbox
test leads never count in production's numbers.
"""

from __future__ import annotations

import io

from flask import Blueprint, Response, render_template

from oidc_provider.core import csv_cells
from oidc_provider.servicetitan import leads_report
from oidc_provider.servicetitan.environments import ENVIRONMENTS, default_environment
from oidc_provider.web.admin import listings

bp = Blueprint("leads", __name__)

CSV_COLUMNS = ("accountId", "profileId", *leads_report.FUNNEL, "medianAcceptanceSeconds", "revenue")


def _environment() -> str:
    """The environment asked for; the default one for none or an unknown name."""
    filters, _ = listings.query_filters(("environment",))
    return filters["environment"] if filters["environment"] in ENVIRONMENTS else default_environment()


@bp.get("/leads")
def index():
    data = leads_report.report(_environment())
    total = data["total"]
    return render_template(
        "admin/leads.html",
        report=data,
        environment_options=[(name, name.capitalize()) for name in ENVIRONMENTS],
        funnel=_bars(total["funnel"]),
        reasons=_bars(total["declineReasons"]),
        revenue=_bars({day: float(amount) for day, amount in total["revenueByDay"].items()}, total["revenueByDay"]),
    )


@bp.get("/leads/report.csv")
def export():
    data = leads_report.report(_environment())
    out = io.StringIO()
    writer = csv_cells.Writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in data["byProfile"]:
        writer.writerow(
            [
                row["accountId"],
                row["profileId"],
                *(row["funnel"][stage] for stage in leads_report.FUNNEL),
                row["acceptanceSeconds"]["median"] if row["acceptanceSeconds"]["median"] is not None else "",
                row["revenue"],
            ]
        )
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="leads-report.csv"'
    return response


def _bars(values: dict, labels: dict | None = None) -> list[dict]:
    """Each value with its share of the largest, in percent, for a bar's length."""
    largest = max(values.values(), default=0) or 1
    return [
        {"label": key, "value": (labels or values)[key], "percent": round(100 * value / largest, 1)}
        for key, value in values.items()
    ]
