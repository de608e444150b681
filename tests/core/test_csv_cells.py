"""CSV cells that no spreadsheet runs as a formula, and that import back unchanged."""

from __future__ import annotations

import csv
import io

import pytest

from oidc_provider.core import csv_cells

FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tx", "\rx"]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(value):
    out = io.StringIO()
    csv_cells.Writer(out).writerow([value, "plain", 42, -1.5])

    [row] = csv.reader(io.StringIO(out.getvalue()))
    assert row == ["'" + value, "plain", "42", "-1.5"]


@pytest.mark.parametrize("value", [*FORMULAS, "'=already quoted", "''@twice", "O'Hara", "'plain", "", "plain"])
def test_every_value_survives_export_and_import(value):
    assert csv_cells.restored(csv_cells.neutralised(value)) == value
    assert not csv_cells.neutralised(value).startswith(csv_cells.FORMULA_STARTS)
