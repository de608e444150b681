"""The outbox: every call to ServiceTitan is a row first, sent by a worker afterwards.

A call is written in the transaction that decided it (a pairing's approval, a booking), so
it exists exactly when the decision does, and nothing is lost while ServiceTitan or the
network is down. Workers (``flask --app oidc_provider outbox run``, or a thread inside the
web process when ``OUTBOX_IN_PROCESS`` is set) claim due messages and send them:

- **At least once, with one effect.** 5xx answers, timeouts and dropped connections are
  retried with exponential backoff and jitter, with the same body and so the same
  idempotency token. When an earlier attempt may have landed unheard, a "duplicate"
  refusal on a retry proves it did and counts as delivery: DuplicateIdempotencyToken or
  DuplicateBooking for a booking; DuplicateRequestId or DuplicateAccount for COMPLETED;
  InvalidAccountStatusChange for PROCESSING and DECLINED, which cannot be refused otherwise
  once the earlier attempt set that very status.
- **Other 4xx are final.** They are recorded with ServiceTitan's error for an admin, never
  retried as they are (IntegrationDisabled included); ``resend`` after a fix gives a
  booking a new idempotency token, as ServiceTitan demands.
- **In order per pairing request.** Messages with one ``ordering_key`` (the request id) go
  out in ``id`` order: a message waits while an earlier one of its key is pending or
  failed, so COMPLETED never overtakes PROCESSING, whatever the number of workers.
- **Never sent twice at once.** A worker claims a message for ``OUTBOX_LEASE`` seconds
  before sending it: on PostgreSQL with ``SELECT ... FOR UPDATE SKIP LOCKED``, on SQLite
  (which has no row locks, and lets one writer in at a time) with an ``UPDATE`` whose
  ``WHERE`` still finds the message unclaimed. Outcomes are recorded only by the claimant.

Bookings carry personal data: log lines name messages by id and kind, never the payload.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import requests
from flask import Flask, current_app
from sqlalchemy import Table, bindparam, event, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, OutboxAttempt, OutboxMessage, detached
from oidc_provider.servicetitan.environments import Environment, resolve
from oidc_provider.servicetitan.errors import (
    DuplicateAccount,
    DuplicateBooking,
    DuplicateIdempotencyToken,
    DuplicateRequestId,
    InvalidAccountStatusChange,
    LeadsApiError,
    ServerError,
    TransportError,
)
from oidc_provider.servicetitan.leads_api import KeptSession, LeadsApiClient, TokenCache, account_status_payload
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING
from oidc_provider.servicetitan.validation import CheckedAccountStatus, CheckedBooking, check_account_status

log = logging.getLogger(__name__)

ACCOUNT_STATUS = "account_status"
BOOKING = "booking"

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DISCARDED = "discarded"
# A message in one of these states holds back the later messages of its ordering key.
OPEN_STATES = (PENDING, FAILED)

#: Called after each attempt's outcome is recorded, with the message's kind and the
#: outcome: "delivered", "retry" (to be sent again) or "failed" (refused, for an admin).
#: The metrics listen here, so that the outbox needs to know nothing of them.
attempt_listeners: list[Callable[[str, str], None]] = []
_OUTCOMES = {DELIVERED: "delivered", PENDING: "retry", FAILED: "failed"}


#: Called by kind inside the transaction that records an attempt's outcome, before it
#: commits: the message as claimed, its new state, the error, and whether its outcome is now
#: unknown. What follows from an outcome (a booking's event) commits with it, or not at all.
OutcomeRecorder = Callable[[OutboxMessage, str, "dict | None", bool], None]
outcome_recorders: dict[str, OutcomeRecorder] = {}

Sender = Callable[[dict, requests.Session], None]
"""Delivers one payload, or raises a LeadsApiError that says whether to retry."""
_SENDERS: dict[str, Sender] = {}


def register_sender(kind: str, send: Sender) -> None:
    """Let the outbox deliver messages of ``kind``, which are not Leads API calls (the
    forwarding of events registers itself here): the outbox need not know its senders."""
    _SENDERS[kind] = send


# -- writing messages (in the caller's transaction) ---------------------------------------


def pairing_ordering_key(environment: str, request_id: str) -> str:
    return f"accounts:{environment}:{request_id}"


def enqueue_account_status(
    environment: str, request_id: str, status: str, account: Account | None = None
) -> OutboxMessage:
    """Queue ``POST /api/integrations/accounts``, checked here, once; the caller's commit
    makes it real."""
    payload = check_account_status(account_status_payload(request_id, status, account))
    return enqueue(ACCOUNT_STATUS, environment, pairing_ordering_key(environment, request_id), payload)


def enqueue_booking(environment: str, payload: CheckedBooking) -> OutboxMessage:
    """Queue ``POST /api/integrations/bookings`` for a booking checked when it was accepted."""
    token = payload["idempotencyToken"]
    return enqueue(BOOKING, environment, _booking_ordering_key(environment, payload), payload, idempotency_token=token)


def booking_message(environment: str, payload: CheckedBooking) -> dict[str, Any]:
    """The outbox row of ``enqueue_booking``, as values for a caller that inserts it in a
    statement of its own (the partner API's hot path). The caller's commit makes it real."""
    token = payload["idempotencyToken"]
    db.session.info["outbox_enqueued"] = True
    return _new_message(
        BOOKING, environment, _booking_ordering_key(environment, payload), payload, idempotency_token=token
    )


def enqueue(kind: str, environment: str, ordering_key: str, payload: dict, **columns) -> OutboxMessage:
    """Queue a message of ``kind``, delivered in order with the others of ``ordering_key``;
    the caller's commit makes it real."""
    message = OutboxMessage(**_new_message(kind, environment, ordering_key, payload, **columns))
    db.session.add(message)
    db.session.info["outbox_enqueued"] = True
    return message


_MESSAGES = cast(Table, OutboxMessage.__table__)
_ATTEMPTS = cast(Table, OutboxAttempt.__table__)

# The worker's statements, built once: on the message only while this worker's claim holds.
_CLAIMED = (_MESSAGES.c.id == bindparam("message_id"), _MESSAGES.c.claimed_by == bindparam("worker"))
_BEGIN_ATTEMPT = (
    update(_MESSAGES)
    .where(*_CLAIMED)
    .values(attempts=bindparam("attempt"), last_attempt_at=bindparam("at"), outcome_unknown=True)
)
# The outcome; what it answers is the attempt's row, copied from the message as it left it.
_FINISH = (
    update(_MESSAGES)
    .where(*_CLAIMED)
    .values(
        state=bindparam("state"),
        attempts=bindparam("attempt"),
        last_error=bindparam("error", type_=_MESSAGES.c.last_error.type),
        last_attempt_at=bindparam("at"),
        finished_at=bindparam("finished"),
        next_attempt_at=bindparam("next_attempt"),
        outcome_unknown=bindparam("unknown"),
        claimed_by=None,
        claimed_until=None,
    )
    .returning(
        _MESSAGES.c.id.label("message_id"),
        _MESSAGES.c.attempts.label("number"),
        _MESSAGES.c.last_attempt_at.label("at"),
        _MESSAGES.c.idempotency_token,
        _MESSAGES.c.state.label("outcome"),
        _MESSAGES.c.last_error.label("error"),
    )
)
_RECORD_ATTEMPT = insert(_ATTEMPTS)
# PostgreSQL: the outcome and its attempt's row in one statement.
_finished = _FINISH.cte("finished")
_FINISH_AND_RECORD = (
    insert(_ATTEMPTS).from_select(list(_finished.c.keys()), select(_finished)).returning(_ATTEMPTS.c.id)
)


def _new_message(kind: str, environment: str, ordering_key: str, payload: dict, **columns) -> dict[str, Any]:
    now = clock.now()
    return {
        "kind": kind,
        "environment": environment,
        "ordering_key": ordering_key,
        "payload": payload,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "outcome_unknown": False,
        "created_at": now,
        **columns,
    }


def _booking_ordering_key(environment: str, payload: CheckedBooking) -> str:
    return f"booking:{environment}:{payload['partnerBookingId']}"


# -- what admins do and see ---------------------------------------------------------------


class OutboxConflict(Exception):
    """An action that the message's state does not allow."""


def resend(message: OutboxMessage, actor: str) -> OutboxMessage:
    """Send a refused message again after the cause was fixed. A booking gets a new
    idempotency token: ServiceTitan says a used one must not be retried."""
    if message.state != FAILED:
        raise OutboxConflict(f"only a failed message can be resent; message {message.id} is {message.state}")
    if message.kind == BOOKING:
        token = uuid.uuid4().hex
        message.payload = {**message.payload, "idempotencyToken": token}
        message.idempotency_token = token
    message.state = PENDING
    message.attempts = 0
    message.outcome_unknown = False
    message.next_attempt_at = clock.now()
    message.finished_at = None
    record_event("outbox_resent", actor, {"message_id": message.id, "kind": message.kind})
    db.session.info["outbox_enqueued"] = True
    db.session.commit()
    return message


def discard(message: OutboxMessage, actor: str) -> OutboxMessage:
    """Give up on a message that will never be sent; the later messages of its key follow."""
    if message.state not in OPEN_STATES:
        raise OutboxConflict(f"message {message.id} is {message.state} already")
    message.state = DISCARDED
    message.finished_at = clock.now()
    message.claimed_by = message.claimed_until = None
    record_event("outbox_discarded", actor, {"message_id": message.id, "kind": message.kind})
    db.session.commit()
    return message


def oldest_pending_created_at() -> datetime | None:
    """When the oldest message still to deliver was written; None when there is none."""
    return db.session.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state == PENDING))


