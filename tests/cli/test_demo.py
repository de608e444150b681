"""The README's run command, as a newcomer runs it: ``./scripts/demo``, then the printed link.

The command runs as a subprocess from the repository root (bootstrap included, so it may
spend a while in pip), on free ports, with its issuer derived from PROVIDER_PORT. It gets
a fresh SQLite database and its development secrets from the environment, so nothing is
read from or written to the checkout's own instance folder.
"""

from __future__ import annotations

import base64
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.gunicorn_server import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_LIMIT = 120  # seconds: bootstrap runs pip install before the servers start
START_LINE = re.compile(r"^Start a pairing: (http://\S+)$")
PASSWORD_LINE = re.compile(r"password (\S+)\.$")


class Output:
    """The command's merged output, drained by a thread so that a full pipe never blocks it."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: re.Pattern, limit: float) -> re.Match:
        deadline = time.monotonic() + limit
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                pytest.fail("the command exited before printing the link:\n" + self.text())
            self.lines.append(line)
            if match := pattern.search(line):
                return match
        pytest.fail(f"no line matching {pattern.pattern!r} within {limit} s:\n" + self.text())

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def demo(tmp_path):
    """``./scripts/demo`` running in a process group of its own; stopped with SIGTERM."""
    provider_port, sandbox_port = free_port(), free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("OIDC_PROVIDER_")}
    env.update(
        PROVIDER_PORT=str(provider_port),
        SANDBOX_PORT=str(sandbox_port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite'}",
        # Fixed development secrets, so the checkout's instance folder is left alone.
        OIDC_PROVIDER_SECRET_KEY="demo-command-test-secret-key",
        OIDC_PROVIDER_ENCRYPTION_KEYS=base64.urlsafe_b64encode(b"demo-command-test-fernet-key-32b").decode(),
    )
    process = subprocess.Popen(
        ["./scripts/demo"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(process.stdout)
    try:
        yield process, output, provider_port, sandbox_port, tmp_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                pytest.fail("./scripts/demo ignored SIGTERM:\n" + output.text())


def test_readme_run_command_prints_a_link_that_completes_a_pairing(demo, page):
    process, output, provider_port, sandbox_port, folder = demo
    link = output.wait_for(START_LINE, STARTUP_LIMIT).group(1)
    assert link == f"http://127.0.0.1:{sandbox_port}/pair"
    text = output.text()
    assert f"Provider:  http://127.0.0.1:{provider_port}" in text
    password = PASSWORD_LINE.search(next(line for line in output.lines if "owner@mtech.example" in line)).group(1)
    assert (folder / "demo.sqlite").exists()

    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(link)
    assert page.url.startswith(f"http://127.0.0.1:{provider_port}/login")
    page.get_by_label("Email").fill("owner@mtech.example")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    callback = f"http://127.0.0.1:{sandbox_port}/callback"
    with page.expect_response(lambda r: r.url == callback and r.request.method == "POST") as posted:
        page.get_by_role("button", name="Allow").click()
    assert posted.value.status == 200

    assert page.locator("#pairing-status").text_content() == "COMPLETED"
    assert page.locator("#pairing-error").count() == 0
    assert '"Id": "mtech-hvac"' in page.locator("#account-info").text_content()
    assert [line for line in console if "Content Security Policy" in line] == []

    # The sandbox's Custom pairing button, for another account (ServiceTitan refuses to pair
    # one twice): the provider reports to the sandbox through its in-process outbox
    # worker, and its page follows ServiceTitan's answers until they are final.
    page.context.clear_cookies()
    page.goto(f"http://127.0.0.1:{sandbox_port}/")
    page.get_by_role("button", name="Pair with Custom pairing").click()
    page.get_by_label("Email").fill("manager@mtech.example")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    assert page.url.startswith(f"http://127.0.0.1:{provider_port}/st/pair?requestId=")
    page.get_by_label("MTech Plumbing").check()
    page.get_by_role("button", name="Allow").click()
    page.locator('#pairing-progress[data-state="completed"]').wait_for(timeout=20_000)
    page.goto(f"http://127.0.0.1:{sandbox_port}/")
    assert page.locator("#requests .status").all_text_contents() == ["COMPLETED", "COMPLETED"]

    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=15) == -signal.SIGTERM  # exec'd: the provider itself got it
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # nothing of the group is left running
