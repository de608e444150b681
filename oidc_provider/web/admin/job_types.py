"""Map Job Types: the partner's job types under ServiceTitan's categories, edited here and
exchanged with ServiceTitan as its CSV template."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, url_for

from oidc_provider.core.extensions import db
from oidc_provider.core.models import JobType
from oidc_provider.core.problems import by_where
from oidc_provider.servicetitan.catalog import job_types
from oidc_provider.web.admin import forms
from oidc_provider.web.admin.auth import actor

bp = Blueprint("job_types", __name__)


def _page(problems: dict | None = None, values: dict | None = None, status: int = 200, imported: int | None = None):
    body = render_template(
        "admin/job_types.html",
        categories=job_types.categories(),
        problems=problems or {},
        values=values or {},
        imported=imported,
    )
    return body, status


@bp.get("/job-types")
def index():
    return _page()


@bp.post("/job-types")
def add():
    values = {"category": forms.text("category"), "partner_key": forms.text("partner_key")}
    try:
        job_types.add(values["category"], values["partner_key"], actor())
    except job_types.JobTypeError as error:
        return _page({f"add_{k}": v for k, v in by_where(error.problems).items()}, values, 422)
    return redirect(url_for(".index") + "#add")


@bp.post("/job-types/<int:job_type_id>")
def change(job_type_id):
    job_type = forms.found(db.session.get(JobType, job_type_id))
    try:
        job_types.change_key(job_type, forms.text("partner_key"), actor())
    except job_types.JobTypeError as error:
        problems = {f"row_{job_type_id}": by_where(error.problems)["partner_key"]}
        return _page(problems, {f"row_{job_type_id}": forms.text("partner_key")}, 422)
    return redirect(url_for(".index"))


@bp.post("/job-types/<int:job_type_id>/remove")
def remove(job_type_id):
    job_types.remove(forms.found(db.session.get(JobType, job_type_id)), actor())
    return redirect(url_for(".index"))


@bp.get("/job-types/template.csv")
def template():
    response = Response(job_types.export_csv(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="job-types.csv"'
    return response


@bp.post("/job-types/import")
def import_csv():
    uploaded = forms.upload_text("file")
    if uploaded is None or uploaded[1] is None:
        message = "choose the filled-in CSV template" if uploaded is None else f"{uploaded[0]} is not UTF-8 text"
        return _page({"import": {"file": message}}, status=422)
    try:
        count = job_types.import_csv(uploaded[1], actor())
    except job_types.JobTypeError as error:
        return _page({"import": by_where(error.problems)}, status=422)
    return _page(imported=count)
