"""flask servicetitan job-types | extra-details | webhook-keys | logo: what the partner
configures for ServiceTitan, by the same functions and rules as the console's pages, so
that a whole set-up can be a script."""

import json
import sys
from pathlib import Path

import click

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core.extensions import db
from oidc_provider.core.models import WebhookSigningKey
from oidc_provider.core.problems import Problem
from oidc_provider.oidc.client_registry import ClientSettingsError, find_client, set_logo
from oidc_provider.servicetitan.catalog import extra_details, job_types, webhook_keys
from oidc_provider.servicetitan.environments import ENVIRONMENTS, PRODUCTION

ACTOR = "cli"


# -- Map Job Types ------------------------------------------------------------------------


@click.group("job-types", cls=CommandGroup)
def job_types_group():
    """Map Job Types: the partner's job types under ServiceTitan's categories, as
    ServiceTitan's CSV template (Category, Partner Job Type Key)."""


@job_types_group.command("import")
@click.argument("file", type=click.File("rb"))
@json_option
def import_job_types(file, as_json):
    """Replace the whole mapping with FILE's (ServiceTitan's filled-in template; - reads
    stdin). A bad file is refused whole, every problem named by its line."""
    try:
        text = file.read().decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{_name(file)} is not UTF-8 text")
    try:
        rows = job_types.import_csv(text, ACTOR)
    except job_types.JobTypeError as error:
        fail(f"{_name(file)} was not imported", error.problems)
    report({"rows": rows}, as_json, f"imported {rows} job type rows")


@job_types_group.command("export")
@click.option("--output", "-o", type=click.File("w"), default="-", help="Write to this file, not stdout.")
def export_job_types(output):
    """Write the mapping as ServiceTitan's template, ready for its "Choose File"."""
    output.write(job_types.export_csv())


# -- Extra Details ------------------------------------------------------------------------


def _parameter(parameter) -> dict:
    return {"parameter": parameter.key, "displayName": parameter.display_name}


@click.group("extra-details", cls=CommandGroup)
def extra_details_group():
    """Extra Details: the parameters (keys) a booking's extraDetails may carry, each with
    the name ServiceTitan displays; at most 50."""


@extra_details_group.command("list")
@json_option
def list_extra_details(as_json):
    """The parameters in ServiceTitan's order."""
    data = [_parameter(p) for p in extra_details.parameters()]
    report(data, as_json, "\n".join(f"{p['parameter']}  {p['displayName']}" for p in data) or "no parameters")


@extra_details_group.command("set")
@click.option(
    "--parameter",
    "pairs",
    nargs=2,
    multiple=True,
    metavar="PARAMETER DISPLAY_NAME",
    help="One parameter and its display name; repeat in ServiceTitan's order.",
)
@click.option(
    "--file",
    type=click.File("rb"),
    help='A JSON list as `list --json` prints it: [{"parameter": ..., "displayName": ...}]; [] clears them.',
)
@json_option
def set_extra_details(pairs, file, as_json):
    """Replace every parameter with those given. Refused whole when one breaks a rule
    (keys must differ in more than letter case: ServiceTitan's 11304)."""
    if bool(pairs) == bool(file):
        fail("give the parameters with --parameter or --file (not both)")
    rows = list(pairs) if pairs else _rows_from(file)
    try:
        saved = extra_details.save_parameters(rows, ACTOR)
    except extra_details.ExtraDetailsError as error:
        fail("the parameters were not saved", error.problems)
    data = [_parameter(p) for p in saved]
    report(data, as_json, f"saved {len(data)} parameters")


_FIELDS = ("parameter", "displayName")


def _rows_from(file) -> list[tuple[str, str]]:
    try:
        document = json.loads(file.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"{_name(file)} is not a JSON document: {error}")
    if not isinstance(document, list):
        fail(f"{_name(file)} must hold a JSON list")
    rows, problems = [], []
    for index, item in enumerate(document):
        if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in _FIELDS):
            problems.append(Problem(f"rows[{index}]", 'give {"parameter": "...", "displayName": "..."}'))
        else:
            rows.append((item["parameter"], item["displayName"]))
    if problems:
        fail(f"{_name(file)} was not read", problems)
    return rows


