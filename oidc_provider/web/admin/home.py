"""The console's front page: what needs attention, and where everything is."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import OPENID, Account, Client, Pairing, TenantUser
from oidc_provider.oidc.keys import keys_due_for_rotation
from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.environments import ENVIRONMENTS
from oidc_provider.servicetitan.statuses import PROCESSING
from oidc_provider.web.admin import console_environment, listings

bp = Blueprint("home", __name__)


def _count(statement) -> int:
    return db.session.scalar(statement)


@bp.get("/")
def index():
    # The pairings of the environment the admin chose. What needs attention is of every
    # environment: a production failure must not hide behind a sandbox view.
    environment = console_environment.chosen()
    pairings = select(func.count()).select_from(Pairing)
    if environment:
        pairings = pairings.where(Pairing.environment == environment)
    counts = {
        "clients": _count(select(func.count()).select_from(Client)),
        "accounts": _count(select(func.count()).select_from(Account)),
        "users": _count(select(func.count()).select_from(TenantUser)),
        "pairings": _count(pairings),
        # Only OpenID Connect pairings wait for an admin; a Custom one waits for its tenant.
        "processing": _count(pairings.where(Pairing.status == PROCESSING, Pairing.mechanism == OPENID)),
    }
    attention = {
        "failed": outbox.failed_count(),
        "flagged": listings.flagged_count(),
        "due_keys": keys_due_for_rotation(),
    }
    return render_template("admin/home.html", counts=counts, attention=attention, environments=ENVIRONMENTS)
