"""The "Extra Details" parameters: the keys a booking's ``extraDetails`` may carry.

ServiceTitan's screen takes up to 50 of them, each a parameter (the key) and the name it
displays. Keys are compared without regard to case, because ServiceTitan refuses a booking
whose extraDetails repeat a key in another case (DuplicateExtraDetail, 11304).
"""

from __future__ import annotations

from sqlalchemy import delete, select

from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import ExtraDetailParameter
from oidc_provider.core.problems import Problem, ProblemError

MAX_PARAMETERS = 50
KEY_MAX = 128
DISPLAY_NAME_MAX = 128


class ExtraDetailsError(ProblemError):
    """Rows that break a rule; each problem is at ``rows[INDEX].key`` or
    ``rows[INDEX].display_name``, or with the whole list (``where`` empty)."""


def parameters() -> list[ExtraDetailParameter]:
    return list(db.session.scalars(select(ExtraDetailParameter).order_by(ExtraDetailParameter.position)))


def save_parameters(rows: list[tuple[str, str]], actor: str) -> list[ExtraDetailParameter]:
    """Replace the parameters with ``rows`` of (key, display name); rows left wholly
    empty are dropped. Refused whole when any row breaks a rule."""
    rows = [(key.strip(), name.strip()) for key, name in rows]
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    kept = [(index, key, name) for index, (key, name) in enumerate(rows) if key or name]
    for index, key, name in kept:
        if not key or len(key) > KEY_MAX or any(c.isspace() or not c.isprintable() for c in key):
            problems.append(
                Problem(f"rows[{index}].key", f"give a parameter of 1 to {KEY_MAX} characters, without spaces")
            )
        elif key.casefold() in seen:
            problems.append(
                Problem(
                    f"rows[{index}].key",
                    f"{key!r} repeats row {seen[key.casefold()] + 1} (ServiceTitan ignores case: 11304)",
                )
            )
        else:
            seen[key.casefold()] = index
        if not name or len(name) > DISPLAY_NAME_MAX:
            problems.append(
                Problem(f"rows[{index}].display_name", f"give a display name of 1 to {DISPLAY_NAME_MAX} characters")
            )
    if len(kept) > MAX_PARAMETERS:
        problems.insert(
            0, Problem("", f"ServiceTitan takes at most {MAX_PARAMETERS} parameters; {len(kept)} were given")
        )
    if problems:
        raise ExtraDetailsError(problems)
    db.session.execute(delete(ExtraDetailParameter))
    # The deletion must reach the database before rows with the same folded keys arrive.
    db.session.flush()
    saved = [
        ExtraDetailParameter(key=key, key_folded=key.casefold(), display_name=name, position=position)
        for position, (_, key, name) in enumerate(kept)
    ]
    db.session.add_all(saved)
    record_event("extra_details_saved", actor, {"keys": [p.key for p in saved]})
    db.session.commit()
    return saved
