"""The admin console under ``/admin``: server-rendered pages for partner admins.

One parent blueprint holds the guard (``auth.require_admin``) that every console page
passes, and the children hold the pages, each a thin view over a domain module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Flask, current_app, request

from oidc_provider.web.admin import (
    admins,
    api_clients,
    audit_log,
    auth,
    bookings,
    clients,
    console_environment,
    deliveries,
    directory,
    golive,
    home,
    job_types,
    keys,
    leads,
    outbox,
    pairings,
    servicetitan,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")
for child in (
    auth,
    console_environment,
    home,
    clients,
    servicetitan,
    directory,
    pairings,
    keys,
    job_types,
    leads,
    bookings,
    outbox,
    deliveries,
    golive,
    audit_log,
    admins,
    api_clients,
):
    bp.register_blueprint(child.bp)
bp.before_request(auth.require_admin)


@bp.after_request
def _not_kept(response):
    """Console pages show tenants' data and secrets: no browser or proxy may keep them
    (the Back button after sign-out must not bring a page back)."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# Endpoints that take files: directory files and logos are larger than any protocol request.
UPLOAD_ENDPOINTS = {
    "admin.clients.new",
    "admin.clients.upload_logo",
    "admin.directory.import_file",
    "admin.job_types.import_csv",
}


@bp.url_value_preprocessor
def _allow_uploads(endpoint, values):
    """Raise the body limit for the upload pages. URL value preprocessors run before every
    ``before_request`` function, and so before CSRF protection reads the form."""
    if endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = current_app.config["ADMIN_UPLOAD_MAX_BYTES"]


# The navigation: (endpoint, label, section).
SECTIONS = (
    ("admin.home.index", "Overview", "home"),
    ("admin.clients.index", "Clients", "clients"),
    ("admin.directory.accounts", "Accounts", "accounts"),
    ("admin.directory.users", "Users", "users"),
    ("admin.directory.import_file", "Import/export", "import"),
    ("admin.pairings.index", "Pairings", "pairings"),
    ("admin.keys.index", "Signing keys", "keys"),
    ("admin.api_clients.index", "API clients", "api_clients"),
    ("admin.job_types.index", "Job types", "job_types"),
    ("admin.servicetitan.extra_details", "Extra details", "extra_details"),
    ("admin.leads.index", "Leads", "leads"),
    ("admin.bookings.index", "Bookings", "bookings"),
    ("admin.outbox.index", "Outbox", "outbox"),
    ("admin.deliveries.index", "Webhooks", "deliveries"),
    ("admin.audit_log.index", "Audit log", "audit"),
    ("admin.admins.index", "Admins", "admins"),
)


def _section(endpoint: str) -> str:
    """Which navigation entry a page belongs to."""
    name = endpoint.rsplit(".", 1)[-1]
    if endpoint.startswith("admin.directory."):
        if "account" in name or name == "eligibility":
            return "accounts"
        return "users" if "user" in name or name == "reset_password" else "import"
    if endpoint == "admin.servicetitan.extra_details":
        return "extra_details"
    if endpoint.startswith("admin.servicetitan."):
        return "clients"
    return next((key for entry, _, key in SECTIONS if entry.rsplit(".", 1)[0] == endpoint.rsplit(".", 1)[0]), "")


@bp.context_processor
def _navigation() -> dict:
    return {
        "current_admin": auth.current_admin(),
        "console_sections": SECTIONS,
        "section": _section(request.endpoint or ""),
        "console_environment": console_environment.chosen(),
        "console_environment_choices": console_environment.CHOICES,
    }


@bp.app_template_filter("when")
def _when(moment: datetime | None) -> str:
    """A moment as admins read it: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


@bp.app_template_filter("age")
def _age(duration: timedelta) -> str:
    """A duration in its two largest units: "3 d 4 h", "12 min"."""
    seconds = max(0, int(duration.total_seconds()))
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    parts = []
    for unit, size in units:
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts[:2]) or "0 s"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
