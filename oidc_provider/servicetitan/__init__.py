"""The partner's calls to ServiceTitan: the Leads API client, the outbox that sends every
call, bookings, and Custom pairing.

``errors.py`` types ServiceTitan's answers, ``validation.py`` holds its payload rules,
``environments.py`` says where the sandbox and production are, ``leads_api.py`` calls
them, ``outbox.py`` queues and delivers, ``bookings.py`` and ``custom_pairing.py`` decide
what to send. ``st_sandbox/`` (beside this package) stands in for ServiceTitan offline.
"""

import threading

from flask import Flask

from .leads_api import TokenCache
from .outbox import start_in_process


def init_app(app: Flask) -> None:
    app.extensions["oidc_provider.servicetitan"] = {"tokens": TokenCache(), "worker_stop": threading.Event()}
    if app.config["OUTBOX_IN_PROCESS"]:
        # At the first request, not here: gunicorn forks its workers after the app is
        # built, and a thread started before the fork would not exist in them.
        app.before_request(lambda: _start_worker(app))


def _start_worker(app: Flask) -> None:
    start_in_process(app)