def pending_count() -> int:
    """Messages still to deliver, due or waiting for a retry: the outbox's depth."""
    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == PENDING)) or 0


def failed_count() -> int:
    """Messages ServiceTitan refused, waiting for an admin."""
    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == FAILED)) or 0


def summary(message: OutboxMessage) -> dict[str, Any]:
    """What an admin sees of a message, in ServiceTitan's camelCase like the call it
    carries: never a booking's personal data."""
    if message.kind == ACCOUNT_STATUS:
        subject = {"status": message.payload.get("status"), "requestId": message.payload.get("requestId")}
    else:
        subject = {
            "partnerBookingId": message.payload.get("partnerBookingId"),
            "idempotencyToken": message.idempotency_token,
        }
    return {
        "id": message.id,
        "kind": message.kind,
        "environment": message.environment,
        **subject,
        "state": message.state,
        "attempts": message.attempts,
        "nextAttemptAt": message.next_attempt_at.isoformat() if message.state == PENDING else None,
        "lastError": message.last_error,
        "createdAt": message.created_at.isoformat(),
        "finishedAt": message.finished_at.isoformat() if message.finished_at else None,
    }


# -- sending ------------------------------------------------------------------------------


def proves_delivery(message: OutboxMessage, error: LeadsApiError) -> bool:
    """Whether ``error``, answered to a retry of a message whose earlier attempt may have
    landed, shows that it did."""
    if message.kind == BOOKING:
        return isinstance(error, (DuplicateIdempotencyToken, DuplicateBooking))
    if message.payload.get("status") == COMPLETED:
        return isinstance(error, (DuplicateRequestId, DuplicateAccount))
    if message.payload.get("status") in (PROCESSING, DECLINED):
        return isinstance(error, InvalidAccountStatusChange)
    return False


