"""flask events: the partner's event feed, as /api/v1/events shows it."""

import click

from oidc_provider.cli.output import CommandGroup, json_option, report
from oidc_provider.servicetitan import events

group = CommandGroup("events", help="The partner's event feed.")


@group.command("list")
@click.option("--after", type=click.IntRange(0), help="Only the events after this id.")
@click.option(
    "--limit",
    type=click.IntRange(1, events.LIMIT_MAX),
    default=events.LIMIT_DEFAULT,
    show_default=True,
    help="At most this many, oldest first.",
)
@json_option
def list_events(after, limit, as_json):
    """The events after --after, oldest first, the same objects as GET /api/v1/events."""
    items, following = events.page(after, limit)
    lines = [f"{e['id']}  {e['occurredAt']}  {e['type']}" for e in items]
    if following:
        lines.append(f"more: --after {following}")
    report({"items": items, "next": following}, as_json, "\n".join(lines) or "no events")
