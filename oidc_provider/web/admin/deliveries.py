"""Webhook deliveries kept for an admin: the invalid, the unreadable and those about a
booking we do not know, each with the problems found and its raw body; "judge again" once
the cause is fixed (the booking now exists, say)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from oidc_provider.core.extensions import db
from oidc_provider.core.models import WebhookDelivery
from oidc_provider.servicetitan import webhooks
from oidc_provider.web.admin import forms, listings
from oidc_provider.web.admin.auth import actor

bp = Blueprint("deliveries", __name__)

FILTERS = ("state", "topic", "environment")

STATE_NAMES = {
    "invalid": "Invalid",
    "not_json": "Not JSON",
    "unknown_booking": "Unknown booking",
}


@bp.get("/webhooks")
def index():
    filters, _ = listings.query_filters(FILTERS)  # no dates among them
    body = render_template(
        "admin/deliveries.html",
        page=listings.page_of(listings.flagged_deliveries(**filters), count=False),
        filters=filters,
        filters_set={k: v for k, v in filters.items() if v},
        state_options=[("", "Any flagged")] + list(STATE_NAMES.items()),
        topic_options=[("", "Any")] + [(topic, topic) for topic in webhooks.TOPICS],
        environment_options=listings.ENVIRONMENT_OPTIONS,
        state_names=STATE_NAMES,
    )
    return body


@bp.get("/webhooks/<int:delivery_id>")
def show(delivery_id, error: str | None = None, status: int = 200):
    delivery = forms.found(db.session.get(WebhookDelivery, delivery_id))
    body = render_template(
        "admin/delivery.html",
        delivery=delivery,
        # Whatever bytes came, shown as text the page escapes: never markup, never lost.
        raw=delivery.body.decode("utf-8", errors="backslashreplace"),
        state_names=STATE_NAMES,
        flagged=delivery.state in webhooks.FLAGGED,
        error=error,
        judged=request.args.get("judged") == "1",
    )
    return body, status


@bp.post("/webhooks/<int:delivery_id>/judge")
def judge(delivery_id):
    delivery = forms.found(db.session.get(WebhookDelivery, delivery_id))
    try:
        webhooks.judge_again(delivery, actor())
    except webhooks.NotFlagged as refusal:
        return show(delivery_id, error=str(refusal), status=409)
    return redirect(url_for(".show", delivery_id=delivery_id, judged=1))
