"""The port a partner implements to put its own user store behind the product.

Everything reaches users, accounts and profiles through ``AccountDirectory``.
``OIDC_PROVIDER_DIRECTORY`` names the class (``module:Class``); the default is
``oidc_provider.directory:DatabaseDirectory`` (``store.py``), fed by ``flask directory
import``. ``docs/directory.md`` shows how to plug in another.
"""

from __future__ import annotations

from typing import Protocol

from flask import current_app
from werkzeug.utils import import_string

from oidc_provider.core.models import Account, TenantUser


class AccountDirectory(Protocol):
    """What the provider asks of a user store."""

    def authenticate(self, email: str, password: str) -> TenantUser | None:
        """The user with these credentials, or None. Must take the same time whether or
        not the email exists."""

    def find_user(self, user_id: int) -> TenantUser | None:
        """The user with this primary key (the session remembers it)."""

    def pairable_accounts(self, user: TenantUser) -> list[Account]:
        """The accounts this user may pair, in the order the consent page lists them, each
        with its profiles."""

    def with_profiles(self, accounts: list[Account]) -> list[Account]:
        """``accounts``, each given its profiles in their order: what ServiceTitan receives
        at the code exchange (the accountInfo claim) and from account-info."""


def account_directory() -> AccountDirectory:
    directory = current_app.extensions.get("oidc_provider.directory")
    if directory is None:
        directory = current_app.extensions["oidc_provider.directory"] = import_string(current_app.config["DIRECTORY"])()
    return directory
