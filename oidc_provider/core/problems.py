"""The one shape of a refusal: a list of problems, each saying where and what.

Every check that refuses input (a directory file, a client's settings, a job-type sheet, a
booking) raises a ``ProblemError`` subclass carrying ``Problem``\\ s. The CLI prints them,
the console puts each beside its form field by ``where``, and the JSON answers list them as
``{"where": ..., "message": ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """``where`` names the place in the input: a JSON path (``slot.accountId``,
    ``accounts[0].id``), a line (``line 2``), a form field (``redirect_uris``); empty when the
    problem is with the input as a whole."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}


class ProblemError(Exception):
    """Input refused, with every problem found (not only the first)."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))


def by_where(problems: Iterable[Problem]) -> dict[str, str]:
    """The messages keyed by where, for a form that shows each beside its field; two
    problems at one place are joined."""
    fields: dict[str, str] = {}
    for problem in problems:
        fields[problem.where] = (
            f"{fields[problem.where]}; {problem.message}" if problem.where in fields else problem.message
        )
    return fields
