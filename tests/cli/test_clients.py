"""flask clients: registration rules, the secret's storage and lifecycle, disable and delete."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets

import pytest
from sqlalchemy import func, select

from oidc_provider.core.encryption import decrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, Client, Consent, Pairing
from tests.factories import SERVICETITAN_CALLBACK, RegisteredClient

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def clients(runner, *args):
    return runner.invoke(args=["clients", *args])


def create(runner, *extra, name="ServiceTitan", redirect_uri=SERVICETITAN_CALLBACK) -> dict:
    result = clients(runner, "create", "--name", name, "--redirect-uri", redirect_uri, *extra, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def registered(data: dict, scope="openid profile email") -> RegisteredClient:
    return RegisteredClient(data["client_id"], data["client_secret"], data["redirect_uris"][0], scope)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def stored_client(app, client_id: str) -> Client:
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        db.session.expunge(client)
        return client


def every_stored_value(app) -> list[str]:
    """Every column of every row of every table, as text."""
    with app.app_context():
        values = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                values += [json.dumps(v, default=str) if not isinstance(v, str) else v for v in row]
        return values


# -- create ---------------------------------------------------------------------------------


def test_create_prints_url_safe_credentials_with_a_256_bit_secret(runner, clean_app):
    data = create(runner, "--scope", "openid profile email")

    assert URL_SAFE.fullmatch(data["client_id"])
    assert URL_SAFE.fullmatch(data["client_secret"])
    assert len(data["client_secret"]) >= 43  # 43 base64url characters carry 256 bits
    assert data["redirect_uris"] == [SERVICETITAN_CALLBACK]
    assert data["scope"] == "openid profile email"
    assert data["id_token_alg"] == "RS256"
    assert data["default_response_mode"] == "form_post"
    assert data["enabled"] is True
    assert count(clean_app, Client) == 1


def test_create_without_json_prints_both_credentials_for_a_person(runner, clean_app):
    result = clients(runner, "create", "--name", "ServiceTitan", "--redirect-uri", SERVICETITAN_CALLBACK)

    assert result.exit_code == 0, result.output
    client_id = re.search(r"client_id:\s+(\S+)", result.stdout).group(1)
    secret = re.search(r"client_secret:\s+(\S+)", result.stdout).group(1)
    assert stored_client(clean_app, client_id).check_client_secret(secret)


def test_a_client_id_never_starts_with_a_dash(runner, monkeypatch):
    """The command line would read such an id as an option (one id in 64 would)."""
    drawn = iter(["-looks-like-an-option", "AbC-dEf_123"])
    real = secrets.token_urlsafe
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes=None: next(drawn) if nbytes == 18 else real(nbytes))

    data = create(runner)

    assert data["client_id"] == "AbC-dEf_123"
    assert clients(runner, "show", data["client_id"]).exit_code == 0


def test_two_clients_get_different_credentials(runner):
    first, second = create(runner), create(runner)

    assert first["client_id"] != second["client_id"]
    assert first["client_secret"] != second["client_secret"]


def test_the_secret_of_a_client_is_stored_only_as_its_hash(runner, clean_app):
    data = create(runner, "--id-token-alg", "ES256")
    secret = data["client_secret"]

    client = stored_client(clean_app, data["client_id"])
    assert client.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert client.secret_encrypted is None
    assert not any(secret in value for value in every_stored_value(clean_app))


def test_an_hs256_secret_is_stored_encrypted_never_plain(runner, clean_app):
    data = create(runner, "--id-token-alg", "HS256")
    secret = data["client_secret"]

    client = stored_client(clean_app, data["client_id"])
    assert client.secret_hash is None
    assert client.secret_encrypted not in (secret, hashlib.sha256(secret.encode()).hexdigest())
    with clean_app.app_context():
        assert decrypt(client.secret_encrypted) == secret
    assert not any(secret in value for value in every_stored_value(clean_app))


def test_every_redirect_uri_is_registered(runner):
    result = clients(
        runner,
        "create",
        "--name",
        "ST",
        "--redirect-uri",
        SERVICETITAN_CALLBACK,
        "--redirect-uri",
        "http://127.0.0.1:5001/callback",
        "--json",
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["redirect_uris"] == [SERVICETITAN_CALLBACK, "http://127.0.0.1:5001/callback"]


@pytest.mark.parametrize(
    "uri, named",
    [
        ("not a url", "'not a url'"),
        ("http://servicetitan.example/callback", "must use https"),
        ("ftp://servicetitan.example/callback", "https"),
        ("https://servicetitan.example/callback#frag", "fragment"),
        ("https://user:pw@servicetitan.example/callback", "user information"),
        ("/callback", "absolute"),
    ],
)
def test_a_bad_redirect_uri_is_refused_by_name(runner, clean_app, uri, named):
    result = clients(runner, "create", "--name", "ST", "--redirect-uri", uri, "--json")

    assert result.exit_code == 1
    assert "redirect_uris" in result.stderr and named in result.stderr
    assert count(clean_app, Client) == 0


def test_http_is_allowed_on_loopback_redirect_uris(runner):
    for uri in ("http://127.0.0.1:5001/callback", "http://localhost/cb", "http://[::1]:8080/cb"):
        assert create(runner, redirect_uri=uri)["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    "scope, named",
    [
        ("profile email", "openid"),
        ("openid offline_access", "'offline_access'"),
    ],
)
def test_a_bad_scope_is_refused_by_name(runner, clean_app, scope, named):
    result = clients(runner, "create", "--name", "ST", "--redirect-uri", SERVICETITAN_CALLBACK, "--scope", scope)

    assert result.exit_code == 1
    assert "scope" in result.stderr and named in result.stderr
    assert count(clean_app, Client) == 0


def test_the_account_info_claim_with_asynchronous_pairing_is_refused(runner, clean_app):
    result = clients(
        runner,
        "create",
        "--name",
        "ST",
        "--redirect-uri",
        SERVICETITAN_CALLBACK,
        "--account-info-claim",
        "--async-pairing",
        "--json",
    )

    assert result.exit_code == 1
    assert "async_pairing" in result.stderr and "accountInfo" in result.stderr
    assert count(clean_app, Client) == 0


def test_each_of_the_two_is_allowed_alone(runner):
    assert create(runner, "--account-info-claim")["account_info_claim"] is True
    assert create(runner, "--async-pairing")["async_pairing"] is True


def test_an_unknown_id_token_algorithm_is_a_usage_error(runner, clean_app):
    result = clients(
        runner, "create", "--name", "ST", "--redirect-uri", SERVICETITAN_CALLBACK, "--id-token-alg", "none"
    )

    assert result.exit_code == 2
    assert "--id-token-alg" in result.stderr
    assert count(clean_app, Client) == 0


def test_a_name_is_required(runner, clean_app):
    result = clients(runner, "create", "--name", "  ", "--redirect-uri", SERVICETITAN_CALLBACK)

    assert result.exit_code == 1
    assert "name" in result.stderr
    assert count(clean_app, Client) == 0


# -- list and show --------------------------------------------------------------------------


def test_list_and_show_report_settings_without_the_secret(runner):
    data = create(runner, "--name", "ServiceTitan Prod")

    listed = clients(runner, "list", "--json")
    shown = clients(runner, "show", data["client_id"], "--json")

    assert listed.exit_code == 0 and shown.exit_code == 0
    assert [c["client_id"] for c in json.loads(listed.stdout)] == [data["client_id"]]
    assert json.loads(shown.stdout)["name"] == "ServiceTitan Prod"
    assert data["client_secret"] not in listed.output + shown.output
    assert "client_secret" not in json.loads(shown.stdout)


def test_list_without_json_names_each_client(runner):
    data = create(runner, "--name", "ServiceTitan Prod")

    result = clients(runner, "list")

    assert result.exit_code == 0
    assert data["client_id"] in result.stdout and "ServiceTitan Prod" in result.stdout


def test_list_of_no_clients_is_an_empty_json_list(runner):
    result = clients(runner, "list", "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["rotate-secret"],
        ["disable"],
        ["enable"],
        ["delete", "--yes"],
    ],
)
def test_an_unknown_client_id_is_named(runner, command):
    result = clients(runner, *command, "no-such-client", "--json")

    assert result.exit_code == 1
    assert "no client with client_id 'no-such-client'" in result.stderr


# -- rotate-secret --------------------------------------------------------------------------


def test_rotate_secret_the_new_secret_works_and_the_old_is_refused(runner, clean_app, make, flows):
    make.directory()
    old = registered(create(runner, "--scope", "openid profile email"))

    result = clients(runner, "rotate-secret", old.client_id, "--json")

    assert result.exit_code == 0, result.output
    rotated = json.loads(result.stdout)
    assert rotated["client_id"] == old.client_id
    assert URL_SAFE.fullmatch(rotated["client_secret"]) and len(rotated["client_secret"]) >= 43
    new = dataclasses.replace(old, client_secret=rotated["client_secret"])
    code = flows.code(new)
    refused = flows.exchange(old, code)
    assert refused.status_code == 401
    assert refused.json["error"] == "invalid_client"
    assert count(clean_app, AccessToken) == 0
    accepted = flows.exchange(new, code)
    assert accepted.status_code == 200, accepted.json


def test_rotate_secret_with_a_grace_period_keeps_the_old_secret_until_it_ends(
    runner, clean_app, make, flows, frozen_clock
):
    make.directory()
    old = registered(create(runner, "--scope", "openid profile email"))
    result = clients(runner, "rotate-secret", old.client_id, "--grace-period", "600", "--json")
    assert result.exit_code == 0, result.output
    new = dataclasses.replace(old, client_secret=json.loads(result.stdout)["client_secret"])

    assert flows.exchange(old, flows.code(old)).status_code == 200
    assert flows.exchange(new, flows.code(new)).status_code == 200

    frozen_clock.advance(600)
    refused = flows.exchange(old, flows.code(old))
    assert refused.status_code == 401
    assert refused.json["error"] == "invalid_client"
    assert flows.exchange(new, flows.code(new)).status_code == 200
    assert count(clean_app, AccessToken) == 3


def test_rotating_an_hs256_secret_keeps_it_encrypted(runner, clean_app):
    data = create(runner, "--id-token-alg", "HS256")

    result = clients(runner, "rotate-secret", data["client_id"], "--grace-period", "60", "--json")

    secret = json.loads(result.stdout)["client_secret"]
    client = stored_client(clean_app, data["client_id"])
    with clean_app.app_context():
        assert decrypt(client.secret_encrypted) == secret
        assert decrypt(client.previous_secret_encrypted) == data["client_secret"]
    assert client.secret_hash is None and client.previous_secret_hash is None
    values = every_stored_value(clean_app)
    assert not any(secret in v or data["client_secret"] in v for v in values)


def test_a_negative_grace_period_is_refused(runner, clean_app):
    data = create(runner)

    result = clients(runner, "rotate-secret", data["client_id"], "--grace-period", "-5")

    assert result.exit_code == 1
    assert "grace_period" in result.stderr
    assert stored_client(clean_app, data["client_id"]).check_client_secret(data["client_secret"])


# -- disable, enable, delete -----------------------------------------------------------------


def test_a_disabled_client_is_refused_at_authorize_and_token(runner, clean_app, make, flows):
    make.directory()
    client = registered(create(runner, "--scope", "openid profile email"))
    code = flows.code(client)

    result = clients(runner, "disable", client.client_id, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["enabled"] is False
    page = flows.authorize(client)
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "invalid_client" in page.text
    exchanged = flows.exchange(client, code)
    assert exchanged.status_code == 401
    assert exchanged.json["error"] == "invalid_client"
    assert count(clean_app, AccessToken) == 0


def test_an_enabled_client_pairs_again(runner, clean_app, make, flows):
    make.directory()
    client = registered(create(runner, "--scope", "openid profile email"))
    clients(runner, "disable", client.client_id)

    result = clients(runner, "enable", client.client_id, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["enabled"] is True
    assert "access_token" in flows.tokens(client)


def test_delete_removes_the_client_with_its_pairings(runner, clean_app, make, flows):
    make.directory()
    client = registered(create(runner, "--scope", "openid profile email"))
    tokens = flows.tokens(client)
    assert flows.account_info(tokens["access_token"]).status_code == 200
    assert count(clean_app, Pairing) == 1

    result = clients(runner, "delete", client.client_id, "--yes", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"deleted": client.client_id}
    assert count(clean_app, Client) == 0
    assert count(clean_app, Pairing) == 0
    assert count(clean_app, AccessToken) == 0
    assert count(clean_app, Consent) == 0
    assert flows.account_info(tokens["access_token"]).status_code == 401


def test_delete_asks_first_and_keeps_the_client_when_declined(runner, clean_app):
    data = create(runner)

    result = runner.invoke(args=["clients", "delete", data["client_id"]], input="n\n")

    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert count(clean_app, Client) == 1


# -- every command ----------------------------------------------------------------------------


def test_every_reporting_command_takes_json(clean_app):
    """A new command that reports must keep the promise scripts rely on."""
    groups = ("clients", "directory", "keys", "admins")
    for group in groups:
        for name, command in clean_app.cli.commands[group].commands.items():
            assert "as_json" in [p.name for p in command.params], f"{group} {name} has no --json"
