"""The console's long lists: what each shows, how it is filtered and searched, one page at
a time. Every list is ordered by an indexed column, so a page costs the same at row 50 and
at row 100,000 (``bench/admin_lists.py`` measures them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from flask import current_app, request
from sqlalchemy import Select, String, cast, func, or_, select, text, union
from sqlalchemy.orm import selectinload

from oidc_provider.core.extensions import db
from oidc_provider.core.models import (
    CUSTOM,
    OPENID,
    Account,
    AuditEvent,
    Booking,
    Client,
    OutboxMessage,
    Pairing,
    TenantUser,
    WebhookDelivery,
)
from oidc_provider.pairing import records
from oidc_provider.servicetitan import forwarding, outbox
from oidc_provider.servicetitan.environments import ENVIRONMENTS
from oidc_provider.servicetitan.statuses import RECORD_STATUSES
from oidc_provider.servicetitan.webhooks import FLAGGED
from oidc_provider.web.admin import console_environment

#: A list's environment filter. "Any" is a value of its own, not "": it must outlive the
#: pager's links and win over the console-wide choice (``console_environment``).
ENVIRONMENT_OPTIONS = [("any", "Any")] + [(name, name.capitalize()) for name in ENVIRONMENTS]


@dataclass
class Page:
    """One page of a list. ``total`` is None for lists too long to count on every view."""

    items: list
    page: int
    per_page: int
    has_next: bool
    total: int | None

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, -(-self.total // self.per_page))


def page_of(statement: Select, count: bool = True) -> Page:
    """The page that ``?page=`` asks for; a page past the end is empty, not an error.
    Without ``count`` the list is not counted: one row more than a page says whether
    another page follows, and a search scans the table once instead of twice."""
    per_page = current_app.config["ADMIN_PAGE_SIZE"]
    page = max(1, request.args.get("page", 1, type=int))
    rows = list(db.session.scalars(statement.limit(per_page + 1).offset((page - 1) * per_page)))
    total = None
    if count:
        total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    return Page(items=rows[:per_page], page=page, per_page=per_page, has_next=len(rows) > per_page, total=total)


def _contains(column, text: str):
    """A case-insensitive substring match that treats % and _ as themselves."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def clients() -> Select:
    return select(Client).order_by(Client.created_at.desc(), Client.id.desc())


def accounts(q: str = "", eligible: str = "") -> Select:
    statement = select(Account).options(selectinload(Account.profiles)).order_by(Account.id)
    if q:
        statement = statement.where(or_(_contains(Account.id, q), _contains(Account.name, q)))
    if eligible in ("yes", "no"):
        statement = statement.where(Account.eligible.is_(eligible == "yes"))
    return statement


def users(q: str = "") -> Select:
    statement = select(TenantUser).options(selectinload(TenantUser.accounts)).order_by(TenantUser.email)
    if q:
        statement = statement.where(or_(_contains(TenantUser.email, q), _contains(TenantUser.name, q)))
    return statement


def pairings(q: str = "", status: str = "", client_id: str = "", environment: str = "", mechanism: str = "") -> Select:
    """Both mechanisms, newest first (``records.query``). ``q`` finds a request id, an
    account (id or name) or a user's email."""
    statement = records.query(
        status if status in RECORD_STATUSES else None,
        environment=environment if environment in ENVIRONMENTS else None,
        mechanism=mechanism if mechanism in (OPENID, CUSTOM) else None,
    )
    if client_id:
        statement = statement.where(
            Pairing.client_pk == select(Client.id).where(Client.client_id == client_id).scalar_subquery()
        )
    if q:
        # A union of three indexed lookups rather than one OR: the OR makes the database
        # test every pairing, the union only the few that match.
        matching = union(
            select(Pairing.id).where(Pairing.request_id == q),
            select(Pairing.id).where(
                Pairing.account_id.in_(
                    select(Account.id).where(or_(_contains(Account.id, q), _contains(Account.name, q)))
                )
            ),
            select(Pairing.id).where(Pairing.user_id.in_(select(TenantUser.id).where(_contains(TenantUser.email, q)))),
        )
        statement = statement.where(Pairing.id.in_(matching))
    return statement


def audit_events(q: str = "", kind: str = "", actor: str = "", since: str = "", until: str = "") -> Select:
    """Newest first. ``q`` searches the event's details; ``since`` and ``until`` are dates
    (YYYY-MM-DD, UTC, both included)."""
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    if kind:
        statement = statement.where(AuditEvent.kind == kind)
    if actor:
        statement = statement.where(_contains(AuditEvent.actor, actor))
    if q:
        # Letter case counts on PostgreSQL (SQLite's LIKE ignores it): lower-casing every
        # event's details would triple the cost of a search that scans the whole log. What
        # admins look for there (ids, request ids, emails) is written in one case anyway.
        statement = statement.where(cast(AuditEvent.detail, String).contains(q, autoescape=True))
    if start := parse_date(since):
        statement = statement.where(AuditEvent.at >= datetime.combine(start, time.min, UTC))
    if end := parse_date(until):
        statement = statement.where(AuditEvent.at <= datetime.combine(end, time.max, UTC))
    return statement


