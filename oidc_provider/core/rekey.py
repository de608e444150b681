"""Re-encrypting every stored secret under the newest encryption key.

After an operator puts a new key first in ``OIDC_PROVIDER_ENCRYPTION_KEYS`` (keeping the old
one after it), this rewrites the signing keys, HS256 client secrets, webhook signing keys
and ServiceTitan API secrets so that the old key can then be removed.
"""

from sqlalchemy import select

from oidc_provider.core.encryption import reencrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, ServiceTitanEnvironment, SigningKey, WebhookSigningKey


def reencrypt_stored_secrets() -> int:
    """Answers how many values were rewritten."""
    count = 0
    for key in db.session.scalars(select(SigningKey)):
        key.private_jwk_encrypted = reencrypt(key.private_jwk_encrypted)
        count += 1
    for client in db.session.scalars(select(Client)):
        for column in ("secret_encrypted", "previous_secret_encrypted"):
            value = getattr(client, column)
            if value is not None:
                setattr(client, column, reencrypt(value))
                count += 1
    for webhook_key in db.session.scalars(select(WebhookSigningKey)):
        webhook_key.key_encrypted = reencrypt(webhook_key.key_encrypted)
        count += 1
    for environment in db.session.scalars(select(ServiceTitanEnvironment)):
        if environment.client_secret_encrypted is not None:
            environment.client_secret_encrypted = reencrypt(environment.client_secret_encrypted)
            count += 1
    db.session.commit()
    return count
