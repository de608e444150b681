"""Client registrations: list, create, rotate the secret, enable or disable, delete.

Every rule is ``client_registry``'s, the same as the command line's; its problems are
shown next to the field they name. A secret is shown in the answer to the POST that made
it (creation or rotation), never stored where a later page could show it again.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from oidc_provider.core.problems import ProblemError, by_where
from oidc_provider.oidc.client_registry import (
    ID_TOKEN_ALGS,
    ClientSettings,
    ClientSettingsError,
    create_client,
    delete_client,
    find_client,
    rotate_secret,
    set_enabled,
    set_logo,
)
from oidc_provider.web.admin import confirmation, forms, listings
from oidc_provider.web.admin.auth import actor
from oidc_provider.web.admin.servicetitan import render_sheet

bp = Blueprint("clients", __name__)


def _client(client_id: str):
    return forms.found(find_client(client_id))


@bp.get("/clients")
def index():
    return render_template("admin/clients.html", page=listings.page_of(listings.clients()))


@bp.route("/clients/new", methods=["GET", "POST"])
def new():
    if request.method == "GET":
        return _new_form(ClientSettings(name="ServiceTitan", redirect_uris=[], scope="openid profile email"), {})
    settings = ClientSettings(
        name=forms.text("name"),
        redirect_uris=forms.lines("redirect_uris"),
        scope=" ".join(request.form.getlist("scope")),
        id_token_alg=forms.text("id_token_alg"),
        account_info_claim=forms.checked("account_info_claim"),
        async_pairing=forms.checked("async_pairing"),
        remember_consent=forms.checked("remember_consent"),
    )
    try:
        client, secret = create_client(settings, actor(), logo=forms.upload("logo"))
    except ClientSettingsError as error:
        return _new_form(settings, by_where(error.problems))
    return render_sheet(client, secret=secret, created=True, status=201)


def _new_form(settings: ClientSettings, problems: dict[str, str]):
    body = render_template(
        "admin/client_new.html",
        settings=settings,
        problems=problems,
        algs=ID_TOKEN_ALGS,
        scopes=current_app.config["SCOPES_SUPPORTED"],
    )
    return body, 422 if problems else 200


@bp.get("/clients/<client_id>")
def show(client_id):
    return _detail(_client(client_id))


def _detail(client, problems: dict[str, str] | None = None, grace: str = "0"):
    body = render_template("admin/client.html", client=client, problems=problems or {}, grace=grace)
    return body, 422 if problems else 200


@bp.post("/clients/<client_id>/rotate")
def rotate(client_id):
    client = _client(client_id)
    grace = forms.text("grace_seconds") or "0"
    try:
        secret = rotate_secret(client, forms.seconds("grace_seconds", "grace_period"), actor())
    except ProblemError as error:
        return _detail(client, by_where(error.problems), grace)
    return render_sheet(client, secret=secret, rotated=True)


@bp.post("/clients/<client_id>/enable")
def enable(client_id):
    set_enabled(_client(client_id), True, actor())
    return redirect(url_for(".show", client_id=client_id))


@bp.post("/clients/<client_id>/disable")
def disable(client_id):
    client = _client(client_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            f"Disable client {client.name}?",
            f"Every request of client {client.client_id} is refused until it is enabled again: "
            "ServiceTitan can neither pair nor exchange codes with it meanwhile.",
            "Disable client",
            url_for(".show", client_id=client_id),
        )
    set_enabled(client, False, actor())
    return redirect(url_for(".show", client_id=client_id))


@bp.route("/clients/<client_id>/delete", methods=["GET", "POST"])
def delete(client_id):
    client = _client(client_id)
    if request.method == "POST":
        if forms.text("confirm_name") == client.name:
            delete_client(client, actor())
            return redirect(url_for(".index"))
        problems = {"confirm_name": f"type the client's name, {client.name}, exactly"}
        return render_template("admin/client_delete.html", client=client, problems=problems), 422
    return render_template("admin/client_delete.html", client=client, problems={})


@bp.post("/clients/<client_id>/logo")
def upload_logo(client_id):
    client = _client(client_id)
    uploaded = forms.upload("logo") or ("", b"")
    try:
        set_logo(client, *uploaded, actor())
    except ClientSettingsError as error:
        return render_sheet(client, problems=by_where(error.problems), status=422)
    return redirect(url_for("admin.servicetitan.sheet", client_id=client_id) + "#general")


@bp.get("/clients/<client_id>/logo")
def logo(client_id):
    client = _client(client_id)
    forms.found(client.logo)
    response = Response(client.logo, mimetype=client.logo_content_type)
    # An SVG opened on its own is a document: let it draw, nothing else.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response
