"""The outbox: calls to ServiceTitan (and events forwarded to the partner) that are queued,
whose outcome is unknown, or that failed; resend and discard, each asked first.

Resending a booking gives it a new idempotency token, as ServiceTitan requires; the rules
are ``servicetitan.outbox``'s, the same as ``flask outbox resend|discard``.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import OutboxMessage
from oidc_provider.servicetitan import outbox
from oidc_provider.web.admin import confirmation, forms, listings
from oidc_provider.web.admin.auth import actor

bp = Blueprint("outbox", __name__)

VIEWS = {"queued": "Queued", "unknown": "Outcome unknown", "failed": "Failed"}
FILTERS = ("view", "kind", "environment")


def subject(message: OutboxMessage) -> str:
    """What a message is about, in words, without a booking's personal data."""
    payload = message.payload
    if message.kind == outbox.ACCOUNT_STATUS:
        return f"{payload.get('status')} for request {payload.get('requestId')}"
    if message.kind == outbox.BOOKING:
        return f"booking {payload.get('partnerBookingId')}"
    return f"event {payload.get('id')} ({payload.get('type')})"


def view_of(message: OutboxMessage) -> str:
    if message.state == outbox.PENDING:
        return "unknown" if message.outcome_unknown else "queued"
    return message.state


@bp.app_context_processor
def _outbox_words() -> dict:
    return {
        "outbox_subject": subject,
        "outbox_view": view_of,
        "outbox_kinds": listings.OUTBOX_KINDS,
        "outbox_views": VIEWS,
    }


@bp.get("/outbox")
def index(error: str | None = None, status: int = 200):
    filters, _ = listings.query_filters(FILTERS)  # no dates among them
    body = render_template(
        "admin/outbox.html",
        page=listings.page_of(listings.outbox_messages(**filters), count=False),
        counts=listings.outbox_counts(filters["environment"]),
        filters=filters,
        filters_set={k: v for k, v in filters.items() if v},
        view_options=[("", "Needs attention (all three)")] + list(VIEWS.items()),
        kind_options=[("", "Any")] + list(listings.OUTBOX_KINDS.items()),
        environment_options=listings.ENVIRONMENT_OPTIONS,
        now=clock.now(),
        error=error,
    )
    return body, status


def resend_or_discard(message: OutboxMessage, action: str, back: str, refused):
    """Ask first, then resend or discard ``message`` and go ``back``; ``refused(text)``
    answers a conflict (a message already delivered, say)."""
    what = subject(message)
    if not confirmation.confirmed():
        if action == "resend":
            token = " with a new idempotency token, as ServiceTitan requires" if message.kind == outbox.BOOKING else ""
            return confirmation.ask(
                f"Resend message #{message.id}?",
                f"The {what} is sent again{token}, at once and then with the usual retries.",
                "Resend",
                back,
            )
        return confirmation.ask(
            f"Discard message #{message.id}?",
            f"The {what} is never sent. Later messages of the same pairing go out after it. "
            "This cannot be undone: to send it again, make it anew.",
            "Discard message",
            back,
        )
    try:
        (outbox.resend if action == "resend" else outbox.discard)(message, actor())
    except outbox.OutboxConflict as conflict:
        db.session.rollback()
        return refused(str(conflict))
    return redirect(back)


@bp.post("/outbox/<int:message_id>/resend")
def resend(message_id):
    return _act(message_id, "resend")


@bp.post("/outbox/<int:message_id>/discard")
def discard(message_id):
    return _act(message_id, "discard")


def _act(message_id: int, action: str):
    message = forms.found(db.session.get(OutboxMessage, message_id))
    back = url_for(".index", **_kept_filters())
    return resend_or_discard(message, action, back, lambda text: index(error=text, status=409))


def _kept_filters() -> dict:
    return {name: request.args[name] for name in FILTERS if request.args.get(name)}
