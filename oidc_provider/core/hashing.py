"""One-way protection of secrets: passwords, and the high-entropy tokens we issue.

Passwords are low-entropy and get argon2id, a memory-hard hash. Client secrets, codes and
access tokens are 256-bit random values: a single SHA-256 is as strong against guessing and
costs microseconds, where argon2 would cost the token endpoint tens of milliseconds.
"""

import hashlib
import hmac
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's Password Storage Cheat Sheet lists five argon2id settings of equal strength, each
# trading memory for passes; this is its m=7 MiB, t=5, p=1. Every sign-in holds that memory
# in the worker: argon2-cffi's default of 64 MiB, or even OWASP's 19 MiB setting, takes a
# worker past its budget of 120 MB resident (docs/performance.md). Hashes made with other
# parameters are upgraded at the next sign-in (password_needs_rehash).
_passwords = PasswordHasher(time_cost=5, memory_cost=7 * 1024, parallelism=1)
# One password hash at a time in a process: a worker's threads (gunicorn_conf) hashing side
# by side would each hold those 7 MiB. They would not finish sooner either: a worker has
# one core's worth of the machine.
_one_hash_at_a_time = threading.Lock()


def hash_password(password: str) -> str:
    with _one_hash_at_a_time:
        return _passwords.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-time check; a user without a hash is checked against a dummy, so the time
    taken does not tell whether the account exists."""
    try:
        with _one_hash_at_a_time:
            matches = _passwords.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and password_hash is not None


def password_needs_rehash(password_hash: str) -> bool:
    return _passwords.check_needs_rehash(password_hash)


def token_digest(value: str) -> str:
    """The stored form of a high-entropy token or secret."""
    return hashlib.sha256(value.encode()).hexdigest()


def digest_matches(stored_digest: str | None, presented: str) -> bool:
    return stored_digest is not None and hmac.compare_digest(stored_digest, token_digest(presented))


_DUMMY_HASH = _passwords.hash("no user has this password")
