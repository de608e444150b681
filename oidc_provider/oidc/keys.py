"""The signing key ring: RS256 and ES256 keys in the database, one active of each.

A rotation publishes the new key in JWKS at once and signs with it only after
``KEY_ACTIVATION_DELAY``, so that a relying party's cached key set knows it before it meets
it. Each worker keeps the parsed keys in memory and re-reads the table every
``KEY_REFRESH_INTERVAL`` seconds: a rotation made through any instance is followed by every
worker within seconds, without a restart, and no request parses a key.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken
from flask import current_app
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.encryption import decrypt, encrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import SigningKey

ASYMMETRIC_ALGS = ("RS256", "ES256")


class KeyRingError(Exception):
    """A key operation that the rules refuse; the message says why."""


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    alg: str
    activates_at: datetime
    retired_at: datetime | None
    created_at: datetime
    public_jwk: dict
    private_key: RSAKey | ECKey


def _generate_private_key(alg: str) -> RSAKey | ECKey:
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    return ECKey.generate_key("P-256", private=True)


def create_key(alg: str, activates_at: datetime) -> SigningKey:
    """Generate a key and add it to the session (the caller commits)."""
    if alg not in ASYMMETRIC_ALGS:
        raise KeyRingError(f"unsupported algorithm {alg!r}; use one of {', '.join(ASYMMETRIC_ALGS)}")
    key = _generate_private_key(alg)
    kid = f"{alg.lower()}-{secrets.token_urlsafe(12)}"
    public = key.as_dict(private=False)
    public.update(kid=kid, alg=alg, use="sig")
    row = SigningKey(
        kid=kid,
        alg=alg,
        private_jwk_encrypted=encrypt(json.dumps(key.as_dict(private=True))),
        public_jwk=public,
        created_at=clock.now(),
        activates_at=activates_at,
    )
    db.session.add(row)
    return row


def rotate(activate_now: bool = False, actor: str = "cli") -> list[SigningKey]:
    """Publish a new key of every algorithm. ``activate_now`` is for a compromised key."""
    delay = 0 if activate_now else current_app.config["KEY_ACTIVATION_DELAY"]
    activates_at = clock.now() + timedelta(seconds=delay)
    rows = [create_key(alg, activates_at) for alg in ASYMMETRIC_ALGS]
    record_event(
        "signing_keys_rotated",
        actor,
        {
            "kids": [r.kid for r in rows],
            "activate_now": activate_now,
            "activates_at": activates_at.isoformat(),
        },
    )
    db.session.commit()
    key_ring().invalidate()
    return rows


def key_state(row: SigningKey | LoadedKey, keys: list) -> str:
    """published, active, retiring or retired — among ``keys``, all rows of its algorithm."""
    now = clock.now()
    if row.retired_at is not None:
        return "retired"
    if row.activates_at > now:
        return "published"
    active = _active_among(keys, row.alg, now)
    return "active" if active is not None and active.kid == row.kid else "retiring"


def retire_refusal(row: SigningKey, siblings: list[SigningKey]) -> str | None:
    """Why ``row`` may not be retired now (``siblings``: every row of its algorithm), or
    None when it may."""
    state = key_state(row, siblings)
    if state == "retired":
        return f"key {row.kid} is already retired"
    if state == "active":
        return f"key {row.kid} is the active {row.alg} key; rotate first"
    if state == "retiring":
        # The key signed until its successor became active; a token it signed then stays
        # presentable for one id_token lifetime.
        successor_start = min(
            (k.activates_at for k in siblings if k.activates_at > row.activates_at and k.retired_at is None),
            default=row.activates_at,  # a successor activated at the same instant
        )
        usable_until = successor_start + timedelta(seconds=current_app.config["ID_TOKEN_LIFETIME"])
        if clock.now() < usable_until:
            return f"key {row.kid} may still verify id_tokens until {usable_until.isoformat()}; retire it after that"
    return None


def retire(kid: str, actor: str = "cli") -> SigningKey:
    """Stop publishing a key. Refused while an id_token it signed could still be presented."""
    row = db.session.get(SigningKey, kid)
    if row is None:
        raise KeyRingError(f"no signing key with kid {kid!r}")
    siblings = list(db.session.scalars(select(SigningKey).where(SigningKey.alg == row.alg)))
    if refusal := retire_refusal(row, siblings):
        raise KeyRingError(refusal)
    row.retired_at = clock.now()
    record_event("signing_key_retired", actor, {"kid": kid, "alg": row.alg})
    db.session.commit()
    key_ring().invalidate()
    return row


def keys_due_for_rotation() -> list[SigningKey]:
    """Active keys that have signed for longer than KEY_ROTATION_PERIOD with no successor
    published yet: ``keys rotate`` is due."""
    now = clock.now()
    period = timedelta(seconds=current_app.config["KEY_ROTATION_PERIOD"])
    rows = list(db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))))
    due = []
    for alg in sorted({row.alg for row in rows}):
        active = _active_among(rows, alg, now)
        successor = any(r.alg == alg and r.activates_at > now for r in rows)
        if active is not None and not successor and now - active.activates_at > period:
            due.append(active)
    return due


def _active_among(keys, alg: str, now: datetime):
    candidates = [k for k in keys if k.alg == alg and k.retired_at is None and k.activates_at <= now]
    return max(candidates, key=lambda k: (k.activates_at, k.created_at), default=None)


class KeyRing:
    """The worker's cache of the signing keys table."""

    def __init__(self, refresh_interval: float):
        self.refresh_interval = refresh_interval
        self._keys: dict[str, LoadedKey] = {}
        self._loaded_at = float("-inf")
        # Counts reads of the table and invalidations: a JWKS built from one read is current
        # while the count is unchanged and the read is younger than the interval.
        self._generation = 0

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")
        self._generation += 1

    def _load(self) -> list[LoadedKey]:
        if time.monotonic() - self._loaded_at < self.refresh_interval:
            return list(self._keys.values())
        rows = db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))).all()
        keys = {}
        for row in rows:
            cached = self._keys.get(row.kid)
            private = cached.private_key if cached else _import_private(row)
            keys[row.kid] = LoadedKey(
                row.kid, row.alg, row.activates_at, row.retired_at, row.created_at, row.public_jwk, private
            )
        self._keys = keys
        self._loaded_at = time.monotonic()
        self._generation += 1
        return list(keys.values())

    def signing_key(self, alg: str) -> LoadedKey:
        """The active key for ``alg``."""
        active = _active_among(self._load(), alg, clock.now())
        if active is None and self._create_first_keys():
            active = _active_among(self._load(), alg, clock.now())
        if active is None:
            raise KeyRingError(
                f"no active {alg} key: every one is retired or not yet active; run flask --app oidc_provider keys rotate --activate-now"
            )
        return active

    def _create_first_keys(self) -> bool:
        """Make the very first key of each algorithm, active at once: no relying party can
        have cached a key set without it. Answers whether it made any."""
        if self._keys:
            return False
        present = set(db.session.scalars(select(SigningKey.alg).distinct()))
        for alg in ASYMMETRIC_ALGS:
            if alg not in present:
                create_key(alg, clock.now())
        if present.issuperset(ASYMMETRIC_ALGS):
            return False
        db.session.commit()
        self.invalidate()
        return True

    def has_active_keys(self) -> bool:
        """Whether every algorithm has a key that signs now. On an empty table the first
        keys are made here, as for JWKS: a readiness check that waited for the first
        id_token would keep a new deployment out of its load balancer for good."""
        if not self._load():
            self._create_first_keys()
        now = clock.now()
        keys = self._load()
        return all(_active_among(keys, alg, now) is not None for alg in ASYMMETRIC_ALGS)

    def jwks(self) -> dict:
        """Every published key: the pending, the active and the retiring ones."""
        if not self._load():
            self._create_first_keys()
        keys = sorted(self._load(), key=lambda k: (k.alg, k.activates_at))
        return {"keys": [k.public_jwk for k in keys]}

    def published(self) -> tuple[dict, Callable[[], bool]]:
        """JWKS, and a check that answers whether it still is what this worker would publish:
        false once the ring has re-read the table, been invalidated (a rotation here), or is
        due to re-read it (a rotation through another instance is seen within the interval,
        as for signing). A read by another thread between the two lines keeps a document at
        most one more interval."""
        document = self.jwks()
        generation = self._generation
        return (
            document,
            lambda: self._generation == generation and time.monotonic() - self._loaded_at < self.refresh_interval,
        )


def _import_private(row: SigningKey) -> RSAKey | ECKey:
    key_type = RSAKey if row.alg == "RS256" else ECKey
    try:
        private_jwk = decrypt(row.private_jwk_encrypted)
    except InvalidToken:
        # An encryption key was taken out of the setting before `flask keys reencrypt` ran.
        raise KeyRingError(
            f"key {row.kid} cannot be decrypted with OIDC_PROVIDER_ENCRYPTION_KEYS; "
            "put back the key it was encrypted with"
        ) from None
    return key_type.import_key(json.loads(private_jwk))


def key_ring() -> KeyRing:
    ring = current_app.extensions.get("oidc_provider.key_ring")
    if ring is None:
        ring = current_app.extensions["oidc_provider.key_ring"] = KeyRing(current_app.config["KEY_REFRESH_INTERVAL"])
    return ring
