"""flask keys: rotate (delayed or at once), list with states, retire only when no token needs the key."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from oidc_provider.core.encryption import decrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, SigningKey

ACTIVATION_DELAY = 3600  # the test app's KEY_ACTIVATION_DELAY
ID_TOKEN_LIFETIME = 3600


@pytest.fixture
def keys_app(fresh_signing_keys, frozen_clock):
    """Keys active since yesterday, the clock held at now."""
    return fresh_signing_keys


def keys(runner, *args):
    return runner.invoke(args=["keys", *args])


def listed(runner) -> list[dict]:
    result = keys(runner, "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def states(runner) -> dict[str, str]:
    return {k["kid"]: k["state"] for k in listed(runner)}


def rotated(runner, *options) -> dict[str, str]:
    """The new kid of each algorithm."""
    result = keys(runner, "rotate", *options, "--json")
    assert result.exit_code == 0, result.output
    return {k["alg"]: k["kid"] for k in json.loads(result.stdout)}


def active(runner) -> dict[str, str]:
    return {k["alg"]: k["kid"] for k in listed(runner) if k["state"] == "active"}


def jwks_kids(web) -> list[str]:
    response = web.get("/jwks.json")
    assert response.status_code == 200
    return [k["kid"] for k in response.json["keys"]]


def header(id_token: str) -> dict:
    segment = id_token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def signed_by(web, flows, client) -> str:
    """The kid in the header of a fresh id_token, after checking its signature against JWKS."""
    id_token = flows.tokens(client)["id_token"]
    jwt.decode(id_token, KeySet.import_key_set(web.get("/jwks.json").json))
    return header(id_token)["kid"]


# -- list -------------------------------------------------------------------------------------


def test_list_shows_one_active_key_of_each_algorithm(runner, keys_app):
    result = listed(runner)

    assert sorted((k["alg"], k["state"]) for k in result) == [("ES256", "active"), ("RS256", "active")]
    for key in result:
        assert set(key) == {"kid", "alg", "state", "created_at", "activates_at", "retired_at", "age_seconds"}
        assert key["retired_at"] is None


def test_list_without_json_names_each_key_and_state(runner, keys_app):
    kids = active(runner)

    result = keys(runner, "list")

    assert result.exit_code == 0
    for alg, kid in kids.items():
        assert any(alg in line and "active" in line and kid in line for line in result.stdout.splitlines())


def test_list_goes_through_published_active_retiring_and_retired(runner, keys_app, frozen_clock):
    first = active(runner)
    second = rotated(runner)
    assert states(runner) == {**{k: "active" for k in first.values()}, **{k: "published" for k in second.values()}}

    frozen_clock.advance(ACTIVATION_DELAY)
    third = rotated(runner)
    assert states(runner) == {
        **{k: "retiring" for k in first.values()},
        **{k: "active" for k in second.values()},
        **{k: "published" for k in third.values()},
    }

    frozen_clock.advance(ID_TOKEN_LIFETIME)
    for kid in first.values():
        assert keys(runner, "retire", kid).exit_code == 0
    assert states(runner) == {
        **{k: "retired" for k in first.values()},
        **{k: "retiring" for k in second.values()},
        **{k: "active" for k in third.values()},
    }


# -- rotate -----------------------------------------------------------------------------------


def test_rotate_publishes_at_once_and_signs_only_after_the_activation_delay(
    runner, keys_app, frozen_clock, make, web, flows
):
    make.directory()
    rs256, es256 = make.client(id_token_alg="RS256"), make.client(id_token_alg="ES256", name="ST ES256")
    old = active(runner)

    new = rotated(runner)

    assert set(new) == {"RS256", "ES256"}
    assert set(new.values()) | set(old.values()) == set(jwks_kids(web))
    assert signed_by(web, flows, rs256) == old["RS256"]
    assert signed_by(web, flows, es256) == old["ES256"]

    frozen_clock.advance(ACTIVATION_DELAY - 1)
    assert signed_by(web, flows, rs256) == old["RS256"]

    frozen_clock.advance(1)
    assert signed_by(web, flows, rs256) == new["RS256"]
    assert signed_by(web, flows, es256) == new["ES256"]
    # The old keys stay published: tokens they signed an instant ago must still verify.
    assert set(jwks_kids(web)) == set(new.values()) | set(old.values())


def test_rotate_activate_now_signs_with_the_new_key_at_once(runner, keys_app, make, web, flows):
    make.directory()
    client = make.client(id_token_alg="RS256")
    old = active(runner)

    new = rotated(runner, "--activate-now")

    assert active(runner) == new
    assert states(runner)[old["RS256"]] == "retiring"
    assert signed_by(web, flows, client) == new["RS256"]
    assert old["RS256"] in jwks_kids(web)


def test_rotate_without_json_says_when_each_key_signs(runner, keys_app):
    result = keys(runner, "rotate")

    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("published ") and "signing from" in line for line in lines)


# -- retire -----------------------------------------------------------------------------------


def test_the_active_key_cannot_be_retired(runner, keys_app, web):
    kid = active(runner)["RS256"]

    result = keys(runner, "retire", kid, "--json")

    assert result.exit_code == 1
    assert f"key {kid} is the active RS256 key; rotate first" in result.stderr
    assert states(runner)[kid] == "active"
    assert kid in jwks_kids(web)


def test_a_retiring_key_is_kept_while_an_id_token_it_signed_may_be_presented(runner, keys_app, frozen_clock, web):
    old = active(runner)["RS256"]
    rotated(runner)
    frozen_clock.advance(ACTIVATION_DELAY)  # the successor signs from now on
    assert states(runner)[old] == "retiring"

    refused = keys(runner, "retire", old)
    assert refused.exit_code == 1
    assert f"key {old} may still verify id_tokens until" in refused.stderr

    frozen_clock.advance(ID_TOKEN_LIFETIME - 1)
    assert keys(runner, "retire", old).exit_code == 1
    assert states(runner)[old] == "retiring"

    frozen_clock.advance(1)
    result = keys(runner, "retire", old, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kid"] == old
    assert states(runner)[old] == "retired"
    assert old not in jwks_kids(web)


def test_a_retired_key_cannot_be_retired_again(runner, keys_app, frozen_clock):
    old = active(runner)["ES256"]
    rotated(runner, "--activate-now")
    frozen_clock.advance(ID_TOKEN_LIFETIME)
    assert keys(runner, "retire", old).exit_code == 0

    result = keys(runner, "retire", old)

    assert result.exit_code == 1
    assert f"key {old} is already retired" in result.stderr


def test_a_key_not_yet_signing_may_be_withdrawn(runner, keys_app, web):
    new = rotated(runner)["RS256"]

    result = keys(runner, "retire", new)

    assert result.exit_code == 0, result.output
    assert new not in jwks_kids(web)


def test_an_unknown_kid_is_named(runner, keys_app):
    result = keys(runner, "retire", "rs256-nope", "--json")

    assert result.exit_code == 1
    assert "no signing key with kid 'rs256-nope'" in result.stderr
    assert result.stdout == ""


# -- reencrypt --------------------------------------------------------------------------------


def test_reencrypt_moves_every_stored_secret_under_the_first_encryption_key(runner, keys_app, make, monkeypatch):
    hs256 = make.client(id_token_alg="HS256")
    old_key = keys_app.config["ENCRYPTION_KEYS"][0]
    new_key = Fernet.generate_key().decode()
    monkeypatch.setitem(keys_app.config, "ENCRYPTION_KEYS", [new_key, old_key])

    result = keys(runner, "reencrypt", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"reencrypted": 3}  # two signing keys, one HS256 secret
    monkeypatch.setitem(keys_app.config, "ENCRYPTION_KEYS", [new_key])
    with keys_app.app_context():
        assert decrypt(db.session.scalar(select(Client.secret_encrypted))) == hs256.client_secret
        for row in db.session.scalars(select(SigningKey)):
            assert "d" in json.loads(decrypt(row.private_jwk_encrypted))
