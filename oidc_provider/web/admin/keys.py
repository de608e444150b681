"""The id_token signing keys: state, activation and age; rotation; retirement when allowed."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import SigningKey
from oidc_provider.oidc.keys import KeyRingError, key_state, retire, retire_refusal, rotate
from oidc_provider.web.admin import confirmation
from oidc_provider.web.admin.auth import actor

bp = Blueprint("keys", __name__)


def _rows() -> list[dict]:
    rows = list(db.session.scalars(select(SigningKey).order_by(SigningKey.alg, SigningKey.activates_at.desc())))
    now = clock.now()
    described = []
    for row in rows:
        siblings = [r for r in rows if r.alg == row.alg]
        described.append(
            {
                "row": row,
                "state": key_state(row, siblings),
                "age": now - row.created_at,
                "refusal": retire_refusal(row, siblings),
            }
        )
    return described


@bp.get("/keys")
def index(error: str | None = None, status: int = 200):
    return render_template("admin/keys.html", keys=_rows(), error=error, now=clock.now()), status


@bp.post("/keys/rotate")
def rotate_keys():
    rotate(activate_now=request.form.get("activate_now") is not None, actor=actor())
    return redirect(url_for(".index"))


@bp.post("/keys/<kid>/retire")
def retire_key(kid):
    if not confirmation.confirmed():
        return confirmation.ask(
            f"Retire signing key {kid}?",
            "The key leaves JWKS and never signs again: an id_token it signed can no longer be "
            "verified by ServiceTitan. The key cannot be brought back.",
            "Retire key",
            url_for(".index"),
        )
    try:
        retire(kid, actor=actor())
    except KeyRingError as error:
        return index(error=str(error), status=409)
    return redirect(url_for(".index"))
