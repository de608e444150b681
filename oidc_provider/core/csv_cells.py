"""CSV that spreadsheets show as text and never run as formulas (CSV injection, OWASP).

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula
to Excel, LibreOffice and Google Sheets, so a name like ``=HYPERLINK(...)`` typed by a tenant
or sent by ServiceTitan would run on the admin's machine. Every CSV the product writes
prefixes such a cell with ``'``, which spreadsheets show as text; the imports take the
prefix off again, so a file exported and imported unchanged keeps every value.
"""

from __future__ import annotations

import csv
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: Any) -> Any:
    """``value`` as a cell no spreadsheet runs; numbers are left as they are. A text already
    starting with the prefix and a formula character gets one more, so it survives import."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def restored(cell: str) -> str:
    """The value a cell written by ``neutralised`` holds."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS) else cell


class Writer:
    """``csv.writer`` whose every text cell is neutralised."""

    def __init__(self, out: TextIO, **options):
        self._writer = csv.writer(out, **options)

    def writerow(self, row) -> None:
        self._writer.writerow([neutralised(cell) for cell in row])
