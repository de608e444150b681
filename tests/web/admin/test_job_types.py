"""Map Job Types in the console: the CSV template out and in, and row-by-row edits, with
their problems shown where they belong."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import JobType
from oidc_provider.servicetitan.catalog.job_types import import_csv

TEMPLATE = "Category,Partner Job Type Key\r\nHVAC,hvac-repair\r\nHVAC,hvac-install\r\nElectrical,\r\n"


@pytest.fixture
def mapping(clean_app):
    with clean_app.app_context():
        import_csv(TEMPLATE, "test")


def rows(app) -> list[tuple[str, str | None]]:
    with app.app_context():
        return [(j.category, j.partner_key) for j in db.session.scalars(select(JobType).order_by(JobType.position))]


def row_id(app, key) -> int:
    with app.app_context():
        return db.session.scalar(select(JobType.id).where(JobType.partner_key == key))


def upload(console, content: str, name: str = "job-types.csv"):
    return console.post(
        "/admin/job-types/import", {"file": (io.BytesIO(content.encode()), name)}, content_type="multipart/form-data"
    )


def test_the_template_downloads_with_the_mapping(console, mapping):
    response = console.get("/admin/job-types/template.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="job-types.csv"'
    assert response.text == TEMPLATE


def test_formula_cells_are_neutralised_in_the_template_and_import_back(clean_app, console):
    assert upload(console, "category,partner job type key\n'=HYPERLINK(1),hvac\n'@SUM(A1),\n").status_code == 200
    assert rows(clean_app) == [("=HYPERLINK(1)", "hvac"), ("@SUM(A1)", None)]

    template = console.get("/admin/job-types/template.csv").text

    assert template.splitlines()[1:] == ["'=HYPERLINK(1),hvac", "'@SUM(A1),"]
    assert upload(console, template).status_code == 200
    assert rows(clean_app) == [("=HYPERLINK(1)", "hvac"), ("@SUM(A1)", None)]


def test_the_page_groups_keys_by_category(console, mapping):
    page = console.get("/admin/job-types").text

    assert '<h2 id="h-cat-1">HVAC</h2>' in page and '<h2 id="h-cat-2">Electrical</h2>' in page
    assert 'value="hvac-install"' in page
    assert "not served" in page


def test_an_import_replaces_the_mapping(clean_app, console, mapping):
    response = upload(console, "\ufeffcategory , partner job type key\nPlumbing,plumb-drain\nPlumbing,\nRoofing,\n")

    assert response.status_code == 200
    assert "Imported: the mapping now has 2 rows." in response.text
    assert rows(clean_app) == [("Plumbing", "plumb-drain"), ("Roofing", None)]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            "Category,Key\nHVAC,x\n",
            "line 1: the header must be Category,Partner Job Type Key (ServiceTitan&#39;s template)",
        ),
        (
            "Category,Partner Job Type Key\nHVAC,two words\n",
            "line 2: a key must not contain spaces (ServiceTitan refuses them in slot.serviceId)",
        ),
        ("Category,Partner Job Type Key\nHVAC,a\nPlumbing,a\n", "line 3: the key &#39;a&#39; is already on line 2"),
        ("Category,Partner Job Type Key\n,a\n", "line 2: give a category of 1 to 128 characters"),
        ("Category,Partner Job Type Key\nHVAC,a,extra\n", "line 2: expected 2 columns, found 3"),
    ],
)
def test_a_bad_template_is_refused_whole(clean_app, console, mapping, content, problem):
    response = upload(console, content)

    assert response.status_code == 422
    assert "The file was not imported:" in response.text
    assert problem in response.text
    assert rows(clean_app) == [("HVAC", "hvac-repair"), ("HVAC", "hvac-install"), ("Electrical", None)]


def test_an_import_without_a_file(console, mapping):
    response = console.post("/admin/job-types/import", {}, content_type="multipart/form-data")

    assert response.status_code == 422
    assert "choose the filled-in CSV template" in response.text


def test_adding_keys_and_categories(clean_app, console, mapping):
    assert console.post("/admin/job-types", {"category": "Electrical", "partner_key": "elec-panel"}).status_code == 302
    console.post("/admin/job-types", {"category": "HVAC", "partner_key": "hvac-tuneup"})
    console.post("/admin/job-types", {"category": "Garage Doors", "partner_key": ""})

    assert rows(clean_app) == [
        ("HVAC", "hvac-repair"),
        ("HVAC", "hvac-install"),
        ("HVAC", "hvac-tuneup"),
        ("Electrical", "elec-panel"),
        ("Garage Doors", None),
    ]


@pytest.mark.parametrize(
    ("form", "field_id", "message"),
    [
        ({"category": "", "partner_key": "x"}, "add-category", "give a category of 1 to 128 characters"),
        (
            {"category": "HVAC", "partner_key": "hvac-repair"},
            "add-partner_key",
            "the key &#39;hvac-repair&#39; is already mapped",
        ),
        (
            {"category": "HVAC", "partner_key": "a b"},
            "add-partner_key",
            "a key must not contain spaces (ServiceTitan refuses them in slot.serviceId)",
        ),
        (
            {"category": "HVAC", "partner_key": ""},
            "add-partner_key",
            "give a key: the category &#39;HVAC&#39; is already listed",
        ),
    ],
)
def test_an_addition_is_checked(clean_app, console, mapping, form, field_id, message):
    response = console.post("/admin/job-types", form)

    assert response.status_code == 422
    assert f'<p class="field-error" id="{field_id}-error">{message}</p>' in response.text
    assert len(rows(clean_app)) == 3


def test_changing_and_removing_keys_keeps_the_category(clean_app, console, mapping):
    repair = row_id(clean_app, "hvac-repair")
    install = row_id(clean_app, "hvac-install")

    assert console.post(f"/admin/job-types/{repair}", {"partner_key": "hvac-fix"}).status_code == 302
    refused = console.post(f"/admin/job-types/{repair}", {"partner_key": ""})
    assert refused.status_code == 422
    assert (
        f'<p class="field-error" id="jt-{repair}-error">give a key, or remove this row: the category has other keys</p>'
    ) in refused.text
    console.post(f"/admin/job-types/{install}/remove")
    console.post(f"/admin/job-types/{repair}/remove")

    assert rows(clean_app) == [("HVAC", None), ("Electrical", None)]
    assert console.post("/admin/job-types/999999/remove").status_code == 404
