"""Partner API clients: list, create, rotate the secret, revoke.

Every rule is ``oidc.api_clients``', the same as the ``api-clients`` commands'. A secret is
shown only in the answer to the POST that made it (creation or rotation): it is stored as a
hash, and no later page can show it again.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from oidc_provider.core import clock
from oidc_provider.core.models import ApiClient
from oidc_provider.core.problems import ProblemError, by_where
from oidc_provider.oidc.api_clients import (
    API_SCOPES,
    check_rotation,
    create_api_client,
    find_api_client,
    last_tokens_issued,
    list_api_clients,
    revoke_api_client,
    rotate_api_client_secret,
)
from oidc_provider.web.admin import confirmation, forms
from oidc_provider.web.admin.auth import actor
from oidc_provider.web.endpoints.discovery import endpoint_urls

bp = Blueprint("api_clients", __name__)


def _api_client(api_client_id: str) -> ApiClient:
    return forms.found(find_api_client(api_client_id))


@bp.get("/api-clients")
def index(problems: dict[str, str] | None = None, name: str = "", scopes: tuple[str, ...] = (), status: int = 200):
    body = render_template(
        "admin/api_clients.html",
        clients=list_api_clients(),
        last_tokens=last_tokens_issued(),
        api_scopes=API_SCOPES,
        problems=problems or {},
        name=name,
        chosen=scopes,
        now=clock.now(),
    )
    return body, status


@bp.post("/api-clients")
def create():
    name, scope = forms.text("name"), " ".join(request.form.getlist("scope"))
    try:
        client, secret = create_api_client(name, scope, actor())
    except ProblemError as error:
        return index(by_where(error.problems), name, tuple(scope.split()), 422)
    return _secret_page(client, secret, created=True, status=201)


@bp.get("/api-clients/<api_client_id>")
def show(api_client_id):
    return _detail(_api_client(api_client_id))


def _detail(client: ApiClient, problems: dict[str, str] | None = None, grace: str = "0"):
    body = render_template(
        "admin/api_client.html",
        client=client,
        last_token=last_tokens_issued().get(client.id),
        api_scopes=API_SCOPES,
        problems=problems or {},
        grace=grace,
        now=clock.now(),
    )
    return body, 422 if problems else 200


def _secret_page(client: ApiClient, secret: str, created: bool = False, status: int = 200):
    body = render_template(
        "admin/api_client_secret.html",
        client=client,
        secret=secret,
        created=created,
        token_endpoint=endpoint_urls(current_app.config["ISSUER"])["token_endpoint"],
    )
    return body, status


@bp.post("/api-clients/<api_client_id>/rotate")
def rotate(api_client_id):
    client = _api_client(api_client_id)
    grace = forms.text("grace_seconds") or "0"
    try:
        grace_seconds = forms.seconds("grace_seconds", "grace_period")
        check_rotation(client, grace_seconds)
    except ProblemError as error:
        return _detail(client, by_where(error.problems), grace)
    if not confirmation.confirmed():
        grace_period = timedelta(seconds=grace_seconds)
        when, age = current_app.jinja_env.filters["when"], current_app.jinja_env.filters["age"]
        old_secret = (
            f"The old secret keeps working for {age(grace_period)}, until {when(clock.now() + grace_period)}, "
            f"so that {client.name} can switch over."
            if grace_seconds
            else "The old secret stops working at once: calls that use it are refused from now on."
        )
        return confirmation.ask(
            f"Rotate the secret of API client {client.name}?",
            f"A new secret is made and shown once, on the next page. {old_secret} "
            "Tokens already issued keep working until they expire.",
            "Rotate secret",
            url_for(".show", api_client_id=api_client_id),
        )
    secret = rotate_api_client_secret(client, grace_seconds, actor())
    return _secret_page(client, secret)


@bp.post("/api-clients/<api_client_id>/revoke")
def revoke(api_client_id):
    client = _api_client(api_client_id)
    if client.revoked_at is None and not confirmation.confirmed():
        return confirmation.ask(
            f"Revoke API client {client.name}?",
            f"API client {client.client_id} can no longer get tokens, and every token it holds is refused "
            "at once: its calls to the partner API fail from now on. This cannot be undone; to let that "
            "system in again, create a new client.",
            "Revoke client",
            url_for(".show", api_client_id=api_client_id),
        )
    revoke_api_client(client, actor())
    return redirect(url_for(".show", api_client_id=api_client_id))
