"""Where a booking for an account may go: the environment of the account's active COMPLETED
pairing (either mechanism), with a profile of that account, while it is eligible; read in
one statement."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Pairing, TenantUser
from oidc_provider.core.problems import ProblemError
from oidc_provider.pairing.bookable import route_booking


@pytest.fixture
def world(clean_app, make):
    make.directory()
    with clean_app.app_context():
        owner = db.session.scalar(select(TenantUser.id).where(TenantUser.email == "owner@mtech.example"))
        rows = [
            ("custom", "production", "acct-hvac", "COMPLETED", "req-1"),
            ("custom", "sandbox", "acct-hvac", "UNPAIRED", "req-2"),
            ("custom", "sandbox", "acct-plumbing", "DECLINED", "req-3"),
            ("custom", "sandbox", "acct-closed", "COMPLETED", "req-4"),
        ]
        for mechanism, environment, account_id, status, request_id in rows:
            db.session.add(
                Pairing(
                    mechanism=mechanism,
                    environment=environment,
                    account_id=account_id,
                    status=status,
                    request_id=request_id,
                    user_id=owner,
                )
            )
        db.session.commit()
    return clean_app


def route(app, *args):
    with app.app_context():
        statements = []
        listener = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            return route_booking(*args), len(statements)
        except ProblemError as error:
            return [(p.where, p.message) for p in error.problems], len(statements)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)


def test_a_booking_goes_to_the_environment_of_the_active_pairing_in_one_statement(world):
    assert route(world, "acct-hvac", "p-north") == ("production", 1)
    assert route(world, "acct-hvac", "p-north", "production") == ("production", 1)


@pytest.mark.parametrize(
    ("args", "where", "words"),
    [
        (("acct-hvac", "p-north", "sandbox"), "slot.accountId", "no COMPLETED pairing with ServiceTitan's sandbox"),
        (("acct-plumbing", "p-main"), "slot.accountId", "no COMPLETED pairing"),
        (("acct-hvac", "p-main"), "slot.profileId", "is not a profile of account"),
        (("acct-closed", "p-closed"), "slot.accountId", "not eligible"),
        (("acct-nobody", "p-north"), "slot.accountId", "not an account in the directory"),
    ],
)
def test_a_booking_that_may_go_nowhere_is_refused(world, args, where, words):
    problems, statements = route(world, *args)
    assert statements == 1
    assert any(w == where and words in message for w, message in problems), problems
