"""The conformance table of docs/security.md: every row has a known status, every "met" row
names tests, and every test the page names, in the table or under a threat, exists (they
pass with the rest of the suite). Every subsection of RFC 9700 section 2 and OpenID Connect
Core 3.1.2 and 3.1.3 has its rows."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

SECURITY = Path(__file__).resolve().parents[2] / "docs" / "security.md"
STATUSES = {"met", "not applicable", "deviation"}
SECTIONS = (
    [f"RFC 9700 {s}" for s in ("2.1", "2.1.1", "2.1.2", "2.2.1", "2.2.2", "2.3", "2.4", "2.5", "2.6")]
    + [f"OIDC Core 3.1.2.{n}" for n in range(1, 8)]
    + [f"OIDC Core 3.1.3.{n}" for n in range(1, 9)]
)
_ROW = re.compile(r"^\| (\d+) \|")
_NODE = re.compile(r"`(tests/[\w/]+\.py::[\w:]+)`")


def rows() -> list[dict]:
    table = []
    for line in SECURITY.read_text().splitlines():
        if not _ROW.match(line):
            continue
        number, source, requirement, status, tests, why = [cell.strip() for cell in line.strip()[1:-1].split("|")]
        table.append(
            {
                "number": int(number),
                "source": source,
                "requirement": requirement,
                "status": status,
                "tests": _NODE.findall(tests),
                "tests_cell": tests,
                "why": why,
            }
        )
    return table


def test_the_table_is_numbered_and_every_status_is_known():
    table = rows()

    assert [row["number"] for row in table] == list(range(1, len(table) + 1))
    assert {row["status"] for row in table} <= STATUSES


def test_every_subsection_has_its_rows():
    sources = {row["source"] for row in rows()}

    assert set(SECTIONS) <= sources
    assert sources <= set(SECTIONS)


@pytest.mark.parametrize("row", rows(), ids=lambda row: f"row-{row['number']}")
def test_a_met_row_names_tests_and_the_others_say_why(row):
    if row["status"] == "met":
        assert row["tests"], "a met requirement names the tests that show it"
    else:
        assert row["why"], "a requirement not applicable or deviated from says why"
    if not row["tests"]:
        assert row["tests_cell"] == "—"


def test_every_named_test_exists():
    missing = []
    named = set(_NODE.findall(SECURITY.read_text()))
    assert {node for row in rows() for node in row["tests"]} <= named
    for node in sorted(named):
        path, *names = node.split("::")
        target = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        for name in names:
            target = getattr(target, name, None)
        if not callable(target):
            missing.append(node)

    assert missing == []
