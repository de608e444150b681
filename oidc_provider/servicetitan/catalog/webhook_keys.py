"""The "Webhook Message Signing Key": the shared secret ServiceTitan sends with each webhook.

ServiceTitan's two documents disagree on who makes it (the manager's screen generates it,
the platform guide has the partner provide it), so both ways work: generate one here and
paste it into ServiceTitan, or paste the one ServiceTitan generated. The key arrives verbatim
in a request header, so it must be printable ASCII without spaces.

Each ServiceTitan environment (sandbox, production) is an integration of its own with its
own key set: a delivery is checked only against the keys of the environment whose URL it
came in at. Rotation keeps two keys valid per environment: the new one, and the one before it until ServiceTitan's
screen holds the new one and the admin retires the old. Keys are encrypted at rest because
the admin must be able to copy them again.

Each process keeps the values it read for ``KEY_REFRESH_INTERVAL`` seconds, as the signing
key ring does, so that a delivery with a known key costs no query (``recent_values``). A key
that is not among them is looked up again before the delivery is refused: a key added
through any process is accepted at once. A key retired through another process is accepted
here until the values are older than the interval; one retired through this process at once.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
import time

from flask import current_app
from sqlalchemy import bindparam, select

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.encryption import decrypt, encrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import WebhookSigningKey
from oidc_provider.servicetitan.environments import ENVIRONMENTS, PRODUCTION

KEY_MIN = 16
KEY_MAX = 512
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
VALID_AT_ONCE = 2


class WebhookKeyError(Exception):
    """A key operation the rules refuse; the message says why."""


def check_environment(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise WebhookKeyError(f"environment must be one of {', '.join(ENVIRONMENTS)}")
    return environment


def valid_keys(environment: str = PRODUCTION) -> list[WebhookSigningKey]:
    """The keys a delivery to ``environment`` may carry, newest first: at most two, while
    rotating."""
    return list(
        db.session.scalars(
            select(WebhookSigningKey)
            .where(WebhookSigningKey.retired_at.is_(None), WebhookSigningKey.environment == environment)
            .order_by(WebhookSigningKey.created_at.desc(), WebhookSigningKey.id.desc())
        )
    )


def reveal(key: WebhookSigningKey) -> str:
    return decrypt(key.key_encrypted)


def valid_values(environment: str = PRODUCTION) -> list[bytes]:
    """The values of ``environment``'s valid keys, read now: one small query, and each key
    decrypted once per process (a key's ciphertext never changes; re-encryption makes a new
    one). A key retired a moment ago is not among them. Kept for ``recent_values``."""
    forgotten = _forgotten()
    values = [
        _revealed(ciphertext) for ciphertext in db.session.scalars(_VALID_CIPHERTEXTS, {"environment": environment})
    ]
    if _forgotten() == forgotten:  # else a key changed while this read ran: it may hold a retired one
        _read().update({environment: (time.monotonic(), values)})
    return values


def recent_values(environment: str = PRODUCTION) -> list[bytes]:
    """``valid_values`` as this process read them less than ``KEY_REFRESH_INTERVAL`` seconds
    ago, else read now."""
    read_at, values = _read().get(environment, (float("-inf"), []))
    if time.monotonic() - read_at < current_app.config["KEY_REFRESH_INTERVAL"]:
        return values
    return valid_values(environment)


def forget_values() -> None:
    """Read the keys again at the next delivery: they changed."""
    _read().clear()
    current_app.extensions["oidc_provider.webhook_keys_forgotten"] = _forgotten() + 1


def _read() -> dict[str, tuple[float, list[bytes]]]:
    return current_app.extensions.setdefault("oidc_provider.webhook_keys", {})


def _forgotten() -> int:
    """How many times this process has forgotten the keys it read."""
    return current_app.extensions.get("oidc_provider.webhook_keys_forgotten", 0)


def matches(presented: str, values: list[bytes] | None = None, environment: str = PRODUCTION) -> bool:
    """Whether ``presented`` is one of ``environment``'s valid keys (``values``, from
    ``valid_values``, when the caller already read them), compared in constant time with each."""
    found = False
    for value in valid_values(environment) if values is None else values:
        found |= hmac.compare_digest(value, presented.encode())
    return found


_VALID_CIPHERTEXTS = select(WebhookSigningKey.key_encrypted).where(
    WebhookSigningKey.retired_at.is_(None), WebhookSigningKey.environment == bindparam("environment")
)


@functools.lru_cache(maxsize=2 * VALID_AT_ONCE * len(ENVIRONMENTS))
def _revealed(ciphertext: str) -> bytes:
    return decrypt(ciphertext).encode()


def generate(actor: str, environment: str = PRODUCTION) -> tuple[WebhookSigningKey, str]:
    """A new random key (256 bits, URL-safe) for ``environment``; its previous one stays valid."""
    check_environment(environment)
    value = secrets.token_urlsafe(32)
    return _add(value, "generated", actor, environment), value


def paste(value: str, actor: str, environment: str = PRODUCTION) -> WebhookSigningKey:
    """Take the key ServiceTitan's ``environment`` generated; its previous one stays valid.
    A key that is valid in the other environment is refused: it would let one environment's
    deliveries in at the other's URL."""
    check_environment(environment)
    value = value.strip()
    if not KEY_MIN <= len(value) <= KEY_MAX or not _HEADER_SAFE.fullmatch(value):
        raise WebhookKeyError(
            f"paste the key exactly as ServiceTitan shows it: {KEY_MIN} to {KEY_MAX} visible characters, no spaces"
        )
    for name in ENVIRONMENTS:
        if any(hmac.compare_digest(reveal(k).encode(), value.encode()) for k in valid_keys(name)):
            if name == environment:
                raise WebhookKeyError("this key is already saved")
            raise WebhookKeyError(f"this key is the {name} environment's: each environment needs a key of its own")
    return _add(value, "pasted", actor, environment)


def retire(key: WebhookSigningKey, actor: str) -> None:
    """Stop accepting an older key once ServiceTitan sends the newest."""
    current = valid_keys(key.environment)
    if key.retired_at is not None:
        raise WebhookKeyError("this key is already retired")
    if current and current[0].id == key.id:
        raise WebhookKeyError(
            "this is the newest key, the one ServiceTitan should send; generate or paste a new one instead"
        )
    key.retired_at = clock.now()
    record_event("webhook_key_retired", actor, {"key_id": key.id, "environment": key.environment})
    db.session.commit()
    forget_values()


def _add(value: str, source: str, actor: str, environment: str) -> WebhookSigningKey:
    now = clock.now()
    # Only the newest earlier key of the same environment stays valid beside the new one.
    for older in valid_keys(environment)[VALID_AT_ONCE - 1 :]:
        older.retired_at = now
    key = WebhookSigningKey(key_encrypted=encrypt(value), source=source, created_at=now, environment=environment)
    db.session.add(key)
    db.session.flush()
    record_event("webhook_key_added", actor, {"key_id": key.id, "source": source, "environment": environment})
    db.session.commit()
    forget_values()
    return key
