"""Query strings never reach the logs, gunicorn's own messages included: the production
server with the shipped settings, sent requests it refuses and quotes in its log."""

from __future__ import annotations

import socket

from tests.conftest import ENCRYPTION_KEY
from tests.gunicorn_server import Gunicorn, production_environment


def _send(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw)
        return connection.recv(200)


def test_gunicorns_own_messages_carry_no_query_string(tmp_path):
    env = production_environment(
        f"sqlite:///{tmp_path / 'logs.sqlite'}", "http://127.0.0.1", "logs-secret", ENCRYPTION_KEY
    )
    log_path = tmp_path / "gunicorn.log"
    with Gunicorn(env, log_path, workers=1) as server:
        # A control character makes gunicorn refuse the request line, and log it whole.
        refused = _send(server.port, b"GET /authorize?state=st-secret-1\x01 HTTP/1.1\r\nHost: x\r\n\r\n")
        answered = _send(server.port, b"GET /authorize?login_hint=hint-secret-2 HTTP/1.1\r\nHost: x\r\n\r\n")
    log = log_path.read_text(errors="replace")

    assert refused.startswith(b"HTTP/1.1 400") and answered.startswith(b"HTTP/1.1 400")
    assert "Invalid HTTP request line: 'GET /authorize" in log
    assert "st-secret-1" not in log and "hint-secret-2" not in log
