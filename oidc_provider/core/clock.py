"""The one source of the current time, so that tests can move it instead of sleeping."""

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def timestamp() -> int:
    """The current time as integer Unix seconds, as JWT claims carry it."""
    return int(now().timestamp())
