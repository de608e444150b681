"""The partner's job types mapped to ServiceTitan categories ("Map Job Types").

ServiceTitan's admin downloads a CSV template with the columns ``Category`` and ``Partner
Job Type Key``, and uploads it filled in. Categories are data: they arrive with the file or
are added in the console, never from a list in the code. A category the partner does not
serve stays in the mapping with an empty key, as the template has it. A key becomes a
booking's ``slot.serviceId``, which ServiceTitan refuses with spaces.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from oidc_provider.core import csv_cells
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import JobType
from oidc_provider.core.problems import Problem, ProblemError

CSV_HEADER = ("Category", "Partner Job Type Key")
CATEGORY_MAX = 128
KEY_MAX = 128


class JobTypeError(ProblemError):
    """Job types that break a rule; each problem names a field or a CSV line."""


@dataclass
class Category:
    name: str
    job_types: list[JobType]

    @property
    def keys(self) -> list[str]:
        return [j.partner_key for j in self.job_types if j.partner_key]


def categories() -> list[Category]:
    """Every category in the mapping's order, each with its job types."""
    grouped: dict[str, Category] = {}
    for job_type in db.session.scalars(select(JobType).order_by(JobType.position, JobType.id)):
        grouped.setdefault(job_type.category, Category(job_type.category, [])).job_types.append(job_type)
    return list(grouped.values())


def export_csv() -> str:
    """The mapping as ServiceTitan's template: one row per key, an empty key for a category
    without one."""
    out = io.StringIO()
    writer = csv_cells.Writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for category in categories():
        for job_type in category.job_types:
            writer.writerow((category.name, job_type.partner_key or ""))
    return out.getvalue()


def import_csv(text: str, actor: str) -> int:
    """Replace the whole mapping with the file's. A bad file is refused whole, every
    problem named by its line. Answers how many rows the mapping now has."""
    rows, problems = _parse(text)
    if problems:
        raise JobTypeError(problems)
    db.session.execute(delete(JobType))
    for position, (category, key) in enumerate(rows):
        db.session.add(JobType(category=category, partner_key=key, position=position))
    record_event("job_types_imported", actor, {"rows": len(rows)})
    db.session.commit()
    return len(rows)


def add(category: str, key: str, actor: str) -> JobType:
    """Add a key to a category (a new category when the name is new). A category's empty
    placeholder row takes the first key."""
    category, key = category.strip(), key.strip()
    problems = _category_problems(category) + _key_problems(key, required=False)
    if key and _key_taken(key):
        problems.append(Problem("partner_key", f"the key {key!r} is already mapped"))
    if problems:
        raise JobTypeError(problems)
    rows = _rows_of(category)
    placeholder = next((r for r in rows if r.partner_key is None), None)
    if not key and rows:
        raise JobTypeError([Problem("partner_key", f"give a key: the category {category!r} is already listed")])
    if placeholder is not None:
        placeholder.partner_key = key
        job_type = placeholder
    else:
        job_type = JobType(category=category, partner_key=key or None, position=_next_position(category))
        db.session.add(job_type)
    record_event("job_type_added", actor, {"category": category, "partner_key": key})
    db.session.commit()
    return job_type


def change_key(job_type: JobType, key: str, actor: str) -> None:
    """Give a row another key; an empty key is allowed only for a category's last row."""
    key = key.strip()
    problems = _key_problems(key, required=False)
    if key and key != job_type.partner_key and _key_taken(key):
        problems.append(Problem("partner_key", f"the key {key!r} is already mapped"))
    if not key and len(_rows_of(job_type.category)) > 1:
        problems.append(Problem("partner_key", "give a key, or remove this row: the category has other keys"))
    if problems:
        raise JobTypeError(problems)
    before = job_type.partner_key
    job_type.partner_key = key or None
    record_event("job_type_changed", actor, {"category": job_type.category, "from": before, "to": key})
    db.session.commit()


def remove(job_type: JobType, actor: str) -> None:
    """Remove a key; the category's last key leaves the category with an empty key."""
    detail = {"category": job_type.category, "partner_key": job_type.partner_key}
    if len(_rows_of(job_type.category)) > 1:
        db.session.delete(job_type)
    else:
        job_type.partner_key = None
    record_event("job_type_removed", actor, detail)
    db.session.commit()


def _parse(text: str) -> tuple[list[tuple[str, str | None]], list[Problem]]:
    text = text.removeprefix("\ufeff")  # spreadsheets save UTF-8 with a byte order mark
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip() for cell in next(reader, [])]
    if [h.lower() for h in header] != [h.lower() for h in CSV_HEADER]:
        return [], [Problem("line 1", f"the header must be {','.join(CSV_HEADER)} (ServiceTitan's template)")]
    problems: list[Problem] = []
    rows: list[tuple[str, str | None]] = []
    seen_keys: dict[str, int] = {}
    with_keys: set[str] = set()
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != 2:
            problems.append(Problem(f"line {line}", f"expected 2 columns, found {len(cells)}"))
            continue
        category, key = (csv_cells.restored(cell).strip() for cell in cells)
        messages = [p.message for p in _category_problems(category) + _key_problems(key, required=False)]
        if key in seen_keys:
            messages.append(f"the key {key!r} is already on line {seen_keys[key]}")
        if messages:
            problems.append(Problem(f"line {line}", "; ".join(messages)))
            continue
        if key:
            seen_keys[key] = line
            with_keys.add(category)
        rows.append((category, key or None))
    # One row per category without a key, and none for a category that has keys.
    kept: list[tuple[str, str | None]] = []
    placeholders: set[str] = set()
    for category, mapped_key in rows:
        if mapped_key is None:
            if category in with_keys or category in placeholders:
                continue
            placeholders.add(category)
        kept.append((category, mapped_key))
    return kept, problems


def _category_problems(category: str) -> list[Problem]:
    if not category or len(category) > CATEGORY_MAX:
        return [Problem("category", f"give a category of 1 to {CATEGORY_MAX} characters")]
    return []


def _key_problems(key: str, required: bool) -> list[Problem]:
    if required and not key:
        return [Problem("partner_key", "give a key")]
    if len(key) > KEY_MAX:
        return [Problem("partner_key", f"a key is at most {KEY_MAX} characters")]
    if any(c.isspace() for c in key):
        return [Problem("partner_key", "a key must not contain spaces (ServiceTitan refuses them in slot.serviceId)")]
    return []


def _key_taken(key: str) -> bool:
    return (db.session.scalar(select(func.count()).select_from(JobType).where(JobType.partner_key == key)) or 0) > 0


def _rows_of(category: str) -> list[JobType]:
    return list(db.session.scalars(select(JobType).where(JobType.category == category)))


def _next_position(category: str) -> int:
    """After the category's last row, or at the end for a new category."""
    rows = _rows_of(category)
    if rows:
        position = max(r.position for r in rows)
        # Make room right after the category's rows so it stays together.
        for later in db.session.scalars(select(JobType).where(JobType.position > position)):
            later.position += 1
        return position + 1
    return (db.session.scalar(select(func.max(JobType.position))) or 0) + 1
