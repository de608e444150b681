"""Factories with traits: the directory and clients that tests need, named for what they are."""

from __future__ import annotations

from dataclasses import dataclass

from oidc_provider.client_registry import ClientSettings, create_client
from oidc_provider.directory import import_directory

PASSWORD = "correct horse battery"
SERVICETITAN_CALLBACK = "https://servicetitan.example/callback"


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
        document.setdefault("accounts", [
            {"id": "acct-hvac", "name": "MTech HVAC",
             "profiles": [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": "South"}]},
            {"id": "acct-plumbing", "name": "MTech Plumbing", "profiles": [{"id": "p-main", "name": "Main"}]},
            {"id": "acct-closed", "name": "Closed Branch", "eligible": False,
             "profiles": [{"id": "p-closed", "name": "Closed"}]},
        ])
        document.setdefault("users", [
            {"email": "owner@mtech.example", "password": PASSWORD, "name": "Owner", "accounts": ["acct-hvac"]},
            {"email": "manager@mtech.example", "password": PASSWORD, "name": "Manager",
             "accounts": ["acct-hvac", "acct-plumbing", "acct-closed"]},
            {"email": "closed@mtech.example", "password": PASSWORD, "name": "Closed", "accounts": ["acct-closed"]},
            {"email": "nobody@mtech.example", "password": PASSWORD, "name": "Nobody", "accounts": []},
        ])
        with self.app.app_context():
            import_directory(document)
        return document

    def client(self, redirect_uris: list[str] | None = None, scope: str = "openid profile email",
               **settings) -> RegisteredClient:
        """ServiceTitan as the admin registers it; keyword arguments are ClientSettings."""
        redirect_uris = redirect_uris or [SERVICETITAN_CALLBACK]
        with self.app.app_context():
            client, secret = create_client(
                ClientSettings(name=settings.pop("name", "ServiceTitan"), redirect_uris=redirect_uris, scope=scope,
                               **settings)
            )
            return RegisteredClient(client.client_id, secret, redirect_uris[0], scope)
