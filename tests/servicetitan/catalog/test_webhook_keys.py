"""The webhook signing key: generated here or pasted from ServiceTitan, encrypted at rest,
two valid while rotating, compared in constant time."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, WebhookSigningKey
from oidc_provider.servicetitan.catalog.webhook_keys import (
    WebhookKeyError,
    generate,
    matches,
    paste,
    retire,
    reveal,
    valid_keys,
)


def test_a_generated_key_is_encrypted_at_rest(clean_app):
    with clean_app.app_context():
        row, value = generate("test")
        assert len(value) >= 43 and value not in row.key_encrypted
        assert reveal(row) == value
        assert matches(value) and not matches(value + "x") and not matches("")


def test_a_new_key_keeps_the_previous_one_valid_and_no_more(clean_app, frozen_clock):
    with clean_app.app_context():
        _, first = generate("test")
        frozen_clock.advance(1)
        paste("st-generated-key-0002", "test")
        assert matches(first) and matches("st-generated-key-0002")
        frozen_clock.advance(1)
        _, third = generate("test")
        assert [reveal(k) for k in valid_keys()] == [third, "st-generated-key-0002"]
        assert not matches(first)


def test_retiring_the_previous_key(clean_app):
    with clean_app.app_context():
        older, first = generate("test")
        newest = paste("st-generated-key-0002", "test")
        with pytest.raises(WebhookKeyError, match="this is the newest key"):
            retire(newest, "test")
        retire(older, "admin@partner.example")
        assert not matches(first)
        with pytest.raises(WebhookKeyError, match="already retired"):
            retire(older, "test")
        assert list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id))) == [
            "webhook_key_added",
            "webhook_key_added",
            "webhook_key_retired",
        ]


@pytest.mark.parametrize("value", ["", "too-short", "with space inside the key", "\u00e9" * 20, "x" * 513])
def test_a_pasted_key_must_fit_a_request_header(clean_app, value):
    with clean_app.app_context():
        with pytest.raises(WebhookKeyError, match="paste the key exactly as ServiceTitan shows it"):
            paste(value, "test")
        assert db.session.scalar(select(WebhookSigningKey.id)) is None


def test_the_same_key_is_not_saved_twice(clean_app):
    with clean_app.app_context():
        paste("st-generated-key-0001", "test")
        with pytest.raises(WebhookKeyError, match="this key is already saved"):
            paste("st-generated-key-0001", "test")
