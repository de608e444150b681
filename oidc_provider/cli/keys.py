"""flask keys: the id_token signing keys."""

import click
from sqlalchemy import select

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import SigningKey
from oidc_provider.core.rekey import reencrypt_stored_secrets
from oidc_provider.oidc.keys import KeyRingError, key_state, retire, rotate

group = CommandGroup("keys", help="Manage the id_token signing keys.")


def _describe(row: SigningKey, siblings: list[SigningKey]) -> dict:
    return {
        "kid": row.kid,
        "alg": row.alg,
        "state": key_state(row, siblings),
        "created_at": row.created_at.isoformat(),
        "activates_at": row.activates_at.isoformat(),
        "retired_at": row.retired_at.isoformat() if row.retired_at else None,
        "age_seconds": int((clock.now() - row.created_at).total_seconds()),
    }


@group.command("list")
@json_option
def list_keys(as_json):
    """List the signing keys and their states."""
    rows = list(db.session.scalars(select(SigningKey).order_by(SigningKey.alg, SigningKey.activates_at)))
    keys = [_describe(row, [r for r in rows if r.alg == row.alg]) for row in rows]
    lines = "\n".join(f"{k['alg']}  {k['state']:9}  {k['kid']}  activates {k['activates_at']}" for k in keys)
    report(keys, as_json, lines or "no keys yet: the first are made when the first id_token is signed")


@group.command("rotate")
@click.option("--activate-now", is_flag=True, help="Sign with the new keys at once (for a compromised key).")
@json_option
def rotate_keys(activate_now, as_json):
    """Publish a new RS256 and ES256 key; they sign after the activation delay."""
    rows = rotate(activate_now=activate_now)
    data = [{"kid": r.kid, "alg": r.alg, "activates_at": r.activates_at.isoformat()} for r in rows]
    report(
        data, as_json, "\n".join(f"published {d['kid']} ({d['alg']}), signing from {d['activates_at']}" for d in data)
    )


@group.command("retire")
@click.argument("kid")
@json_option
def retire_key(kid, as_json):
    """Stop publishing a key (refused while a token it signed could still be presented)."""
    try:
        row = retire(kid)
    except KeyRingError as error:
        fail(str(error))
    report({"kid": row.kid, "retired_at": row.retired_at.isoformat()}, as_json, f"retired {row.kid}")


@group.command("reencrypt")
@json_option
def reencrypt_secrets(as_json):
    """Re-encrypt stored secrets under the first OIDC_PROVIDER_ENCRYPTION_KEYS key.

    Run it after putting a new key first; then the old keys can be removed.
    """
    count = reencrypt_stored_secrets()
    report({"reencrypted": count}, as_json, f"re-encrypted {count} stored secrets")
