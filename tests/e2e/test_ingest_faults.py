"""Processes killed mid-work, as production runs them: nothing answered or sent is lost,
nothing is done twice.

- An outbox worker (``flask outbox run``) is SIGKILLed, by its own PID, while its booking
  call is in flight at the ServiceTitan sandbox; the worker that takes over after the lease
  sees the booking delivered, and the sandbox holds exactly one booking.
- A gunicorn web worker is SIGKILLed during a burst of 300 webhook deliveries; every
  delivery answered 200 is stored and judged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import OutboxMessage, WebhookDelivery
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from oidc_provider.servicetitan.leads_api import BOOKINGS_PATH
from tests.conftest import ENCRYPTION_KEY, build_app, unavailable
from tests.e2e.test_multi_instance import redis_reachable
from tests.factories import Factories
from tests.gunicorn_server import Gunicorn, production_environment
from tests.servicetitan.test_outbox import ACCOUNT, booking, queue_booking
from tests.servicetitan.test_webhooks import KEY, PREFIX, add_booking, body, sender

LEASE = 3


def wait_for(condition, seconds: float = 60, what: str = "the condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def outbox_worker(env: dict, log_path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "oidc_provider", "outbox", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def require_redis() -> None:
    if not redis_reachable():
        unavailable("Redis is not reachable at 127.0.0.1:6379 (production keeps throttling counts there)")


def test_an_outbox_worker_killed_mid_booking_leaves_one_booking_delivered(new_postgres_database, tmp_path, st_sandbox):
    require_redis()
    url = new_postgres_database("outbox_kill")
    app = build_app(url, tmp_path)
    Factories(app).servicetitan(st_sandbox.url)
    st_sandbox.state.pair_account(dict(ACCOUNT))
    message_id = queue_booking(app, booking())
    # The booking waits 2 s at the sandbox before it is applied: time to kill the sender.
    delay = st_sandbox.state.inject(BOOKINGS_PATH, "delay", seconds=2)
    env = production_environment(
        url, "http://127.0.0.1", "outbox-secret-key", ENCRYPTION_KEY, OUTBOX_LEASE=LEASE, OUTBOX_POLL_INTERVAL=0.2
    )

    first = outbox_worker(env, tmp_path / "worker-1.log")
    try:
        wait_for(lambda: delay not in st_sandbox.state.faults, what="the booking call to be in flight")
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    bookings = lambda: [a for a in st_sandbox.state.applied if a.path == BOOKINGS_PATH]  # noqa: E731
    wait_for(lambda: len(bookings()) == 1, what="the sandbox to apply the booking the dead worker sent")

    second = outbox_worker(env, tmp_path / "worker-2.log")
    try:

        def state():
            with app.app_context():
                return db.session.scalar(select(OutboxMessage.state).where(OutboxMessage.id == message_id))

        wait_for(lambda: state() != "pending", seconds=LEASE + 60, what="the second worker to take over")
    finally:
        second.terminate()
        second.wait(timeout=15)
    with app.app_context():
        message = db.session.get(OutboxMessage, message_id)
        assert (message.state, message.attempts) == ("delivered", 2), (message.state, message.last_error)
        assert message.last_error["code"] == 11303 and message.last_error["proves"] == "an earlier attempt landed"
    assert len(bookings()) == 1


def test_a_web_worker_killed_during_a_burst_loses_no_delivery_answered_200(new_postgres_database, tmp_path):
    require_redis()
    url = new_postgres_database("webhook_kill")
    app = build_app(url, tmp_path)
    with app.app_context():
        paste(KEY, "test")
    add_booking(app)
    env = production_environment(url, "http://127.0.0.1", "webhook-secret-key", ENCRYPTION_KEY)
    documents = [body("accepted", statusUpdateId=f"burst-{n}") for n in range(300)]
    answered = []
    killed = []
    guard = threading.Lock()

    with Gunicorn(env, tmp_path / "gunicorn.log", workers=2) as server:
        victim = server.worker_pids()[0]

        def deliver(document):
            try:
                answer = sender.send(server.url + PREFIX, "accepted", document, KEY, timeout=30)
            except requests.RequestException:
                return None  # the connection died with the worker: not answered, may or may not be kept
            with guard:
                answered.append(answer)
                if len(answered) == 100 and not killed:
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
            return answer

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(deliver, documents))
        wait_for(lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2, what="a new worker")

    assert killed == [victim]
    ok = [a for a in answers if a is not None and a.status_code == 200]
    assert len(ok) >= 200  # the other worker, and the new one, kept answering
    with app.app_context():
        rows = {row.id: row for row in db.session.scalars(select(WebhookDelivery))}
        for answer in ok:
            row = rows[answer.json()["deliveryId"]]
            assert row.state == answer.json()["state"] == "stored"
            assert row.body == answer.request.body
        assert not [row.id for row in rows.values() if row.state == "received"]
