"""Forwarding each stored webhook event to the partner's own systems (WEBHOOK_FORWARD_URL).

The event goes through the outbox, written in the transaction that judged the delivery:
it is forwarded at least once even while the partner's system is down, with the outbox's
backoff. A 2xx answer delivers it; a 5xx, a 429 or no answer is retried; any other 4xx is
final and shown to admins. The partner's receiver should de-duplicate by ``deliveryId``.
Duplicates, invalid and non-JSON deliveries are not forwarded: they stay for an admin.
"""

from __future__ import annotations

from datetime import datetime

import requests
from flask import current_app

from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.errors import ServerError, TooManyRequests, TransportError, UndocumentedError

FORWARD = "webhook_forward"
ENVIRONMENT = "partner"  # not a ServiceTitan environment: the partner's own system


def enqueue(delivery_id: int, topic: str, received_at: datetime, document) -> None:
    """Queue a delivery's event for forwarding, when a URL is set; the caller's commit makes
    it real."""
    if not current_app.config["WEBHOOK_FORWARD_URL"]:
        return
    payload = {"deliveryId": delivery_id, "topic": topic, "receivedAt": received_at.isoformat(), "event": document}
    outbox.enqueue(FORWARD, ENVIRONMENT, f"forward:{delivery_id}", payload)


def send(payload: dict, session: requests.Session) -> None:
    """POST one event to the partner; raises a retryable or final LeadsApiError."""
    config = current_app.config
    headers = {"Content-Type": "application/json"}
    if config["WEBHOOK_FORWARD_TOKEN"]:
        headers["Authorization"] = f"Bearer {config['WEBHOOK_FORWARD_TOKEN']}"
    timeout = config["SERVICETITAN_TIMEOUT"]
    try:
        response = session.post(
            config["WEBHOOK_FORWARD_URL"], json=payload, headers=headers, timeout=(timeout, timeout)
        )
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
