"""Everything about ServiceTitan, in and out.

Statuses and limits (the one definition of each), the catalog the partner configures
(``catalog``), where the sandbox and production are (``environments``), ServiceTitan's
errors typed (``errors``), its payload rules (``validation``), the Leads API client
(``leads_api``), the outbox that sends every call (``outbox``), bookings, and the webhooks
ServiceTitan sends us (``webhooks``, ``leads_report``), and the partner's event feed with
its push (``events``, ``forwarding``). ``st_sandbox/``
(beside this package) stands in for ServiceTitan offline.

May import: ``core``, ``directory``.
"""

import threading

from flask import Flask

# forwarding registers its sender with the outbox on import, bookings what follows from a
# booking's outcome: every worker knows them.
from oidc_provider.servicetitan import (
    bookings,  # noqa: F401
    forwarding,  # noqa: F401
    webhook_sweeper,
)
from oidc_provider.servicetitan.leads_api import TokenCache
from oidc_provider.servicetitan.outbox import start_in_process


def init_app(app: Flask) -> None:
    app.extensions["oidc_provider.servicetitan"] = {
        "tokens": TokenCache(),
        "worker_stop": threading.Event(),
        "sweeper_stop": threading.Event(),
    }
    if app.config["WEBHOOK_SWEEP_INTERVAL"]:
        # At the first request too, for the same reason as the outbox worker below.
        app.before_request(lambda: _start_sweeper(app))
    if app.config["OUTBOX_IN_PROCESS"]:
        # At the first request, not here: gunicorn forks its workers after the app is
        # built, and a thread started before the fork would not exist in them.
        app.before_request(lambda: _start_worker(app))


def _start_worker(app: Flask) -> None:
    start_in_process(app)


def _start_sweeper(app: Flask) -> None:
    webhook_sweeper.start(app)
