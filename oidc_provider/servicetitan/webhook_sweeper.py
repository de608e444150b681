"""The sweep that leaves no webhook delivery unjudged.

A delivery's raw row commits even when its judging fails (``webhooks.receive``); such a row,
and any left by a process that died between the two in an earlier version, stays in state
``received`` until ``webhooks.judge_waiting`` judges it. Each web process runs that sweep
in a thread of its own: once as it starts serving, then every WEBHOOK_SWEEP_INTERVAL
seconds. Several processes sweep safely at once (see ``judge_waiting``).
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask

from oidc_provider.servicetitan.webhooks import judge_waiting

log = logging.getLogger(__name__)

_BATCH = 100
_started: set[tuple[int, int]] = set()
_started_guard = threading.Lock()


def sweep(app: Flask) -> int:
    """Judge every delivery waiting now; the number judged."""
    judged = 0
    with app.app_context():
        while (count := judge_waiting(_BATCH)) > 0:
            judged += count
            if count < _BATCH:
                break
    if judged:
        log.warning("judged %s webhook deliveries left unjudged", judged)
    return judged


def start(app: Flask) -> threading.Thread | None:
    """Start this process's sweeper, once per process and app (gunicorn forks its workers
    after the app is built, so each starts its own at its first request)."""
    interval = app.config["WEBHOOK_SWEEP_INTERVAL"]
    key = (id(app), os.getpid())
    if key in _started:  # every request asks: answer without the lock
        return None
    with _started_guard:
        if not interval or key in _started:
            return None
        _started.add(key)
    stop = app.extensions["oidc_provider.servicetitan"]["sweeper_stop"]
    thread = threading.Thread(target=_run, args=(app, interval, stop), name="webhook-sweeper", daemon=True)
    thread.start()
    return thread


def _run(app: Flask, interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            sweep(app)
        except Exception:  # noqa: BLE001 - e.g. the database restarting: the next sweep tries again
            log.exception("webhook sweep failed")
        stop.wait(interval)
