"""The audit log: admin actions, pairings and security events, in one table."""

from __future__ import annotations

from flask import has_request_context, request

from .extensions import db
from .models import AuditEvent


def record_event(kind: str, actor: str = "", detail: dict | None = None) -> AuditEvent:
    """Add an event to the session; the caller's transaction commits it. Never put a
    secret, a token or a password in ``detail``."""
    detail = dict(detail or {})
    if has_request_context():
        detail.setdefault("remote_addr", request.remote_addr)
    event = AuditEvent(kind=kind, actor=actor, detail=detail)
    db.session.add(event)
    return event