def retry_delay(attempts: int, rng: random.Random) -> float:
    """Seconds before attempt ``attempts + 1``: OUTBOX_RETRY_BASE doubled per attempt, at
    most OUTBOX_RETRY_MAX, then a random part of it (between half and all), so workers that
    failed together during an outage do not all return at the same instant."""
    config = current_app.config
    delay = min(config["OUTBOX_RETRY_MAX"], config["OUTBOX_RETRY_BASE"] * 2 ** max(0, attempts - 1))
    return rng.uniform(delay / 2, delay)


class OutboxWorker:
    """Claims due messages and sends them. Several may run at once, in threads or
    processes; each needs its own instance. ``rng`` draws the jitter (seed it in tests)."""

    def __init__(self, app: Flask, name: str | None = None, rng: random.Random | None = None):
        self.app = app
        self.name = name or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.rng = rng or random.Random()
        self.session = KeptSession()
        # Resolved once per claim (the settings are read and their secret decrypted once
        # for the batch, not for each message).
        self.environments: dict[str, Environment] = {}

    def run_once(self) -> int:
        """Send every message that is due now, including those that become due as earlier
        ones of their key are delivered; return the number of attempts made."""
        attempts = 0
        with self.app.app_context(), db.engine.connect() as connection:
            # The round's transactions on one connection: checked out from the pool for
            # each, it would be pinged first, a round trip per transaction. A plain Session:
            # Flask-SQLAlchemy's binds to the engine, never to a connection.
            db.session.registry.set(Session(bind=connection))  # type: ignore[arg-type]
            try:
                while claimed := self._claim():
                    for message in claimed:
                        self._send(message)
                        attempts += 1
            finally:
                db.session.remove()
        return attempts

    def run(self, stop: threading.Event, wakeup: threading.Event | None = None) -> None:
        """Send until ``stop`` is set, looking again every OUTBOX_POLL_INTERVAL seconds or
        as soon as ``wakeup`` is set. A failure of the database or of one attempt is logged
        and does not end the loop: the claim lease lets another attempt pick the message up."""
        interval = self.app.config["OUTBOX_POLL_INTERVAL"]
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a worker must outlive a database restart
                log.exception("outbox worker %s: round failed", self.name)
            if wakeup is not None:
                wakeup.wait(interval)
                wakeup.clear()
            else:
                stop.wait(interval)

    def _claim(self) -> list[OutboxMessage]:
        """Claim up to OUTBOX_BATCH_SIZE due messages and answer them as claimed, in id order.
        Detached, each keeps what it was when claimed (``outcome_unknown`` above all)
        through the commits of its attempt, without being read again."""
        self.environments.clear()
        now = clock.now()
        config = current_app.config
        earlier = _MESSAGES.alias("earlier")
        held_back = (
            select(earlier.c.id)
            .where(
                earlier.c.ordering_key == _MESSAGES.c.ordering_key,
                earlier.c.id < _MESSAGES.c.id,
                earlier.c.state.in_(OPEN_STATES),
            )
            .exists()
        )
        unclaimed = or_(_MESSAGES.c.claimed_until.is_(None), _MESSAGES.c.claimed_until <= now)
        due = (
            select(_MESSAGES.c.id)
            .where(_MESSAGES.c.state == PENDING, _MESSAGES.c.next_attempt_at <= now, unclaimed, ~held_back)
            .order_by(_MESSAGES.c.id)
            .limit(config["OUTBOX_BATCH_SIZE"])
        )
        claim = (
            update(_MESSAGES)
            .values(claimed_by=self.name, claimed_until=now + timedelta(seconds=config["OUTBOX_LEASE"]))
            .returning(*_MESSAGES.c)
        )
        if db.engine.dialect.name == "postgresql":
            # One statement: the rows another worker has locked are skipped, not waited for.
            due = due.with_for_update(skip_locked=True, of=_MESSAGES)
            rows = list(db.session.execute(claim.where(_MESSAGES.c.id.in_(due.scalar_subquery()))))
        else:
            rows = []
            # Another worker may take every candidate first (its UPDATE came first): look
            # again, until a look finds nothing due, so that no worker idles beside work.
            while not rows and (candidates := db.session.scalars(due).all()):
                for candidate in candidates:
                    rows.extend(
                        db.session.execute(
                            claim.where(_MESSAGES.c.id == candidate, _MESSAGES.c.state == PENDING, unclaimed)
                        )
                    )
                db.session.commit()
        db.session.commit()
        return sorted((detached(OutboxMessage, row) for row in rows), key=lambda message: message.id)

    def _send(self, message: OutboxMessage) -> None:
        attempt = message.attempts + 1
        if not self._begin_attempt(message, attempt):
            return
        try:
            if send := _SENDERS.get(message.kind):
                send(message.payload, self.session)
                self._finish(message, attempt, DELIVERED, None)
                return
            if message.environment not in self.environments:
                self.environments[message.environment] = resolve(message.environment)
            client = LeadsApiClient(
                self.environments[message.environment],
                tokens=token_cache(self.app),
                timeout=current_app.config["SERVICETITAN_TIMEOUT"],
                session=self.session,
            )
            # What was checked when it was queued is what leaves.
            if message.kind == BOOKING:
                client.send_booking(CheckedBooking(message.payload))
            else:
                client.send_account_status(CheckedAccountStatus(message.payload))
        except LeadsApiError as error:
            self._failed_attempt(message, attempt, error)
        except Exception:  # noqa: BLE001 - e.g. the database or the encryption keys: ours to fix, not the message's
            log.exception("outbox message %s (%s): attempt %s broke", message.id, message.kind, attempt)
            self._finish(
                message,
                attempt,
                PENDING,
                {"name": "InternalError", "message": "see the worker's log"},
                next_attempt_at=clock.now() + timedelta(seconds=retry_delay(attempt, self.rng)),
            )
        else:
            self._finish(message, attempt, DELIVERED, None)

    def _failed_attempt(self, message: OutboxMessage, attempt: int, error: LeadsApiError) -> None:
        if error.retryable:
            # A 5xx may come after the request was applied; a refused token or a 429 not.
            landed = isinstance(error, ServerError) or (isinstance(error, TransportError) and error.may_have_landed)
            delay = retry_delay(attempt, self.rng)
            self._finish(
                message,
                attempt,
                PENDING,
                error.as_dict(),
                next_attempt_at=clock.now() + timedelta(seconds=delay),
                outcome_unknown=message.outcome_unknown or landed,
            )
        elif message.outcome_unknown and proves_delivery(message, error):
            self._finish(message, attempt, DELIVERED, {**error.as_dict(), "proves": "an earlier attempt landed"})
        else:
            self._finish(message, attempt, FAILED, error.as_dict())

    def _begin_attempt(self, message: OutboxMessage, attempt: int) -> bool:
        """Record the attempt before the call leaves: should this worker die before it
        records the answer, the worker that takes the message over after the lease knows
        that this attempt may have landed, and reads a "duplicate" refusal as delivery.
        The commit also commits the outcome of the attempt before. False when the claim
        was lost meanwhile."""
        result = cast(
            CursorResult,
            db.session.execute(
                _BEGIN_ATTEMPT, {"message_id": message.id, "worker": self.name, "attempt": attempt, "at": clock.now()}
            ),
        )
        db.session.commit()
        if result.rowcount != 1:
            log.warning("outbox message %s: claim lost before attempt %s", message.id, attempt)
            return False
        return True

    def _finish(
        self,
        message: OutboxMessage,
        attempt: int,
        state: str,
        error: dict | None,
        next_attempt_at: datetime | None = None,
        outcome_unknown: bool | None = None,
    ) -> None:
        # An attempt whose answer was heard did not land unseen: the flag is what it was
        # before this attempt, unless the caller says the attempt may have landed.
        if outcome_unknown is None:
            outcome_unknown = message.outcome_unknown
        now = clock.now()
        parameters = {
            "message_id": message.id,
            "worker": self.name,
            "state": state,
            "attempt": attempt,
            "error": error,
            "at": now,
            "finished": now if state in (DELIVERED, FAILED) else None,
            "next_attempt": next_attempt_at or message.next_attempt_at,
            "unknown": outcome_unknown,
        }
        if db.engine.dialect.name == "postgresql":
            recorded = db.session.execute(_FINISH_AND_RECORD, parameters).first()
        elif recorded := db.session.execute(_FINISH, parameters).first():
            db.session.execute(_RECORD_ATTEMPT, dict(recorded._mapping))
        if not recorded:
            log.warning("outbox message %s: claim lost before the outcome was recorded", message.id)
            return
        if recorder := outcome_recorders.get(message.kind):
            recorder(message, state, error, outcome_unknown)
        db.session.info.setdefault("outbox_outcomes", []).append((message.id, message.kind, attempt, state, error))
        # A refusal commits at once. Any other outcome is committed with the next attempt's
        # start or the next claim, one transaction less per message: lost before then, it is
        # that of an attempt whose answer went unheard, which its start recorded, and the
        # resend settles it. A refusal lost that way would come back from the resend as a
        # duplicate after an unheard attempt, which reads as delivery.
        if state == FAILED:
            db.session.commit()


