"""JSON from outside, parsed within limits that keep it harmless further on.

Python's JSON parser and encoder recurse once per level of nesting, as do most checks
written over a document: one nested a few hundred levels deep ends in ``RecursionError``
somewhere (parsing, a check, the encoder that stores it), depending on how deep the stack
already was. A number such as ``1e999999`` parses as infinity, which neither JSON nor
PostgreSQL's ``json`` takes back. ``loads`` refuses both where the document comes in, with a
``Problem`` that says why and where.
"""

from __future__ import annotations

import json
import math
from typing import Any

from oidc_provider.core.problems import Problem, ProblemError

#: Far above anything ServiceTitan or a directory file nests (three or four levels), far
#: below where Python's recursion limit is reached.
MAX_DEPTH = 32


def too_deep(max_depth: int = MAX_DEPTH) -> Problem:
    return Problem("", f"the document is nested deeper than {max_depth} levels")


def loads(text: str | bytes, max_depth: int = MAX_DEPTH, **options: Any) -> Any:
    """``json.loads(text, **options)``, refusing with a ``ProblemError`` a document nested
    deeper than ``max_depth`` or holding a number too large for a float. Text that is not
    JSON raises ``json.JSONDecodeError`` (or ``UnicodeDecodeError``), as ``json.loads`` does."""
    try:
        document = json.loads(text, **options)
    except RecursionError:
        raise ProblemError([too_deep(max_depth)]) from None
    problems = document_problems(document, max_depth)
    if problems:
        raise ProblemError(problems)
    return document


def document_problems(document: Any, max_depth: int = MAX_DEPTH) -> list[Problem]:
    """What ``loads`` refuses in an already parsed document, found without recursion."""
    problems = []
    # (value, its depth, its path as nested (parent, key) pairs: built into text only
    # for a problem, since most documents have none)
    stack: list[tuple[Any, int, tuple | None]] = [(document, 1, None)]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            children: Any = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        else:
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(Problem(_where(path), "the number is too large (beyond ±1.8e308)"))
            continue
        if depth > max_depth:
            return [too_deep(max_depth)]
        stack.extend((child, depth + 1, (path, key)) for key, child in children)
    return sorted(problems, key=lambda problem: problem.where)


def _where(path: tuple | None) -> str:
    keys = []
    while path is not None:
        path, key = path
        keys.append(key)
    where = ""
    for key in reversed(keys):
        where += f"[{key}]" if isinstance(key, int) else (f".{key}" if where else str(key))
    return where
