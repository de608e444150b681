"""Password hashing (argon2id) and the digests of high-entropy tokens."""

from __future__ import annotations

import hashlib

import pytest
from argon2 import PasswordHasher

import oidc_provider.core.hashing
from oidc_provider.core.hashing import (
    digest_matches,
    hash_password,
    password_needs_rehash,
    token_digest,
    verify_password,
)

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSWORD)


def test_a_password_is_hashed_with_argon2id_and_a_salt(stored):
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert hash_password(PASSWORD) != stored


def test_verify_accepts_the_password_and_nothing_else(stored):
    assert verify_password(stored, PASSWORD) is True
    assert verify_password(stored, PASSWORD + " ") is False
    assert verify_password(stored, "") is False
    assert verify_password(stored, PASSWORD.upper()) is False


@pytest.mark.parametrize("broken", ["", "not a hash", "$argon2id$v=19$m=65536,t=3,p=4$broken"])
def test_an_unreadable_hash_verifies_nothing(broken):
    assert verify_password(broken, PASSWORD) is False


def test_a_hash_made_with_weaker_parameters_needs_a_rehash(stored):
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)

    assert password_needs_rehash(weak) is True
    assert password_needs_rehash(stored) is False
    assert verify_password(weak, PASSWORD) is True


class RecordingHasher:
    """The module's hasher, noting every hash it verifies against."""

    def __init__(self, hasher: PasswordHasher):
        self.hasher = hasher
        self.checked: list[str] = []

    def verify(self, password_hash, password):
        self.checked.append(password_hash)
        return self.hasher.verify(password_hash, password)


def test_an_unknown_user_costs_one_real_verification_and_never_succeeds(monkeypatch):
    recording = RecordingHasher(oidc_provider.core.hashing._passwords)
    monkeypatch.setattr(oidc_provider.core.hashing, "_passwords", recording)

    # Even the dummy's own password does not let a missing user in.
    assert verify_password(None, "no user has this password") is False
    assert verify_password(None, PASSWORD) is False
    assert recording.checked == [oidc_provider.core.hashing._DUMMY_HASH] * 2
    assert recording.checked[0].startswith("$argon2id$")


def test_a_token_is_stored_as_its_sha256():
    assert token_digest("abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(token_digest("x" * 43)) == 64


def test_a_digest_matches_only_its_token():
    digest = token_digest("secret-value")

    assert digest_matches(digest, "secret-value") is True
    assert digest_matches(digest, "secret-valuf") is False
    assert digest_matches(digest, "") is False
    assert digest_matches(None, "secret-value") is False
