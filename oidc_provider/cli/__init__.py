"""Flask CLI groups: thin wrappers over the domain modules.

May import: every room but ``web``. Nothing imports ``cli`` (but the app factory).
"""

from flask import Flask

from oidc_provider.cli import (
    admins,
    api_clients,
    bookings,
    catalog,
    clients,
    demo,
    directory,
    events,
    keys,
    leads,
    outbox,
    pairings,
    purge,
    servicetitan,
    version,
)


def init_app(app: Flask) -> None:
    for subgroup in (
        catalog.job_types_group,
        catalog.extra_details_group,
        catalog.webhook_keys_group,
        catalog.logo_group,
    ):
        servicetitan.group.add_command(subgroup)
    for group in (
        clients.group,
        api_clients.group,
        directory.group,
        keys.group,
        admins.group,
        demo.group,
        purge.purge_command,
        outbox.group,
        bookings.group,
        events.group,
        pairings.group,
        servicetitan.group,
        leads.group,
        leads.availability_group,
        version.version_command,
    ):
        app.cli.add_command(group)
