"""Webhooks from ServiceTitan: keep first, judge after.

ServiceTitan does not retry a failed delivery ("HTTP failures retry mechanism will be
supported in the later stages"), so an authenticated body is committed raw before it is
parsed; one that does not validate stays, flagged for an admin. Lead status updates are
validated against the document's examples, not its table (which calls decimals, strings
and lists "integer"), and recorded once per ``statusUpdateId``: the unique constraint
decides between two copies arriving at once on two workers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AvailabilitySnapshot, Booking, LeadStatusUpdate, WebhookDelivery
from oidc_provider.servicetitan import forwarding

#: ``{prefix}/leads/<event>`` and the status its body must carry.
LEAD_EVENTS = {
    "accepted": "Accepted",
    "declined": "Declined",
    "appointment_scheduled": "AppointmentScheduled",
    "invoiced": "Invoiced",
}
#: The undocumented pushes, kept as received.
PLAIN_TOPICS = ("accounts", "profiles", "services", "availabilities")
TOPICS = PLAIN_TOPICS + tuple(f"leads/{event}" for event in LEAD_EVENTS)

_EVENT_FIELDS = {
    "Accepted": ("acceptedTimestamp",),
    "Declined": ("declineTimestamp",),
    "AppointmentScheduled": ("scheduledStartTimestamp",),
    "Invoiced": ("invoicedTimestamp",),
}
_ID_FIELDS = ("partnerBookingId", "accountId", "profileId", "statusUpdateId", "status")
_ID_MAX = 200
UNSTORABLE = "a value holds a NUL character or a lone surrogate"


class NotJson(ValueError):
    """The body is not JSON at all."""


@dataclass
class Outcome:
    """What became of one delivery; every outcome is stored."""

    delivery: WebhookDelivery
    status: int = 200
    problems: list[str] = field(default_factory=list)


def parse_body(body: bytes) -> Any:
    """The JSON document in ``body``; ``NotJson`` when it is not JSON (or not UTF-8)."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise NotJson(str(error)) from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def lead_update_problems(document: Any, expected_status: str) -> list[str]:
    """What is wrong with a lead status update body; empty when it is valid."""
    if not isinstance(document, dict):
        return ["the body must be a JSON object"]
    problems = []
    for name in _ID_FIELDS:
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} must be a non-empty string")
        elif len(value) > _ID_MAX:
            problems.append(f"{name} must be at most {_ID_MAX} characters")
    if document.get("status") not in (None, expected_status) and isinstance(document.get("status"), str):
        problems.append(f"status must be {expected_status} on this path")
    if not _is_timestamp(document.get("timestamp")):
        problems.append("timestamp must be Unix seconds")
    data = document.get("eventData")
    if not isinstance(data, dict):
        return problems + ["eventData must be an object"]
    for name in _EVENT_FIELDS[expected_status] + ("leadDeliveredTimestamp",):
        if not _is_timestamp(data.get(name)):
            problems.append(f"eventData.{name} must be Unix seconds")
    if expected_status == "Declined" and not isinstance(data.get("declineReason"), str):
        problems.append("eventData.declineReason must be a string")
    if expected_status == "Invoiced":
        problems += _invoice_problems(data)
    if _unstorable(document):
        problems.append(UNSTORABLE)
    return problems


def _invoice_problems(data: dict) -> list[str]:
    problems = []
    if not _is_number(data.get("totalPrice")):
        problems.append("eventData.totalPrice must be a number")
    skus = data.get("skus")
    if not isinstance(skus, list):
        return problems + ["eventData.skus must be a list"]
    for index, sku in enumerate(skus):
        where = f"eventData.skus[{index}]"
        if not isinstance(sku, dict):
            problems.append(f"{where} must be an object")
            continue
        for name in ("name", "code"):
            if not isinstance(sku.get(name), str):
                problems.append(f"{where}.{name} must be a string")
        for name in ("price", "quantity"):
            if not _is_number(sku.get(name)):
                problems.append(f"{where}.{name} must be a number")
        for name in ("serialNumber", "model"):  # equipment only
            if name in sku and not isinstance(sku[name], str):
                problems.append(f"{where}.{name} must be a string")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_timestamp(value: Any) -> bool:
    # Integer seconds; 1.0 too (the examples write decimals elsewhere). Bounded so that it
    # fits the column and a datetime.
    return _is_number(value) and float(value).is_integer() and 0 <= value < 2**31


