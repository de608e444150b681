"""The push of each event to the partner's own system (WEBHOOK_FORWARD_URL), signed as the
Standard Webhooks specification says (https://www.standardwebhooks.com).

The body is the event exactly as the feed shows it (``events.as_dict``). Its push is an
outbox message written in the transaction that records the event, so it is sent at least
once even while the partner's system is down, with the outbox's backoff (OUTBOX_RETRY_BASE
doubled per attempt up to OUTBOX_RETRY_MAX, with jitter, until delivered). A 2xx answer
delivers it; a 5xx, a 429 or no answer is retried; any other 4xx is final and shown to
admins. Each push is its own ordering key: one refused event holds back no other. The
receiver de-duplicates by ``webhook-id`` (the event's id) and orders by it.

Each attempt carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds of the attempt) and
``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256, under each secret of
WEBHOOK_FORWARD_SECRET (``whsec_`` and base64; two, space-separated, while one is rotated),
of ``{id}.{timestamp}.{body}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import requests
from flask import current_app

from oidc_provider.core import clock
from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.errors import ServerError, TooManyRequests, TransportError, UndocumentedError

FORWARD = "webhook_forward"
ENVIRONMENT = "partner"  # not a ServiceTitan environment: the partner's own system
SECRET_PREFIX = "whsec_"


def enqueue(event: dict) -> None:
    """Queue an event's push, when a URL is set; the caller's commit makes it real."""
    if not current_app.config["WEBHOOK_FORWARD_URL"]:
        return
    outbox.enqueue(FORWARD, ENVIRONMENT, f"event:{event['id']}", event)


def secret_keys(setting: str) -> list[bytes]:
    """The keys of WEBHOOK_FORWARD_SECRET: each ``whsec_<base64>``, space-separated."""
    return [base64.b64decode(part.removeprefix(SECRET_PREFIX), validate=True) for part in setting.split()]


def signature_headers(message_id: str, timestamp: int, body: bytes, keys: list[bytes]) -> dict[str, str]:
    """Standard Webhooks' headers for one attempt: one ``v1,`` signature per key."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    signatures = ["v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys]
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": " ".join(signatures)}


def send(payload: dict, session: requests.Session) -> None:
    """POST one event to the partner, signed; raises a retryable or final LeadsApiError."""
    config = current_app.config
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        **signature_headers(payload["id"], clock.timestamp(), body, secret_keys(config["WEBHOOK_FORWARD_SECRET"])),
    }
    timeout = config["SERVICETITAN_TIMEOUT"]
    try:
        response = session.post(config["WEBHOOK_FORWARD_URL"], data=body, headers=headers, timeout=(timeout, timeout))
    except requests.ConnectionError as error:
        raise TransportError(
            f"the partner's system did not answer: {type(error).__name__}",
            may_have_landed=not isinstance(error, requests.ConnectTimeout),
        ) from None
    except requests.RequestException as error:
        raise TransportError(f"the partner's system did not answer: {type(error).__name__}") from None
    if 200 <= response.status_code < 300:
        return
    message = f"the partner's system answered HTTP {response.status_code}"
    if response.status_code == 429:
        raise TooManyRequests(message, status=429)
    if response.status_code >= 500:
        raise ServerError(message, status=response.status_code)
    raise UndocumentedError(message, status=response.status_code)


outbox.register_sender(FORWARD, send)
