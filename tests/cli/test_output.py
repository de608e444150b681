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
    assert result.stderr.startswith(f"Error: {path} was not imported (1 problems)\n  accounts[0].id: ")
    missing = runner.invoke(args=["clients", "show"])
    assert missing.exit_code == 2 and "Missing argument 'CLIENT_ID'" in missing.stderr
    assert not missing.stderr.lstrip().startswith("{")
