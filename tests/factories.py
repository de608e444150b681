"""Factories with traits: the directory and clients that tests need, named for what they are."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import hash_password
from oidc_provider.core.models import Admin
from oidc_provider.directory.store import import_directory
from oidc_provider.oidc.client_registry import ClientSettings, create_client

PASSWORD = "correct horse battery"
SERVICETITAN_CALLBACK = "https://servicetitan.example/callback"


@cache
def password_hash() -> str:
    """PASSWORD, hashed once per test run: argon2 costs a tenth of a second each time."""
    return hash_password(PASSWORD)


@dataclass
class RegisteredClient:
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str


class Factories:
    """Each call runs in an app context of its own and commits."""

    def __init__(self, app):
        self.app = app

    def directory(self, **document) -> dict:
        """The standard tenant: a one-account owner, a three-account manager (one account
        not eligible), and a user with no account."""
        document.setdefault(
            "accounts",
            [
                {
                    "id": "acct-hvac",
                    "name": "MTech HVAC",
                    "profiles": [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": "South"}],
                },
                {"id": "acct-plumbing", "name": "MTech Plumbing", "profiles": [{"id": "p-main", "name": "Main"}]},
                {
                    "id": "acct-closed",
                    "name": "Closed Branch",
                    "eligible": False,
                    "profiles": [{"id": "p-closed", "name": "Closed"}],
                },
            ],
        )
        hashed = password_hash()
        document.setdefault(
            "users",
            [
                {"email": "owner@mtech.example", "password_hash": hashed, "name": "Owner", "accounts": ["acct-hvac"]},
                {
                    "email": "manager@mtech.example",
                    "password_hash": hashed,
                    "name": "Manager",
                    "accounts": ["acct-hvac", "acct-plumbing", "acct-closed"],
                },
                {
                    "email": "closed@mtech.example",
                    "password_hash": hashed,
                    "name": "Closed",
                    "accounts": ["acct-closed"],
                },
                {"email": "nobody@mtech.example", "password_hash": hashed, "name": "Nobody", "accounts": []},
            ],
        )
        with self.app.app_context():
            import_directory(document)
        return document

    def client(
        self, redirect_uris: list[str] | None = None, scope: str = "openid profile email", **settings
    ) -> RegisteredClient:
        """ServiceTitan as the admin registers it; keyword arguments are ClientSettings."""
        redirect_uris = redirect_uris or [SERVICETITAN_CALLBACK]
        with self.app.app_context():
            client, secret = create_client(
                ClientSettings(
                    name=settings.pop("name", "ServiceTitan"), redirect_uris=redirect_uris, scope=scope, **settings
                )
            )
            return RegisteredClient(client.client_id, secret, redirect_uris[0], scope)

    def api_client(self, scope: str = "bookings:write bookings:read leads:read", name: str = "Booking platform"):
        """A partner API client; answers (client_id, client_secret)."""
        from oidc_provider.oidc.api_clients import create_api_client

        with self.app.app_context():
            client, secret = create_api_client(name, scope)
            return client.client_id, secret

    def admin(self, email: str = "admin@partner.example") -> int:
        """A partner admin whose password is PASSWORD; answers its id."""
        with self.app.app_context():
            admin = Admin(email=email, password_hash=password_hash())
            db.session.add(admin)
            db.session.commit()
            return admin.id

    def servicetitan(
        self,
        url: str,
        client_id: str = "partner_client",
        client_secret: str = "7a2abb98b5117e80500af07788109d1d2031784dbb6cc1833262f0ac2132",
        environment: str = "sandbox",
    ) -> None:
        """Point a ServiceTitan environment at ``url`` (a running st_sandbox), with the
        sandbox's default API credentials unless told otherwise."""
        from oidc_provider.servicetitan.environments import configure
        from oidc_provider.servicetitan.leads_api import TokenCache

        with self.app.app_context():
            configure(environment, identity_url=url, api_url=url, client_id=client_id, client_secret=client_secret)
            db.session.commit()
        # No token from an earlier test's sandbox: as a freshly started process would be.
        self.app.extensions["oidc_provider.servicetitan"]["tokens"] = TokenCache()

    def count(self, model) -> int:
        """How many rows ``model``'s table holds: a refused request must not have added any."""
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(model))
