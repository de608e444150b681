"""Reversible protection of the secrets we must read back: signing keys, HS256 secrets.

Keys come from the ``ENCRYPTION_KEYS`` setting; the first encrypts, every one decrypts, so an
operator rotates by putting a new key first and running ``flask keys reencrypt``.
"""

from cryptography.fernet import Fernet, MultiFernet
from flask import current_app


def _fernet() -> MultiFernet:
    cache = current_app.extensions.setdefault("oidc_provider.encryption", {})
    keys = tuple(current_app.config["ENCRYPTION_KEYS"])
    if cache.get("keys") != keys:
        cache["keys"] = keys
        cache["fernet"] = MultiFernet([Fernet(key) for key in keys])
    return cache["fernet"]


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    return _fernet().decrypt(ciphertext.encode()).decode()


def reencrypt(ciphertext: str) -> str:
    """The same secret under the first (newest) key."""
    return _fernet().rotate(ciphertext.encode()).decode()
