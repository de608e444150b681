"""What we say about a user and an account: id_token and userinfo claims, and accountInfo.

The accountInfo structure is built here once, for the id_token claim and for the
account-info endpoint alike, with the PascalCase keys of ServiceTitan's platform document.
"""

from __future__ import annotations

import json

from oidc_provider.core.models import Account, TenantUser
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, UNPAIRED


def account_info(account: Account, status: str) -> dict:
    """``{"Status": ..., "Account": {...}}``; the account is only named when COMPLETED."""
    if status == UNPAIRED:
        # Ours alone: ServiceTitan knows three statuses, and an ended pairing is no longer on.
        return {"Status": DECLINED}
    if status != COMPLETED:
        return {"Status": status}
    return {
        "Status": status,
        "Account": {
            "Id": account.id,
            "Name": account.name,
            "Profiles": [{"Id": p.id, "Name": p.name} for p in account.profiles],
        },
    }


def account_info_claim(account: Account, status: str) -> str:
    """The id_token's ``accountInfo``: a JSON *string*, compact, as ServiceTitan parses it."""
    return json.dumps(account_info(account, status), separators=(",", ":"))


def user_claims(user: TenantUser, scope: str) -> dict:
    """The standard claims that ``scope`` grants (OpenID Connect Core 5.4)."""
    scopes = set(scope.split())
    claims = {"sub": user.subject}
    if "profile" in scopes:
        claims["name"] = user.name
    if "email" in scopes:
        claims["email"] = user.email
        # The partner's directory is the source of these addresses; it vouches for them.
        claims["email_verified"] = True
    return claims


CLAIMS_SUPPORTED = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "name",
    "email",
    "email_verified",
    "accountInfo",
]
