"""flask leads / flask availability: what ServiceTitan's webhooks told us."""

import click

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.servicetitan import leads_report, webhooks
from oidc_provider.servicetitan.environments import ENVIRONMENTS

group = CommandGroup("leads", help="Lead status updates from ServiceTitan's webhooks.")
availability_group = CommandGroup("availability", help="Availability pushed by ServiceTitan's webhooks.")

environment_option = click.option(
    "--environment",
    type=click.Choice(ENVIRONMENTS),
    help="The ServiceTitan environment reported on. Default: OIDC_PROVIDER_SERVICETITAN_ENVIRONMENT.",
)


@group.command("report")
@environment_option
@json_option
def report_command(environment, as_json):
    """The funnel, decline reasons, time to acceptance and invoiced revenue, per account
    and profile, of one ServiceTitan environment."""
    data = leads_report.report(environment)
    funnel = data["total"]["funnel"]
    text = (
        f"{data['environment']}: "
        + ", ".join(f"{stage} {count}" for stage, count in funnel.items())
        + f"; revenue {data['total']['revenue']}"
    )
    report(data, as_json, text)


@group.command("timeline")
@click.argument("partner_booking_id")
@json_option
def timeline_command(partner_booking_id, as_json):
    """The booking we sent and its status updates, in event-time order."""
    data = leads_report.timeline(partner_booking_id)
    if data is None:
        fail(f"nothing is known about partnerBookingId {partner_booking_id!r}")
    lines = [f"{u['at']}  {u['status']}" for u in data["updates"]]
    report(data, as_json, "\n".join(lines) or "sent; no status update yet")


@availability_group.command("show")
@environment_option
@json_option
def show_command(environment, as_json):
    """The latest availability one ServiceTitan environment pushed for each account,
    profile and service."""
    data = webhooks.latest_availability(environment)
    lines = [f"{d['accountId']} {d['profileId']} {d['serviceId']}  received {d['receivedAt']}" for d in data]
    report(data, as_json, "\n".join(lines) or "no availability received yet")
