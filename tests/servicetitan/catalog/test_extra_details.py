"""Extra Details parameters: up to 50, each a key and a display name, keys unique without
regard to case (ServiceTitan's 11304); a refused save changes nothing."""

from __future__ import annotations

import pytest

from oidc_provider.core.problems import Problem
from oidc_provider.servicetitan.catalog.extra_details import ExtraDetailsError, parameters, save_parameters


def saved(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(p.key, p.display_name) for p in parameters()]


def test_parameters_are_replaced_in_order(clean_app):
    with clean_app.app_context():
        save_parameters([("campaign", "Campaign"), ("source", "Source")], "test")
        save_parameters([(" Source ", " Lead source "), ("", ""), ("campaign", "Campaign")], "test")
    assert saved(clean_app) == [("Source", "Lead source"), ("campaign", "Campaign")]


def test_fifty_is_the_most(clean_app):
    rows = [(f"k{n}", f"Name {n}") for n in range(50)]
    with clean_app.app_context():
        assert len(save_parameters(rows, "test")) == 50
        with pytest.raises(ExtraDetailsError) as refused:
            save_parameters(rows + [("k50", "Name 50")], "test")
    assert refused.value.problems == [Problem("", "ServiceTitan takes at most 50 parameters; 51 were given")]
    assert len(saved(clean_app)) == 50


def test_every_problem_is_named_by_row_and_field(clean_app):
    with clean_app.app_context():
        save_parameters([("kept", "Kept")], "test")
        with pytest.raises(ExtraDetailsError) as refused:
            save_parameters([("Campaign", "A"), ("CAMPAIGN", ""), ("", "No key"), ("tab\there", "T")], "test")
    assert refused.value.problems == [
        Problem("rows[1].key", "'CAMPAIGN' repeats row 1 (ServiceTitan ignores case: 11304)"),
        Problem("rows[1].display_name", "give a display name of 1 to 128 characters"),
        Problem("rows[2].key", "give a parameter of 1 to 128 characters, without spaces"),
        Problem("rows[3].key", "give a parameter of 1 to 128 characters, without spaces"),
    ]
    assert saved(clean_app) == [("kept", "Kept")]


def test_keys_that_differ_only_in_case_from_the_old_ones_can_replace_them(clean_app):
    with clean_app.app_context():
        save_parameters([("campaign", "Campaign")], "test")
        save_parameters([("Campaign", "Campaign")], "test")
    assert saved(clean_app) == [("Campaign", "Campaign")]
