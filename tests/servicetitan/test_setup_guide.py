"""docs/servicetitan-setup.md: every field of ServiceTitan's Leads Integration Manager is
in the guide, and its set-up script runs as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "servicetitan-setup.md").read_text()
MANAGER = Path(__file__).resolve().parents[3] / "shared" / "spec" / "leads-integration-manager.txt"

# Every field and choice of the manager's six steps, in its words.
FIELDS = [
    "Partner Name",
    "Description",
    "Tenant Authorization Type",
    "ST Pairing",
    "Open ID Connect",
    "Callback URL",
    "Partner Authorization Type",
    "Multi account support",
    "Logo",
    "Download Template",
    "Choose File",
    "Partner Job Types",
    "Parameter",
    "Display Name",
    "Accounts, Profiles, Services, real-time Availability",
    "Accept",
    "Decline",
    "Appointments",
    "Invoice",
    "WebHook URL",
    "Webhook Message Signing Key",
    "Partner Pairing URL",
    "Configuration Endpoint",
    "Client ID",
    "Client Secret",
    "Scopes",
    "All tenants",
    "Only specific tenants",
    "Enabled",
    "Status",
]


@pytest.mark.parametrize("field", FIELDS)
def test_every_field_of_the_manager_is_in_the_guide(field):
    if MANAGER.exists():  # ServiceTitan's page, where it is kept beside the repository
        assert field.lower() in MANAGER.read_text().lower()
    assert field.lower() in GUIDE.lower()


def test_the_guide_says_what_to_choose_for_the_two_easy_to_miss_fields():
    rows = {line.split("|")[1].strip(): line for line in GUIDE.splitlines() if line.startswith("| ")}
    assert "client credentials" in rows["Partner Authorization Type"]
    assert "more than one account" in rows["Multi account support"]


def script_commands() -> list[str]:
    section = GUIDE[GUIDE.index("## A whole set-up from a script") :]
    opening = section.index("```sh")  # ```sh example: no docs test runs it verbatim, this one does
    start = section.index("\n", opening) + 1
    block = section[start : section.index("```", start)]
    return [line.split("  #")[0].strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_set_up_script_runs(runner, clean_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("accounts.csv").write_text(
        "account_id,account_name,eligible,profile_id,profile_name\nacct-1,HVAC,true,p-1,North\n"
    )
    Path("users.csv").write_text("email,name,password,accounts\nowner@mtech.example,Owner,a long passphrase,acct-1\n")
    Path("logo.svg").write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>')
    Path("job-types.csv").write_text("Category,Partner Job Type Key\nHVAC,hvac-repair\n")
    Path("secret.txt").write_text("7a2abb98b5117e80500af07788109d1d2031784dbb6cc1833262f0ac2132\n")

    client_id = None
    outputs = []
    for command in script_commands():
        command = command.replace("https://<the Callback URL ServiceTitan showed>", "https://servicetitan.example/cb")
        if client_id:
            command = command.replace("CLIENT_ID", client_id)
        command, _, stdin_file = command.partition(" < ")
        args = shlex.split(command)
        assert args[:3] == ["flask", "--app", "oidc_provider"], command
        stdin = Path(stdin_file).read_text() if stdin_file else None
        result = runner.invoke(args=args[3:], input=stdin)
        assert result.exit_code == 0, (command, result.output)
        outputs.append(result.stdout)
        if args[3:5] == ["clients", "create"]:
            client_id = json.loads(result.stdout)["client_id"]

    assert client_id is not None
    assert json.loads(outputs[-2])["source"] == "generated"
    listed = runner.invoke(args=["servicetitan", "extra-details", "list", "--json"])
    assert [p["parameter"] for p in json.loads(listed.stdout)] == ["customerRef", "campaign"]
    assert re.search(r"hvac-repair", runner.invoke(args=["servicetitan", "job-types", "export"]).stdout)
