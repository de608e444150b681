"""Re-encryption reaches every stored secret, the console's too."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from oidc_provider.core.encryption import decrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import ServiceTitanEnvironment, WebhookSigningKey
from oidc_provider.core.rekey import reencrypt_stored_secrets
from oidc_provider.oidc.keys import key_ring
from oidc_provider.servicetitan.catalog.webhook_keys import generate
from oidc_provider.servicetitan.environments import configure


def test_webhook_keys_and_servicetitan_secrets_move_to_the_new_key(clean_app, monkeypatch):
    old_keys = list(clean_app.config["ENCRYPTION_KEYS"])
    new_key = Fernet.generate_key().decode()
    with clean_app.app_context():
        _, webhook_value = generate("test")
        configure("sandbox", client_id="st", client_secret="st-api-secret")
        db.session.commit()

    try:
        monkeypatch.setitem(clean_app.config, "ENCRYPTION_KEYS", [new_key, *old_keys])
        with clean_app.app_context():
            reencrypt_stored_secrets()
            webhook = db.session.scalar(select(WebhookSigningKey))
            environment = db.session.get(ServiceTitanEnvironment, "sandbox")
            monkeypatch.setitem(clean_app.config, "ENCRYPTION_KEYS", [new_key])
            assert decrypt(webhook.key_encrypted) == webhook_value
            assert decrypt(environment.client_secret_encrypted) == "st-api-secret"
            monkeypatch.setitem(clean_app.config, "ENCRYPTION_KEYS", old_keys)
            with pytest.raises(InvalidToken):
                decrypt(webhook.key_encrypted)
    finally:
        # The signing keys outlive this test (and the database is shared with other apps):
        # put everything back under the test suite's key.
        monkeypatch.setitem(clean_app.config, "ENCRYPTION_KEYS", [*old_keys, new_key])
        with clean_app.app_context():
            reencrypt_stored_secrets()
            key_ring().invalidate()
