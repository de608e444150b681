"""The ServiceTitan setup sheet, per client: what we give ServiceTitan's Leads Integration
Manager and what we receive from it, step by step ("General Information", "Extra
Details", "Webhooks", "URLs"), and the forms that take what ServiceTitan shows."""

from __future__ import annotations

import re

from flask import Blueprint, redirect, render_template, request, url_for

from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, WebhookSigningKey
from oidc_provider.core.problems import Problem, by_where
from oidc_provider.oidc.client_registry import (
    SERVICETITAN_ENVIRONMENTS,
    ClientSettingsError,
    find_client,
    redirect_uri_problem,
    set_servicetitan_details,
)
from oidc_provider.servicetitan import environments
from oidc_provider.servicetitan.catalog import webhook_keys
from oidc_provider.servicetitan.catalog.extra_details import (
    MAX_PARAMETERS,
    ExtraDetailsError,
    parameters,
    save_parameters,
)
from oidc_provider.servicetitan.catalog.job_types import categories
from oidc_provider.web.admin import confirmation, forms, setup_sheet
from oidc_provider.web.admin.auth import actor

_ROW = re.compile(r"rows\[(\d+)\]")  # where an Extra Details problem is: rows[INDEX].field
bp = Blueprint("servicetitan", __name__)

# Empty rows the Extra Details form offers beyond the saved ones.
SPARE_ROWS = 5


def render_sheet(
    client: Client,
    secret: str | None = None,
    problems: dict | None = None,
    values: dict | None = None,
    status: int = 200,
    created: bool = False,
    rotated: bool = False,
):
    """The sheet. ``secret`` only in the answer to a creation or a rotation."""
    environment = _environment(client)
    body = render_template(
        "admin/servicetitan.html",
        client=client,
        secret=secret,
        created=created,
        rotated=rotated,
        problems=problems or {},
        values=values or {},
        urls=setup_sheet.urls_step(client, secret),
        endpoints=setup_sheet.endpoints(),
        custom_pairing=setup_sheet.custom_pairing_url(),
        webhook=setup_sheet.webhook_prefix(environment),
        webhook_keys=[(key, webhook_keys.reveal(key)) for key in webhook_keys.valid_keys(environment)],
        environment=environments.describe(environment),
        environments=SERVICETITAN_ENVIRONMENTS,
        extra_details=parameters(),
        job_type_categories=categories(),
    )
    # A page with a secret must not be kept by the browser or any cache.
    return body, status, {"Cache-Control": "no-store"}


def _client(client_id: str) -> Client:
    return forms.found(find_client(client_id))


def _back_to_sheet(client: Client, section: str):
    return redirect(url_for(".sheet", client_id=client.client_id) + f"#{section}")


@bp.get("/clients/<client_id>/servicetitan")
def sheet(client_id):
    return render_sheet(_client(client_id))


@bp.post("/clients/<client_id>/servicetitan/general")
def general(client_id):
    client = _client(client_id)
    values = {
        "callback_url": forms.text("callback_url"),
        "servicetitan_environment": forms.text("servicetitan_environment"),
        "multi_account_support": forms.checked("multi_account_support"),
    }
    try:
        set_servicetitan_details(client, **values, actor=actor())
    except ClientSettingsError as error:
        return render_sheet(client, problems=by_where(error.problems), values=values, status=422)
    return _back_to_sheet(client, "general")