# -- Webhook Message Signing Key ----------------------------------------------------------


def _key(key: WebhookSigningKey, reveal: bool) -> dict:
    data = {
        "id": key.id,
        "environment": key.environment,
        "source": key.source,
        "createdAt": key.created_at.isoformat(),
        "retiredAt": key.retired_at.isoformat() if key.retired_at else None,
    }
    if reveal:
        data["key"] = webhook_keys.reveal(key)
    return data


@click.group("webhook-keys", cls=CommandGroup)
def webhook_keys_group():
    """The Webhook Message Signing Key ServiceTitan sends with each webhook. Generate one
    here, or add the one ServiceTitan generated; the previous key stays valid until retired.
    Each ServiceTitan environment has keys of its own (--environment, default production)."""


_environment_option = click.option(
    "--environment",
    type=click.Choice(ENVIRONMENTS),
    default=PRODUCTION,
    show_default=True,
    help="The ServiceTitan environment whose keys these are.",
)


@webhook_keys_group.command("list")
@click.option("--reveal", is_flag=True, help="Print the keys themselves too.")
@_environment_option
@json_option
def list_webhook_keys(reveal, environment, as_json):
    """The keys the environment's deliveries may carry, newest first (at most two)."""
    data = [_key(key, reveal) for key in webhook_keys.valid_keys(environment)]
    lines = [f"#{k['id']}  {k['source']:9}  since {k['createdAt']}" + (f"  {k['key']}" if reveal else "") for k in data]
    report(data, as_json, "\n".join(lines) or "no key: every delivery is refused")


@webhook_keys_group.command("generate")
@_environment_option
@json_option
def generate_webhook_key(environment, as_json):
    """Make a new random key and print it, to paste into the Webhooks step of the
    environment's ServiceTitan integration."""
    key, value = webhook_keys.generate(ACTOR, environment)
    report(_key(key, reveal=True), as_json, value)


@webhook_keys_group.command("add")
@_environment_option
@json_option
def add_webhook_key(environment, as_json):
    """Take the key the environment's ServiceTitan integration generated, from the first
    line of stdin (never from the command line, where other users of the machine could
    read it)."""
    try:
        key = webhook_keys.paste(sys.stdin.readline(), ACTOR, environment)
    except webhook_keys.WebhookKeyError as error:
        fail(str(error))
    report(_key(key, reveal=False), as_json, f"added key #{key.id}")


@webhook_keys_group.command("retire")
@click.argument("key_id", type=int)
@json_option
def retire_webhook_key(key_id, as_json):
    """Stop accepting key KEY_ID once ServiceTitan sends the newest one."""
    key = db.session.get(WebhookSigningKey, key_id)
    if key is None:
        fail(f"no webhook key #{key_id}")
    try:
        webhook_keys.retire(key, ACTOR)
    except webhook_keys.WebhookKeyError as error:
        fail(str(error))
    report(_key(key, reveal=False), as_json, f"retired key #{key_id}")


# -- Logo -----------------------------------------------------------------------------------


@click.group("logo", cls=CommandGroup)
def logo_group():
    """The partner logo ServiceTitan's General Information step takes."""


@logo_group.command("set")
@click.argument("client_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def set_client_logo(client_id, file, as_json):
    """Give CLIENT_ID's setup sheet the logo in FILE (.jpeg, .png, .jpg or .svg, judged by
    its content: an SVG with scripts or links is refused)."""
    client = find_client(client_id)
    if client is None:
        fail(f"no client with client_id {client_id!r}")
    try:
        set_logo(client, file.name, file.read_bytes(), ACTOR)
    except ClientSettingsError as error:
        fail(f"{file.name} was not taken", error.problems)
    data = {"client_id": client_id, "logo_content_type": client.logo_content_type, "logo_bytes": len(client.logo)}
    report(data, as_json, f"logo of {client_id}: {data['logo_content_type']}, {data['logo_bytes']} bytes")


def _name(file) -> str:
    return getattr(file, "name", "<stdin>")
