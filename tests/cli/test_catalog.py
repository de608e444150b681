"""flask servicetitan job-types | extra-details | webhook-keys | logo: the console's settings
from a script, by the console's rules, and what one side writes the other shows."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, Client, JobType, WebhookSigningKey
from oidc_provider.servicetitan.catalog import webhook_keys
from tests.console import PNG

TEMPLATE = "Category,Partner Job Type Key\r\nHVAC,hvac-repair\r\nHVAC,hvac-install\r\nElectrical,\r\n"
SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
PASTED_KEY = "ServiceTitan-generated-key-0123456789"


@pytest.fixture
def write(tmp_path):
    def write(content: str | bytes, name: str) -> str:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    return write


def invoke(runner, *args, **kwargs):
    return runner.invoke(args=["servicetitan", *args], **kwargs)


def audit_events(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


# -- job types ------------------------------------------------------------------------------


def test_job_types_import_then_export_gives_servicetitans_template(runner, clean_app, write, console):
    imported = invoke(runner, "job-types", "import", write(TEMPLATE, "job-types.csv"), "--json")

    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout) == {"rows": 3}
    with clean_app.app_context():
        rows = [(j.category, j.partner_key) for j in db.session.scalars(select(JobType).order_by(JobType.position))]
    assert rows == [("HVAC", "hvac-repair"), ("HVAC", "hvac-install"), ("Electrical", None)]
    exported = invoke(runner, "job-types", "export")
    assert exported.exit_code == 0
    assert exported.stdout_bytes == TEMPLATE.encode()
    # The console's download is the same file.
    assert console.get("/admin/job-types/template.csv").data == exported.stdout_bytes
    assert "job_types_imported" in audit_events(clean_app)


def test_job_types_export_writes_a_file(runner, clean_app, write, tmp_path):
    invoke(runner, "job-types", "import", write(TEMPLATE, "in.csv"))

    result = invoke(runner, "job-types", "export", "--output", str(tmp_path / "out.csv"))

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.csv").read_bytes() == TEMPLATE.encode()


def test_a_bad_job_types_file_is_refused_whole_with_its_lines(runner, clean_app, write):
    invoke(runner, "job-types", "import", write(TEMPLATE, "good.csv"))
    bad = "Category,Partner Job Type Key\r\nHVAC,has space\r\nPlumbing,a,b\r\n"

    result = invoke(runner, "job-types", "import", write(bad, "bad.csv"), "--json")

    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert error["error"].endswith("bad.csv was not imported")
    assert {p["where"] for p in error["problems"]} == {"line 2", "line 3"}
    assert "spaces" in error["problems"][0]["message"]
    with clean_app.app_context():
        assert db.session.scalar(select(JobType.partner_key).where(JobType.position == 0)) == "hvac-repair"


# -- extra details --------------------------------------------------------------------------


def test_extra_details_set_and_list(runner, clean_app, console):
    result = invoke(
        runner,
        "extra-details",
        "set",
        "--parameter",
        "customerRef",
        "Customer reference",
        "--parameter",
        "campaign",
        "Campaign",
        "--json",
    )

    assert result.exit_code == 0, result.output
    expected = [
        {"parameter": "customerRef", "displayName": "Customer reference"},
        {"parameter": "campaign", "displayName": "Campaign"},
    ]
    assert json.loads(result.stdout) == expected
    listed = invoke(runner, "extra-details", "list", "--json")
    assert json.loads(listed.stdout) == expected
    assert invoke(runner, "extra-details", "list").stdout == "customerRef  Customer reference\ncampaign  Campaign\n"
    page = console.get("/admin/servicetitan/extra-details").text
    assert 'value="customerRef"' in page and 'value="Customer reference"' in page


def test_extra_details_set_from_what_list_printed(runner, clean_app, write):
    invoke(runner, "extra-details", "set", "--parameter", "a", "A", "--parameter", "b", "B")
    listed = invoke(runner, "extra-details", "list", "--json").stdout
    invoke(runner, "extra-details", "set", "--parameter", "other", "Other")

    result = invoke(runner, "extra-details", "set", "--file", write(listed, "extra.json"), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(listed)
    cleared = invoke(runner, "extra-details", "set", "--file", write("[]", "none.json"))
    assert cleared.exit_code == 0 and invoke(runner, "extra-details", "list").stdout == "no parameters\n"


def test_extra_details_that_differ_only_in_case_are_refused(runner, clean_app):
    invoke(runner, "extra-details", "set", "--parameter", "kept", "Kept")

    result = invoke(runner, "extra-details", "set", "--parameter", "Ref", "A", "--parameter", "ref", "B", "--json")

    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert error["problems"][0]["where"] == "rows[1].key"
    assert "11304" in error["problems"][0]["message"]
    assert json.loads(invoke(runner, "extra-details", "list", "--json").stdout) == [
        {"parameter": "kept", "displayName": "Kept"}
    ]


def test_extra_details_set_needs_parameters(runner, clean_app, write):
    assert "give the parameters" in invoke(runner, "extra-details", "set").stderr
    result = invoke(runner, "extra-details", "set", "--file", write('[{"parameter": 1}]', "bad.json"), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stderr)["problems"][0]["where"] == "rows[0]"


# -- webhook keys ---------------------------------------------------------------------------


def test_a_generated_key_authenticates_webhooks_and_is_listed(runner, clean_app, web):
    generated = invoke(runner, "webhook-keys", "generate", "--json")

    assert generated.exit_code == 0, generated.output
    key = json.loads(generated.stdout)
    assert set(key) == {"id", "environment", "source", "createdAt", "retiredAt", "key"}
    assert key["environment"] == "production"
    assert key["source"] == "generated" and key["retiredAt"] is None and len(key["key"]) >= 43
    assert invoke(runner, "webhook-keys", "generate").stdout.strip() != key["key"]  # a second key, printed alone
    header = clean_app.config["WEBHOOK_HEADER"]
    assert (
        web.post(clean_app.config["WEBHOOK_PREFIX"] + "/accounts", json={}, headers={header: key["key"]}).status_code
        == 200
    )
    listed = json.loads(invoke(runner, "webhook-keys", "list", "--json").stdout)
    assert [k["id"] for k in listed][1] == key["id"]
    assert all("key" not in k for k in listed)  # the values only with --reveal
    revealed = json.loads(invoke(runner, "webhook-keys", "list", "--reveal", "--json").stdout)
    assert revealed[1]["key"] == key["key"]


def test_a_pasted_key_comes_from_stdin_and_the_previous_one_is_retired(runner, clean_app):
    first = json.loads(invoke(runner, "webhook-keys", "generate", "--json").stdout)

    added = invoke(runner, "webhook-keys", "add", "--json", input=PASTED_KEY + "\n")

    assert added.exit_code == 0, added.output
    pasted = json.loads(added.stdout)
    assert pasted["source"] == "pasted" and "key" not in pasted
    assert PASTED_KEY not in added.output
    with clean_app.app_context():
        assert webhook_keys.matches(PASTED_KEY) and webhook_keys.matches(first["key"])
    refused = invoke(runner, "webhook-keys", "retire", str(pasted["id"]), "--json")
    assert refused.exit_code == 1 and "newest key" in json.loads(refused.stderr)["error"]
    retired = invoke(runner, "webhook-keys", "retire", str(first["id"]), "--json")
    assert retired.exit_code == 0, retired.output
    assert json.loads(retired.stdout)["retiredAt"] is not None
    with clean_app.app_context():
        assert not webhook_keys.matches(first["key"]) and webhook_keys.matches(PASTED_KEY)
    assert [k["id"] for k in json.loads(invoke(runner, "webhook-keys", "list", "--json").stdout)] == [pasted["id"]]
    assert {"webhook_key_added", "webhook_key_retired"} <= set(audit_events(clean_app))


def test_each_environment_has_its_own_keys(runner, clean_app, web):
    sandbox = json.loads(invoke(runner, "webhook-keys", "generate", "--environment", "sandbox", "--json").stdout)
    added = invoke(runner, "webhook-keys", "add", "--environment", "production", "--json", input=PASTED_KEY + "\n")
    assert added.exit_code == 0, added.output
    assert sandbox["environment"] == "sandbox" and json.loads(added.stdout)["environment"] == "production"

    def listed(*environment):
        return [k["id"] for k in json.loads(invoke(runner, "webhook-keys", "list", *environment, "--json").stdout)]

    assert listed("--environment", "sandbox") == [sandbox["id"]]
    assert listed() == listed("--environment", "production") == [json.loads(added.stdout)["id"]]
    header, prefix = clean_app.config["WEBHOOK_HEADER"], clean_app.config["WEBHOOK_PREFIX"]
    assert web.post(f"{prefix}/sandbox/accounts", json={}, headers={header: sandbox["key"]}).status_code == 200
    assert web.post(f"{prefix}/accounts", json={}, headers={header: sandbox["key"]}).status_code == 401
    assert web.post(f"{prefix}/sandbox/accounts", json={}, headers={header: PASTED_KEY}).status_code == 401
    assert web.post(f"{prefix}/accounts", json={}, headers={header: PASTED_KEY}).status_code == 200
    refused = invoke(runner, "webhook-keys", "list", "--environment", "staging")
    assert refused.exit_code == 2 and "staging" in refused.stderr


def test_a_key_that_servicetitan_could_not_send_is_refused(runner, clean_app):
    result = invoke(runner, "webhook-keys", "add", input="has a space in it, far too\n")

    assert result.exit_code == 1
    assert "no spaces" in result.stderr
    assert invoke(runner, "webhook-keys", "retire", "999").stderr.strip() == "Error: no webhook key #999"
    with clean_app.app_context():
        assert db.session.scalar(select(WebhookSigningKey.id)) is None


# -- logo -----------------------------------------------------------------------------------


def test_logo_set_stores_the_logo_the_console_serves(runner, clean_app, make, write, console):
    client = make.client()

    result = invoke(runner, "logo", "set", client.client_id, write(PNG, "logo.png"), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "client_id": client.client_id,
        "logo_content_type": "image/png",
        "logo_bytes": len(PNG),
    }
    served = console.get(f"/admin/clients/{client.client_id}/logo")
    assert served.data == PNG and served.mimetype == "image/png"


def test_a_logo_with_a_script_is_refused(runner, clean_app, make, write):
    client = make.client()

    result = invoke(runner, "logo", "set", client.client_id, write(SVG_WITH_SCRIPT, "logo.svg"), "--json")

    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert error["problems"][0]["where"] == "logo" and "<script>" in error["problems"][0]["message"]
    with clean_app.app_context():
        assert db.session.scalar(select(Client.logo).where(Client.client_id == client.client_id)) is None
    unknown = invoke(runner, "logo", "set", "no-such-client", write(PNG, "logo.png"))
    assert "no client with client_id 'no-such-client'" in unknown.stderr
