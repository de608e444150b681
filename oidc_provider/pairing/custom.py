"""Custom pairing ("ST Pairing" in the platform document, "Custom Pairing").

ServiceTitan opens our pairing page with ``?requestId=...``. The tenant signs in on our
pages and picks an account; we then tell ServiceTitan PROCESSING and COMPLETED with the
account and its profiles, or DECLINED when the tenant declines or the account is not
eligible. Both calls go through the outbox, so the page shows what ServiceTitan actually
answered, for instance RequestIdNotFound, until the pairing is final. A request id is
answered once: the first answer is the only one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import CUSTOM, Account, OutboxMessage, Pairing, TenantUser
from oidc_provider.pairing.lifecycle import supersede_earlier, unpairable_reason
from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING, REQUEST_ID_MAX


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


def answer(request_id: str, user: TenantUser, account: Account | None) -> Pairing:
    """The tenant's answer: an account of theirs to pair, or None to decline. Queues the
    calls to ServiceTitan in the same transaction that uses up the request id."""
    environment = default_environment()
    status = COMPLETED if account is not None and account.eligible and not unpairable_reason(account) else DECLINED
    pairing = Pairing(
        mechanism=CUSTOM,
        environment=environment,
        request_id=request_id,
        user_id=user.id,
        account_id=account.id if account else None,
        status=status,
    )
    db.session.add(pairing)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise CustomPairingError(
            "This pairing link was already used. Start the pairing again from ServiceTitan."
        ) from None
    if status == COMPLETED:
        supersede_earlier(pairing, user.email)
        outbox.enqueue_account_status(environment, request_id, PROCESSING)
        outbox.enqueue_account_status(environment, request_id, COMPLETED, account)
    else:
        outbox.enqueue_account_status(environment, request_id, DECLINED)
    record_event(
        "custom_pairing_completed" if status == COMPLETED else "custom_pairing_declined",
        user.email,
        {"request_id": request_id, "account_id": pairing.account_id, "environment": environment},
    )
    db.session.commit()
    return pairing


@dataclass
class Progress:
    """Where a Custom pairing stands, as ServiceTitan answered our calls so far.

    ``state``: "sending" (not answered yet), "retrying" (ServiceTitan or the network
    failed; the outbox keeps trying), "completed", "declined", "refused" (ServiceTitan
    refused a call: ``error`` holds its code, name and message) or "cancelled" (an admin
    discarded a call)."""

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
    if all(m.state == outbox.DELIVERED for m in messages):
        return Progress("completed" if pairing.status == COMPLETED else "declined", True, steps)
    waiting = next(m for m in messages if m.state == outbox.PENDING)
    if waiting.attempts:
        return Progress("retrying", False, steps, waiting.last_error)
    return Progress("sending", False, steps)