# -- process-wide pieces ------------------------------------------------------------------

_wakeup = threading.Event()
_started: set[tuple[int, int]] = set()
_started_guard = threading.Lock()


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    """A committed message wakes this process's in-process worker at once."""
    if session.info.pop("outbox_enqueued", False):
        _wakeup.set()


@event.listens_for(Session, "after_commit")
def _report_outcomes(session: Session) -> None:
    """Log and count each attempt's outcome once it is committed."""
    for message_id, kind, attempt, state, error in session.info.pop("outbox_outcomes", ()):
        code = f" {error.get('name')} {error.get('code')}" if error else ""
        log.info("outbox message %s (%s): attempt %s, %s%s", message_id, kind, attempt, state, code)
        for listener in attempt_listeners:
            listener(kind, _OUTCOMES[state])


@event.listens_for(Session, "after_rollback")
def _forget_enqueued(session: Session) -> None:
    session.info.pop("outbox_enqueued", None)
    session.info.pop("outbox_outcomes", None)


def token_cache(app: Flask) -> TokenCache:
    return app.extensions["oidc_provider.servicetitan"]["tokens"]


def start_in_process(app: Flask) -> threading.Thread | None:
    """Start this process's worker thread, once per process (gunicorn forks after import,
    so the first request of each worker process starts its own)."""
    key = (id(app), os.getpid())
    with _started_guard:
        if key in _started:
            return None
        _started.add(key)
    worker = OutboxWorker(app)
    stop = app.extensions["oidc_provider.servicetitan"]["worker_stop"]
    thread = threading.Thread(target=worker.run, args=(stop, _wakeup), name=f"outbox-{worker.name}", daemon=True)
    thread.start()
    log.info("outbox worker %s started in-process", worker.name)
    return thread


def stop_in_process(app: Flask) -> None:
    """Ask this app's in-process worker to stop after its current round."""
    app.extensions["oidc_provider.servicetitan"]["worker_stop"].set()
    _wakeup.set()