@bp.post("/clients/<client_id>/servicetitan/credentials")
def credentials(client_id):
    """ServiceTitan's API client credentials for the client's environment; an empty
    secret keeps the saved one, which is never shown again."""
    client = _client(client_id)
    name = _environment(client)
    values = {field: forms.text(field) for field in ("api_client_id", "identity_url", "api_url")}
    secret = request.form.get("api_client_secret", "").strip()
    problems = {}
    if not values["api_client_id"]:
        problems["api_client_id"] = "paste the client id that ServiceTitan issued for its Leads API"
    if not secret and not environments.describe(name)["client_secret_set"]:
        problems["api_client_secret"] = "paste the client secret that ServiceTitan issued with it"
    for field in ("identity_url", "api_url"):
        if values[field] and (problem := redirect_uri_problem(values[field])):
            problems[field] = problem + "; or leave it empty to keep the current one"
    if not problems:
        try:
            environments.configure(
                name,
                client_id=values["api_client_id"],
                client_secret=secret or None,
                identity_url=values["identity_url"] or None,
                api_url=values["api_url"] or None,
            )
        except ValueError as error:
            problems["identity_url"] = str(error)
    if problems:
        db.session.rollback()
        return render_sheet(client, problems=problems, values=values, status=422)
    record_event("servicetitan_credentials_saved", actor(), {"environment": name, "client_id": values["api_client_id"]})
    db.session.commit()
    return _back_to_sheet(client, "credentials")


def _environment(client: Client) -> str:
    """The ServiceTitan environment the client's sheet is for: its webhook URL and keys."""
    return client.servicetitan_environment or environments.default_environment()


@bp.post("/clients/<client_id>/servicetitan/webhook-key/generate")
def generate_webhook_key(client_id):
    client = _client(client_id)
    webhook_keys.generate(actor(), _environment(client))
    return _back_to_sheet(client, "webhooks")


@bp.post("/clients/<client_id>/servicetitan/webhook-key/paste")
def paste_webhook_key(client_id):
    client = _client(client_id)
    try:
        webhook_keys.paste(request.form.get("webhook_key", ""), actor(), _environment(client))
    except webhook_keys.WebhookKeyError as error:
        return render_sheet(client, problems={"webhook_key": str(error)}, status=422)
    return _back_to_sheet(client, "webhooks")


@bp.post("/clients/<client_id>/servicetitan/webhook-key/<int:key_id>/retire")
def retire_webhook_key(client_id, key_id):
    client = _client(client_id)
    key = db.session.get(WebhookSigningKey, key_id)
    # Only a key of the sheet's environment: another environment's is not on this sheet.
    key = forms.found(key if key and key.environment == _environment(client) else None)
    if not confirmation.confirmed():
        return confirmation.ask(
            "Retire this webhook signing key?",
            f"Webhook deliveries that carry the key made {key.created_at:%Y-%m-%d %H:%M} UTC are refused "
            "from now on: ServiceTitan must already send the newer key.",
            "Retire webhook key",
            url_for("admin.servicetitan.sheet", client_id=client_id) + "#webhooks",
        )
    try:
        webhook_keys.retire(key, actor())
    except webhook_keys.WebhookKeyError as error:
        return render_sheet(client, problems={"webhook_retire": str(error)}, status=422)
    return _back_to_sheet(client, "webhooks")


@bp.route("/servicetitan/extra-details", methods=["GET", "POST"])
def extra_details():
    if request.method == "GET":
        rows = [(p.key, p.display_name) for p in parameters()]
        return _extra_details_form(rows, [])
    keys, names = request.form.getlist("key"), request.form.getlist("display_name")
    rows = list(zip(keys, names, strict=False))
    try:
        save_parameters(rows, actor())
    except ExtraDetailsError as error:
        return _extra_details_form(rows, error.problems), 422
    return redirect(url_for(".extra_details", saved=1))


def _row_line(problem: Problem) -> str:
    """'Row 2: ...' for a problem at rows[1], the message alone for the whole list."""
    row = _ROW.match(problem.where)
    return f"Row {int(row.group(1)) + 1}: {problem.message}" if row else problem.message


def _extra_details_form(rows: list[tuple[str, str]], problems: list[Problem]):
    spare = max(0, min(SPARE_ROWS, MAX_PARAMETERS - len(rows)))
    return render_template(
        "admin/extra_details.html",
        rows=rows + [("", "")] * spare,
        summary=[_row_line(problem) for problem in problems],
        by_field=by_where(problems),
        maximum=MAX_PARAMETERS,
        saved=request.args.get("saved") == "1",
    )
