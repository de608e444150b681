"""--json: results on stdout, failures as one JSON object on stderr with a non-zero exit,
whether the command or click refused; without it, people's sentences."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clients", "show", "no-such-client"], "no client with client_id 'no-such-client'"),
        (["keys", "retire", "no-such-kid"], "no-such-kid"),
        (["outbox", "resend", "999"], "no outbox message #999"),
        (["bookings", "show", "no-such-booking"], "no booking with partnerBookingId 'no-such-booking'"),
        (["pairings", "approve", "no-such-request"], "no pairing with request id 'no-such-request'"),
        (["leads", "timeline", "no-such-booking"], "nothing is known about partnerBookingId 'no-such-booking'"),
        (["servicetitan", "webhook-keys", "retire", "999"], "no webhook key #999"),
    ],
)
def test_a_refusal_is_a_json_object_on_stderr(runner, args, message):
    result = runner.invoke(args=[*args, "--json"])

    assert result.exit_code == 1
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert set(error) == {"error", "problems"}
    assert message in error["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clients", "show", "--json"], "Missing argument 'CLIENT_ID'."),
        (["clients", "list", "--json", "--colour"], "No such option '--colour'"),
        (["servicetitan", "webhook-keys", "retire", "seven", "--json"], "'seven' is not a valid integer."),
        (["directory", "import", "/no/such/file.json", "--json"], "No such file or directory"),
        (["purge", "--json", "--older-than", "1"], "No such option '--older-than'"),
    ],
)
def test_a_command_line_click_refuses_is_json_too(runner, args, message):
    result = runner.invoke(args=args)

    assert result.exit_code == 2
    assert message in json.loads(result.stderr)["error"]


def test_problems_are_listed_with_their_place(runner, tmp_path):
    path = tmp_path / "directory.json"
    path.write_text(json.dumps({"accounts": [{"id": "a b", "name": ""}]}))

    result = runner.invoke(args=["directory", "import", str(path), "--json"])

    assert result.exit_code == 1
    problems = json.loads(result.stderr)["problems"]
    assert [p["where"] for p in problems] == ["accounts[0].id", "accounts[0].name"]
    assert all(p["message"] for p in problems)


def test_without_json_a_refusal_is_a_sentence(runner, tmp_path):
    path = tmp_path / "directory.json"
    path.write_text(json.dumps({"accounts": [{"id": "a b", "name": "A"}]}))

    result = runner.invoke(args=["directory", "import", str(path)])

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path} was not imported (1 problems):\n  accounts[0].id: ")
    missing = runner.invoke(args=["clients", "show"])
    assert missing.exit_code == 2 and "Missing argument 'CLIENT_ID'" in missing.stderr
    assert not missing.stderr.lstrip().startswith("{")


def keys_of(document) -> set[str]:
    """Every key of every object in ``document``, nested ones too, but not inside
    ServiceTitan's own error objects, which are kept as ServiceTitan sent them."""
    if isinstance(document, list):
        return set().union(*(keys_of(item) for item in document)) if document else set()
    if isinstance(document, dict):
        return set(document) | set().union(*(keys_of(v) for k, v in document.items() if k != "lastError"))
    return set()


def test_servicetitans_objects_are_camel_case_and_oauths_keep_the_rfcs_names(runner, clean_app):
    from oidc_provider.core.extensions import db
    from oidc_provider.servicetitan.outbox import enqueue_account_status
    from tests.console import seed_world

    world = seed_world(clean_app)
    with clean_app.app_context():
        enqueue_account_status("sandbox", "req-world", "PROCESSING")
        db.session.commit()
    runner.invoke(args=["servicetitan", "extra-details", "set", "--parameter", "ref", "Reference"])

    servicetitan = {
        "pairings list": ["pairings", "list", "--json"],
        "outbox list": ["outbox", "list", "--json"],
        "webhook-keys list": ["servicetitan", "webhook-keys", "list", "--environment", "sandbox", "--json"],
        "extra-details list": ["servicetitan", "extra-details", "list", "--json"],
    }
    for name, args in servicetitan.items():
        document = json.loads(runner.invoke(args=args).stdout)
        assert document, name
        assert not [key for key in keys_of(document) if "_" in key], name
    client = json.loads(runner.invoke(args=["clients", "show", world["client_id"], "--json"]).stdout)
    assert {"client_id", "redirect_uris", "scope"} <= set(client)


@pytest.mark.parametrize("args", [["clients", "list"], ["purge"], ["servicetitan", "webhook-keys", "list"]])
def test_a_database_without_its_tables_is_a_refusal_not_a_traceback(tmp_path, args):
    from oidc_provider import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite'}", "SECRET_KEY": "x"})
    runner = app.test_cli_runner()

    result = runner.invoke(args=[*args, "--json"])

    assert result.exit_code == 1
    error = json.loads(result.stderr)["error"]
    assert "no such table" in error and "flask --app oidc_provider db upgrade" in error
    assert "Error: the database cannot be used" in runner.invoke(args=args).stderr
