"""The console's front page: what needs attention, and where everything is."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, Client, Pairing, TenantUser

bp = Blueprint("home", __name__)


def _count(statement) -> int:
    return db.session.scalar(statement)


@bp.get("/")
def index():
    counts = {
        "clients": _count(select(func.count()).select_from(Client)),
        "accounts": _count(select(func.count()).select_from(Account)),
        "users": _count(select(func.count()).select_from(TenantUser)),
        "pairings": _count(select(func.count()).select_from(Pairing)),
        "processing": _count(select(func.count()).select_from(Pairing).where(Pairing.status == "PROCESSING")),
    }
    return render_template("admin/home.html", counts=counts)
