"""The signing key ring: keys at rest, the first keys, states, and workers following a rotation."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

import oidc_provider.oidc.keys
from oidc_provider.core import clock
from oidc_provider.core.encryption import decrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import SigningKey
from oidc_provider.oidc.keys import KeyRingError, create_key, key_ring, key_state, retire, rotate
from tests.conftest import build_app

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


class Monotonic:
    """time.monotonic as the key ring sees it, moved by hand."""

    def __init__(self):
        self.value = 1_000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def monotonic(monkeypatch) -> Monotonic:
    fake = Monotonic()
    monkeypatch.setattr(oidc_provider.oidc.keys, "time", SimpleNamespace(monotonic=fake))
    return fake


def rows(app) -> list[SigningKey]:
    with app.app_context():
        found = list(db.session.scalars(select(SigningKey).order_by(SigningKey.alg, SigningKey.activates_at)))
        db.session.expunge_all()
        return found


def test_private_keys_are_encrypted_at_rest(fresh_signing_keys):
    app = fresh_signing_keys
    for row in rows(app):
        columns = [str(getattr(row, c.key)) for c in SigningKey.__table__.columns]
        with app.app_context():
            private = json.loads(decrypt(row.private_jwk_encrypted))
        assert PRIVATE_MEMBERS & set(private) == ({"d"} if row.alg == "ES256" else PRIVATE_MEMBERS)
        assert not any("PRIVATE KEY" in value for value in columns)
        for member in PRIVATE_MEMBERS & set(private):
            assert not any(private[member] in value for value in columns)
        assert not PRIVATE_MEMBERS & set(row.public_jwk)
        assert row.public_jwk["kid"] == row.kid and row.public_jwk["alg"] == row.alg


def test_the_first_keys_are_made_on_demand_and_active_at_once(fresh_signing_keys):
    app = fresh_signing_keys
    with app.app_context():
        db.session.execute(SigningKey.__table__.delete())
        db.session.commit()
        key_ring().invalidate()

        signer = key_ring().signing_key("ES256")

        assert signer.alg == "ES256"
        assert key_ring().has_active_keys()
        assert sorted(k["alg"] for k in key_ring().jwks()["keys"]) == ["ES256", "RS256"]
    assert len(rows(app)) == 2


def test_jwks_makes_the_first_keys_too(fresh_signing_keys):
    app = fresh_signing_keys
    with app.app_context():
        db.session.execute(SigningKey.__table__.delete())
        db.session.commit()
        key_ring().invalidate()

        published = key_ring().jwks()["keys"]

    assert sorted(k["alg"] for k in published) == ["ES256", "RS256"]
    assert {k["kid"] for k in published} == {r.kid for r in rows(app)}


def test_rotate_adds_one_key_of_each_algorithm_after_the_delay(fresh_signing_keys, frozen_clock):
    app = fresh_signing_keys
    with app.app_context():
        new = rotate()
        assert sorted(r.alg for r in new) == ["ES256", "RS256"]
        assert all(r.activates_at == clock.now() + timedelta(seconds=3600) for r in new)
        assert all(key_state(r, rows(app)) == "published" for r in new)


def test_a_key_of_an_unsupported_algorithm_is_refused(fresh_signing_keys):
    with fresh_signing_keys.app_context(), pytest.raises(KeyRingError, match="unsupported algorithm 'HS256'"):
        create_key("HS256", clock.now())


def test_with_every_key_of_an_algorithm_retired_signing_is_refused(fresh_signing_keys, frozen_clock):
    app = fresh_signing_keys
    with app.app_context():
        for row in db.session.scalars(select(SigningKey).where(SigningKey.alg == "RS256")):
            row.retired_at = clock.now()
        db.session.commit()
        key_ring().invalidate()

        with pytest.raises(KeyRingError, match="no active RS256 key"):
            key_ring().signing_key("RS256")
        assert key_ring().signing_key("ES256").alg == "ES256"
        assert not key_ring().has_active_keys()


def test_retire_checks_the_kid(fresh_signing_keys):
    with fresh_signing_keys.app_context(), pytest.raises(KeyRingError, match="no signing key with kid 'nope'"):
        retire("nope")


def test_a_worker_rereads_the_keys_only_after_the_refresh_interval(fresh_signing_keys, frozen_clock, monotonic):
    app = fresh_signing_keys
    interval = app.config["KEY_REFRESH_INTERVAL"]
    with app.app_context():
        ring = key_ring()
        before = {k["kid"] for k in ring.jwks()["keys"]}
        # Made behind the ring's back, as another instance would.
        row = create_key("RS256", clock.now())
        db.session.commit()

        monotonic.value += interval - 0.001
        assert {k["kid"] for k in ring.jwks()["keys"]} == before
        assert ring.signing_key("RS256").kid != row.kid

        monotonic.value += 0.001
        assert {k["kid"] for k in ring.jwks()["keys"]} == before | {row.kid}
        assert ring.signing_key("RS256").kid == row.kid


def test_another_instance_follows_a_rotation_within_the_refresh_interval(
    fresh_signing_keys, frozen_clock, monotonic, tmp_path, runner
):
    first = fresh_signing_keys
    second = build_app(first.config["SQLALCHEMY_DATABASE_URI"], tmp_path, KEY_REFRESH_INTERVAL=2)
    try:
        worker = second.test_client()
        old_kids = {k["kid"] for k in worker.get("/jwks.json").json["keys"]}
        with second.app_context():
            old_signer = key_ring().signing_key("RS256").kid

        result = runner.invoke(args=["keys", "rotate", "--json"])  # on the first instance
        assert result.exit_code == 0, result.output
        new_kids = {k["kid"] for k in json.loads(result.stdout)}

        monotonic.value += 1.9
        assert {k["kid"] for k in worker.get("/jwks.json").json["keys"]} == old_kids
        monotonic.value += 0.1
        assert {k["kid"] for k in worker.get("/jwks.json").json["keys"]} == old_kids | new_kids

        frozen_clock.advance(first.config["KEY_ACTIVATION_DELAY"])
        with second.app_context():
            assert key_ring().signing_key("RS256").kid in new_kids
            assert key_ring().signing_key("RS256").kid != old_signer
    finally:
        with second.app_context():
            db.engine.dispose()