#: Every kind of outbox message, with the name admins read.
OUTBOX_KINDS = {
    outbox.ACCOUNT_STATUS: "Account status",
    outbox.BOOKING: "Booking",
    forwarding.FORWARD: "Forwarded event",
}
#: The outbox page's views of a message's state: what needs an admin, by default all three.
OUTBOX_VIEWS = {
    "queued": (OutboxMessage.state == outbox.PENDING, OutboxMessage.outcome_unknown.is_(False)),
    "unknown": (OutboxMessage.state == outbox.PENDING, OutboxMessage.outcome_unknown.is_(True)),
    "failed": (OutboxMessage.state == outbox.FAILED,),
}


def outbox_messages(view: str = "", kind: str = "", environment: str = "") -> Select:
    """Newest first: queued, unknown-outcome and failed messages, or one of those views,
    of one ServiceTitan environment when ``environment`` names one."""
    statement = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if view in OUTBOX_VIEWS:
        statement = statement.where(*OUTBOX_VIEWS[view])
    else:
        statement = statement.where(OutboxMessage.state.in_((outbox.PENDING, outbox.FAILED)))
    if kind in OUTBOX_KINDS:
        statement = statement.where(OutboxMessage.kind == kind)
    if environment in ENVIRONMENTS:
        statement = statement.where(OutboxMessage.environment == environment)
    return statement


def outbox_counts(environment: str = "") -> dict[tuple[str, str], int]:
    """(kind, view) -> how many messages: the outbox page's summary, of one environment
    when ``environment`` names one."""
    unknown = OutboxMessage.outcome_unknown.is_(True)
    statement = select(OutboxMessage.kind, OutboxMessage.state, unknown, func.count()).where(
        OutboxMessage.state.in_((outbox.PENDING, outbox.FAILED))
    )
    if environment in ENVIRONMENTS:
        statement = statement.where(OutboxMessage.environment == environment)
    rows = db.session.execute(statement.group_by(OutboxMessage.kind, OutboxMessage.state, unknown))
    counts: dict[tuple[str, str], int] = {}
    for kind, state, is_unknown, number in rows:
        view = "failed" if state == outbox.FAILED else ("unknown" if is_unknown else "queued")
        counts[(kind, view)] = counts.get((kind, view), 0) + number
    return counts


BOOKING_STATES = (outbox.PENDING, outbox.DELIVERED, outbox.FAILED, outbox.DISCARDED)


def bookings(q: str = "", state: str = "", since: str = "", until: str = "", environment: str = "") -> Select:
    """Newest first. ``q`` is a partnerBookingId or an account (its id, or part of its
    name); ``since`` and ``until`` are dates (YYYY-MM-DD, UTC, both included);
    ``environment`` a ServiceTitan environment, or anything else for both."""
    statement = select(Booking).options(selectinload(Booking.message)).order_by(Booking.id.desc())
    if state in BOOKING_STATES:
        # Joined only to filter: a page deep in the list skips bookings, not a join.
        statement = statement.join(Booking.message).where(OutboxMessage.state == state)
    if q:
        # As for pairings: a union of indexed lookups, not an OR over every booking.
        matching = union(
            select(Booking.id).where(Booking.partner_booking_id == q),
            select(Booking.id).where(Booking.account_id == q),
            select(Booking.id).where(Booking.account_id.in_(select(Account.id).where(_contains(Account.name, q)))),
        )
        statement = statement.where(Booking.id.in_(matching))
    if start := parse_date(since):
        statement = statement.where(Booking.created_at >= datetime.combine(start, time.min, UTC))
    if end := parse_date(until):
        statement = statement.where(Booking.created_at <= datetime.combine(end, time.max, UTC))
    if environment in ENVIRONMENTS:
        statement = statement.where(Booking.environment == environment)
    return statement


def flagged_deliveries(state: str = "", topic: str = "", environment: str = "") -> Select:
    """Newest first: the deliveries kept for an admin (invalid, not_json, unknown_booking),
    of one ServiceTitan environment when ``environment`` names one."""
    statement = select(WebhookDelivery).order_by(WebhookDelivery.id.desc())
    statement = statement.where(WebhookDelivery.state.in_([state] if state in FLAGGED else FLAGGED))
    if topic:
        statement = statement.where(WebhookDelivery.topic == topic)
    if environment in ENVIRONMENTS:
        statement = statement.where(WebhookDelivery.environment == environment)
    return statement


def flagged_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.state.in_(FLAGGED))
    )


# The distinct kinds by hopping along the kind index, one lookup per kind: a plain
# SELECT DISTINCT reads every row of a log that only grows.
_KINDS = text(
    "WITH RECURSIVE kinds(kind) AS ("
    " SELECT MIN(kind) FROM audit_events"
    " UNION ALL"
    " SELECT (SELECT MIN(kind) FROM audit_events WHERE kind > kinds.kind) FROM kinds WHERE kinds.kind IS NOT NULL"
    ") SELECT kind FROM kinds WHERE kind IS NOT NULL"
)


def audit_kinds() -> list[str]:
    return list(db.session.scalars(_KINDS))


def query_filters(names: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """A list page's filters from the query string, and the problems of its ``since`` and
    ``until`` dates, keyed by field. A list's ``environment`` is, unless asked for, the one
    the admin chose for the whole console."""
    filters = {name: request.args.get(name, "").strip() for name in names}
    if "environment" in names and "environment" not in request.args:
        filters["environment"] = console_environment.chosen()
    problems = {
        name: "give a date as YYYY-MM-DD"
        for name in ("since", "until")
        if filters.get(name) and parse_date(filters[name]) is None
    }
    return filters, problems


def parse_date(value: str):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None
