"""Custom pairing ("ST Pairing" in the platform document, "Custom Pairing").

ServiceTitan opens our pairing page with ``?requestId=...``. The document's recommended
sequence: as soon as the signed-in tenant opens the page we tell ServiceTitan PROCESSING
(``open``), then, when they decide (``answer``), COMPLETED with the account and its
profiles, or DECLINED when the tenant declines or the account cannot be paired (not
eligible, or without profiles). Every call goes through the outbox, so the page shows what
ServiceTitan actually answered, for instance RequestIdNotFound, until the pairing is final.
A request id belongs to the first tenant who opens it, and is answered once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import CUSTOM, Account, OutboxMessage, Pairing, TenantUser
from oidc_provider.pairing.lifecycle import event_data, supersede_earlier, unpairable_reason
from oidc_provider.servicetitan import events, outbox
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING, REQUEST_ID_MAX, UNPAIRED

ALREADY_USED = "This pairing link was already used. Start the pairing again from ServiceTitan."


class CustomPairingError(Exception):
    """A request id that cannot be answered: missing, too long, or answered already."""


def check_request_id(value: str | None) -> str:
    """ServiceTitan's request id; ours to send back unchanged, so only an empty or
    over-long one is refused."""
    if not value:
        raise CustomPairingError("This pairing link has no requestId. Start the pairing again from ServiceTitan.")
    if len(value) > REQUEST_ID_MAX:
        raise CustomPairingError(f"This pairing link's requestId is longer than {REQUEST_ID_MAX} characters.")
    return value


def find(request_id: str) -> Pairing | None:
    return db.session.scalar(
        select(Pairing).where(
            Pairing.mechanism == CUSTOM,
            Pairing.environment == default_environment(),
            Pairing.request_id == request_id,
        )
    )


def open_pairing(request_id: str, user: TenantUser) -> Pairing:
    """The signed-in tenant opened the page: the request id becomes theirs, PROCESSING, and
    ServiceTitan is told so, in one transaction. Opening it again answers the same pairing;
    ``CustomPairingError`` when another tenant holds it."""
    pairing = find(request_id)
    if pairing is None:
        environment = default_environment()
        pairing = Pairing(
            mechanism=CUSTOM, environment=environment, request_id=request_id, user_id=user.id, status=PROCESSING
        )
        db.session.add(pairing)
        try:
            db.session.flush()
        except IntegrityError:  # opened a moment ago, elsewhere
            db.session.rollback()
            pairing = find(request_id)
        else:
            outbox.enqueue_account_status(environment, request_id, PROCESSING)
            record_event(
                "custom_pairing_processing", user.email, {"request_id": request_id, "environment": environment}
            )
            events.pairing_changed(PROCESSING, event_data(pairing))
            db.session.commit()
    if pairing is None or pairing.user_id != user.id:
        raise CustomPairingError(ALREADY_USED)
    return pairing


def answer(pairing: Pairing, user: TenantUser, account: Account | None) -> Pairing:
    """The tenant's answer to the pairing they opened: an account of theirs to pair, or None
    to decline. Queues the call to ServiceTitan in the same transaction; of two answers at
    once, one counts (``CustomPairingError`` for the other)."""
    status = COMPLETED if account is not None and account.eligible and not unpairable_reason(account) else DECLINED
    now = clock.now()
    answered = cast(
        CursorResult,
        db.session.execute(
            update(Pairing)
            .where(Pairing.id == pairing.id, Pairing.user_id == user.id, Pairing.status == PROCESSING)
            .values(status=status, account_id=account.id if account else None, updated_at=now)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if not answered:
        db.session.rollback()
        raise CustomPairingError(ALREADY_USED)
    pairing.status, pairing.account_id, pairing.updated_at = status, account.id if account else None, now
    request_id = cast(str, pairing.request_id)  # always set on a Custom pairing
    if status == COMPLETED:
        supersede_earlier(pairing, user.email)
        outbox.enqueue_account_status(pairing.environment, request_id, COMPLETED, account)
    else:
        outbox.enqueue_account_status(pairing.environment, request_id, DECLINED)
    record_event(
        "custom_pairing_completed" if status == COMPLETED else "custom_pairing_declined",
        user.email,
        {"request_id": request_id, "account_id": pairing.account_id, "environment": pairing.environment},
    )
    events.pairing_changed(status, event_data(pairing))
    db.session.commit()
    return pairing


@dataclass
class Progress:
    """Where a Custom pairing stands, as ServiceTitan answered our calls so far.

    ``state``: "choosing" (the tenant has not decided yet), "sending" (not answered yet), "retrying" (ServiceTitan or the network
    failed; the outbox keeps trying), "completed", "declined", "refused" (ServiceTitan
    refused a call: ``error`` holds its code, name and message) or "cancelled" (an admin
    discarded a call) or "unpaired" (the pairing was ended here, or superseded)."""

    state: str
    final: bool
    steps: list[dict] = field(default_factory=list)
    error: dict | None = None


def progress(pairing: Pairing) -> Progress:
    ordering_key = outbox.pairing_ordering_key(pairing.environment, pairing.request_id or "")  # always set: Custom
    messages = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.ordering_key == ordering_key).order_by(OutboxMessage.id)
    ).all()
    steps = [
        {"status": m.payload.get("status"), "state": m.state, "attempts": m.attempts, "error": m.last_error}
        for m in messages
    ]
    refused = next((m for m in messages if m.state == outbox.FAILED), None)
    if refused is not None:
        return Progress("refused", True, steps, refused.last_error)
    if any(m.state == outbox.DISCARDED for m in messages):
        return Progress("cancelled", True, steps)
    if pairing.status == PROCESSING:
        return Progress("choosing", False, steps)
    if pairing.status == UNPAIRED:
        return Progress("unpaired", True, steps)
    if all(m.state == outbox.DELIVERED for m in messages):
        return Progress("completed" if pairing.status == COMPLETED else "declined", True, steps)
    waiting = next(m for m in messages if m.state == outbox.PENDING)
    if waiting.attempts:
        return Progress("retrying", False, steps, waiting.last_error)
    return Progress("sending", False, steps)
