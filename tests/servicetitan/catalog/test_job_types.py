"""Job types mapped to ServiceTitan categories: categories are data, a category without a
key keeps an empty one, and the CSV template goes out and comes back unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, JobType
from oidc_provider.core.problems import Problem
from oidc_provider.servicetitan.catalog import job_types

TEMPLATE = (
    "Category,Partner Job Type Key\r\nHVAC,hvac-repair\r\nHVAC,hvac-install\r\nElectrical,\r\nPlumbing,plumb-drain\r\n"
)


def mapping(app) -> list[tuple[str, str | None]]:
    with app.app_context():
        return [(c.name, [j.partner_key for j in c.job_types]) for c in job_types.categories()]


def test_the_template_round_trips(clean_app):
    with clean_app.app_context():
        assert job_types.import_csv(TEMPLATE, "test") == 4
        assert job_types.export_csv() == TEMPLATE
    assert mapping(clean_app) == [
        ("HVAC", ["hvac-repair", "hvac-install"]),
        ("Electrical", [None]),
        ("Plumbing", ["plumb-drain"]),
    ]


def test_an_empty_template_exports_its_header(clean_app):
    with clean_app.app_context():
        assert job_types.export_csv() == "Category,Partner Job Type Key\r\n"


def test_a_category_with_keys_needs_no_empty_row_and_one_is_enough(clean_app):
    with clean_app.app_context():
        job_types.import_csv("Category,Partner Job Type Key\nHVAC,\nHVAC,hvac-repair\nRoofing,\nRoofing,\n", "test")
    assert mapping(clean_app) == [("HVAC", ["hvac-repair"]), ("Roofing", [None])]


def test_an_import_is_audited_and_replaces_everything(clean_app):
    with clean_app.app_context():
        job_types.import_csv(TEMPLATE, "admin@partner.example")
        job_types.import_csv("Category,Partner Job Type Key\nSolar,solar-install\n", "admin@partner.example")
        kinds = list(db.session.scalars(select(AuditEvent.kind)))
    assert mapping(clean_app) == [("Solar", ["solar-install"])]
    assert kinds == ["job_types_imported", "job_types_imported"]


def test_a_bad_file_changes_nothing(clean_app):
    with clean_app.app_context():
        job_types.import_csv(TEMPLATE, "test")
        with pytest.raises(job_types.JobTypeError) as refused:
            job_types.import_csv(
                "Category,Partner Job Type Key\nHVAC,a b\nHVAC,ok\nHVAC,ok\n" + "," + "k" * 129 + "\n", "test"
            )
    assert refused.value.problems == [
        Problem("line 2", "a key must not contain spaces (ServiceTitan refuses them in slot.serviceId)"),
        Problem("line 4", "the key 'ok' is already on line 3"),
        Problem("line 5", "give a category of 1 to 128 characters; a key is at most 128 characters"),
    ]
    assert len(mapping(clean_app)) == 3


def test_a_key_added_to_a_category_without_one_fills_its_empty_row(clean_app):
    with clean_app.app_context():
        job_types.import_csv(TEMPLATE, "test")
        job_types.add("Electrical", "elec-panel", "test")
        job_types.add("HVAC", "hvac-tuneup", "test")
        job_types.add("Garage Doors", "", "test")
        assert job_types.export_csv().splitlines()[1:] == [
            "HVAC,hvac-repair",
            "HVAC,hvac-install",
            "HVAC,hvac-tuneup",
            "Electrical,elec-panel",
            "Plumbing,plumb-drain",
            "Garage Doors,",
        ]


def test_removing_the_last_key_keeps_the_category(clean_app):
    with clean_app.app_context():
        job_types.import_csv(TEMPLATE, "test")
        drain = db.session.scalar(select(JobType).where(JobType.partner_key == "plumb-drain"))
        job_types.remove(drain, "test")
        repair = db.session.scalar(select(JobType).where(JobType.partner_key == "hvac-repair"))
        job_types.remove(repair, "test")
    assert mapping(clean_app) == [("HVAC", ["hvac-install"]), ("Electrical", [None]), ("Plumbing", [None])]


def test_a_key_can_move_to_an_empty_value_only_when_it_is_the_last(clean_app):
    with clean_app.app_context():
        job_types.import_csv(TEMPLATE, "test")
        drain = db.session.scalar(select(JobType).where(JobType.partner_key == "plumb-drain"))
        job_types.change_key(drain, "", "test")
        repair = db.session.scalar(select(JobType).where(JobType.partner_key == "hvac-repair"))
        with pytest.raises(job_types.JobTypeError, match="give a key, or remove this row"):
            job_types.change_key(repair, "", "test")
        with pytest.raises(job_types.JobTypeError, match="the key 'hvac-install' is already mapped"):
            job_types.change_key(repair, "hvac-install", "test")
        job_types.change_key(repair, "hvac-repair", "test")  # its own key again is fine
    assert mapping(clean_app)[2] == ("Plumbing", [None])