def _unstorable(value: Any) -> bool:
    """Whether a parsed document holds text no database column takes: NUL (PostgreSQL) or a
    lone surrogate such as "\\ud800" (not UTF-8 at all). The raw bytes keep it anyway."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def receive(topic: str, headers: dict, body: bytes) -> Outcome:
    """Store ``body`` raw and committed, then judge it."""
    delivery = WebhookDelivery(
        topic=topic, received_at=clock.now(), headers=headers, body=body, state="received", problems=[]
    )
    db.session.add(delivery)
    db.session.commit()
    return _judge(delivery)


#: What an admin may judge again once its cause is fixed (a duplicate stays one).
FLAGGED = ("invalid", "not_json", "unknown_booking")


class NotFlagged(Exception):
    """Only a flagged delivery is judged again."""


def judge_again(delivery: WebhookDelivery, actor: str) -> Outcome:
    """Judge a flagged delivery again from its stored body, e.g. once the booking it names
    exists: an update about an unknown booking is joined to it, and a body that a newer rule
    accepts is recorded as if it had just arrived."""
    if delivery.state not in FLAGGED:
        raise NotFlagged(f"delivery {delivery.id} is {delivery.state}: only a flagged delivery is judged again")
    before = delivery.state
    record_event("webhook_judged_again", actor, {"delivery_id": delivery.id, "state": before})
    db.session.commit()  # kept whatever the judgement does with its own transaction
    if before == "unknown_booking":
        update = db.session.scalars(select(LeadStatusUpdate).where(LeadStatusUpdate.delivery_id == delivery.id)).one()
        update.booking_id = db.session.scalars(
            select(Booking.id).where(Booking.partner_booking_id == update.partner_booking_id)
        ).first()
        if update.booking_id is not None:
            delivery.state, delivery.problems = "stored", []
        db.session.commit()
        return Outcome(delivery, 200, list(delivery.problems))
    return _judge(delivery)


def _judge(delivery: WebhookDelivery) -> Outcome:
    topic, body = delivery.topic, delivery.body
    try:
        document = parse_body(body)
    except NotJson as error:
        return _flag(delivery, "not_json", [f"the body is not JSON: {error}"], 400)
    if topic.startswith("leads/"):
        return _record_lead_update(delivery, document, LEAD_EVENTS[topic.removeprefix("leads/")])
    if _unstorable(document):
        return _flag(delivery, "invalid", [UNSTORABLE])
    if topic == "availabilities":
        for item in document if isinstance(document, list) else [document]:
            db.session.add(
                AvailabilitySnapshot(
                    delivery_id=delivery.id, received_at=delivery.received_at, payload=item, **_availability_keys(item)
                )
            )
    delivery.state = "stored"
    forwarding.enqueue(delivery, document)
    db.session.commit()
    return Outcome(delivery)


def _availability_keys(item: Any) -> dict:
    """The ids an undocumented availability item names, under the Leads API's spellings."""
    if not isinstance(item, dict):
        return {}
    keys = {}
    for column, names in (
        ("account_id", ("accountId", "tenantId")),
        ("profile_id", ("profileId",)),
        ("service_id", ("serviceId", "jobTypeId", "partnerJobTypeKey")),
    ):
        value = next(
            (item[n] for n in names if isinstance(item.get(n), (str, int)) and not isinstance(item.get(n), bool)), ""
        )
        keys[column] = str(value)[:_ID_MAX]
    return keys


def _record_lead_update(delivery: WebhookDelivery, document: Any, status: str) -> Outcome:
    problems = lead_update_problems(document, status)
    if problems:
        return _flag(delivery, "invalid", problems)
    booking_id = db.session.scalar(select(Booking.id).where(Booking.partner_booking_id == document["partnerBookingId"]))
    data = document["eventData"]
    update = LeadStatusUpdate(
        status_update_id=document["statusUpdateId"],
        delivery_id=delivery.id,
        partner_booking_id=document["partnerBookingId"],
        booking_id=booking_id,
        account_id=document["accountId"],
        profile_id=document["profileId"],
        status=status,
        event_timestamp=int(document["timestamp"]),
        event_data=data,
    )
    db.session.add(update)
    if booking_id is None:
        delivery.state, delivery.problems = "unknown_booking", ["no booking we sent has this partnerBookingId"]
    else:
        delivery.state = "stored"
    forwarding.enqueue(delivery, document)
    try:
        db.session.commit()
    except IntegrityError:
        # The same statusUpdateId was recorded before, or a moment ago on another worker.
        db.session.rollback()
        return _flag(delivery, "duplicate", [f"statusUpdateId {document['statusUpdateId']!r} was received before"])
    return Outcome(delivery, 200, list(delivery.problems))


def _flag(delivery: WebhookDelivery, state: str, problems: list[str], status: int = 200) -> Outcome:
    delivery.state, delivery.problems = state, problems
    db.session.commit()
    return Outcome(delivery, status, problems)


def invoice_total(update: LeadStatusUpdate) -> Decimal:
    """The invoice's totalPrice, exactly as written (a float would drift when summed)."""
    return Decimal(str(update.event_data.get("totalPrice", 0)))


def latest_availability() -> list[dict]:
    """The newest availability pushed for each account, profile and service."""
    rows = db.session.scalars(select(AvailabilitySnapshot).order_by(AvailabilitySnapshot.id.desc()))
    latest: dict[tuple, dict] = {}
    for row in rows:
        key = (row.account_id, row.profile_id, row.service_id)
        if key not in latest:
            latest[key] = {
                "accountId": row.account_id,
                "profileId": row.profile_id,
                "serviceId": row.service_id,
                "receivedAt": row.received_at.isoformat(),
                "deliveryId": row.delivery_id,
                "payload": row.payload,
            }
    return sorted(latest.values(), key=lambda item: (item["accountId"], item["profileId"], item["serviceId"]))
