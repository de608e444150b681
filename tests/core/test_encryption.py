"""Encryption at rest: the first key encrypts, every key decrypts, reencrypt moves to the first."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask

from oidc_provider.core.encryption import decrypt, encrypt, reencrypt

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
SECRET = "hs256-client-secret-" + "x" * 30


@pytest.fixture
def settings():
    """An app whose ENCRYPTION_KEYS a test changes, as an operator would between restarts."""
    app = Flask(__name__)
    with app.app_context():
        yield app.config


def test_a_value_round_trips_and_is_not_stored_plain(settings):
    settings["ENCRYPTION_KEYS"] = [OLD]

    ciphertext = encrypt(SECRET)

    assert SECRET not in ciphertext
    assert decrypt(ciphertext) == SECRET
    assert encrypt(SECRET) != ciphertext  # a fresh IV every time


def test_a_value_under_the_old_key_decrypts_when_that_key_is_second(settings):
    settings["ENCRYPTION_KEYS"] = [OLD]
    ciphertext = encrypt(SECRET)

    settings["ENCRYPTION_KEYS"] = [NEW, OLD]

    assert decrypt(ciphertext) == SECRET


def test_new_values_are_encrypted_under_the_first_key(settings):
    settings["ENCRYPTION_KEYS"] = [NEW, OLD]

    ciphertext = encrypt(SECRET)

    assert Fernet(NEW).decrypt(ciphertext.encode()).decode() == SECRET
    with pytest.raises(InvalidToken):
        Fernet(OLD).decrypt(ciphertext.encode())


def test_reencrypt_puts_a_value_under_the_first_key(settings):
    settings["ENCRYPTION_KEYS"] = [OLD]
    ciphertext = encrypt(SECRET)
    settings["ENCRYPTION_KEYS"] = [NEW, OLD]

    moved = reencrypt(ciphertext)

    assert Fernet(NEW).decrypt(moved.encode()).decode() == SECRET
    settings["ENCRYPTION_KEYS"] = [NEW]
    assert decrypt(moved) == SECRET
    with pytest.raises(InvalidToken):
        decrypt(ciphertext)


def test_a_value_under_a_removed_key_does_not_decrypt(settings):
    settings["ENCRYPTION_KEYS"] = [OLD]
    ciphertext = encrypt(SECRET)
    settings["ENCRYPTION_KEYS"] = [NEW]

    with pytest.raises(InvalidToken):
        decrypt(ciphertext)
