"""flask outbox: the worker that sends every call to ServiceTitan, and what it could not send."""

import signal
import threading

import click
from flask import current_app
from prometheus_client import start_http_server
from sqlalchemy import select

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core.extensions import db
from oidc_provider.core.models import OutboxMessage
from oidc_provider.servicetitan import outbox

group = CommandGroup("outbox", help="Send queued calls to ServiceTitan; list, resend or discard them.")


@group.command("run")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (for cron or a test).")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve this worker's counts (outbox sends by kind and outcome) to Prometheus on this port, at /metrics.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="The address --metrics-port listens on.")
@json_option
def run(once, metrics_port, metrics_host, as_json):
    """Run a worker until stopped (Ctrl-C or SIGTERM). Run as many as you like: they
    never send one message twice at once, and keep each pairing's calls in order."""
    worker = outbox.OutboxWorker(current_app._get_current_object())
    if metrics_port and not once:
        try:
            start_http_server(metrics_port, metrics_host)
        except OSError as error:
            fail(f"cannot serve metrics on {metrics_host}:{metrics_port}: {error}")
    if once:
        attempts = worker.run_once()
        report({"attempts": attempts}, as_json, f"{attempts} attempt(s) made")
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    outbox.log.info(
        "outbox worker %s running; Ctrl-C or SIGTERM stops it", worker.name, extra={"data": {"worker": worker.name}}
    )
    worker.run(stop)
    outbox.log.info("outbox worker %s stopped", worker.name, extra={"data": {"worker": worker.name}})


@group.command("list")
@click.option(
    "--state",
    type=click.Choice([outbox.PENDING, outbox.DELIVERED, outbox.FAILED, outbox.DISCARDED]),
    help="Only messages in this state.",
)
@click.option("--limit", default=50, show_default=True, help="Newest messages first, at most this many.")
@json_option
def list_messages(state, limit, as_json):
    """List messages (never a booking's personal data)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if state:
        query = query.where(OutboxMessage.state == state)
    rows = [outbox.summary(m) for m in db.session.scalars(query)]
    lines = [
        f"#{m['id']}  {m['kind']:14} {m['state']:9} attempts {m['attempts']}  "
        f"{m.get('requestId') or m.get('partnerBookingId')}"
        + (f"  {m['lastError']['name']} {m['lastError'].get('code') or ''}".rstrip() if m["lastError"] else "")
        for m in rows
    ]
    report(rows, as_json, "\n".join(lines) or "the outbox is empty")


def _message(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        fail(f"no outbox message #{message_id}")
    return message


@group.command("resend")
@click.argument("message_id", type=int)
@click.option("--actor", default="cli", show_default=True, help="Recorded in the audit log.")
@json_option
def resend(message_id, actor, as_json):
    """Send a refused message again after fixing its cause (a booking gets a new
    idempotency token, as ServiceTitan requires)."""
    try:
        message = outbox.resend(_message(message_id), actor)
    except outbox.OutboxConflict as error:
        fail(str(error))
    report(outbox.summary(message), as_json, f"message #{message.id} queued again")


@group.command("discard")
@click.argument("message_id", type=int)
@click.option("--actor", default="cli", show_default=True, help="Recorded in the audit log.")
@json_option
def discard(message_id, actor, as_json):
    """Give up on a message; later calls for the same pairing go out after it."""
    try:
        message = outbox.discard(_message(message_id), actor)
    except outbox.OutboxConflict as error:
        fail(str(error))
    report(outbox.summary(message), as_json, f"message #{message.id} discarded")
