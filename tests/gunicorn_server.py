"""The product as production runs it: gunicorn with the shipped configuration, in a subprocess.

Used by the tests that need several worker processes or several instances.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_environment(database_url: str, issuer: str, secret_key: str, encryption_key: str, **settings) -> dict:
    """A clean environment for a production-mode instance: nothing of the caller's
    OIDC_PROVIDER_* or DATABASE_URL leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OIDC_PROVIDER_", "PROMETHEUS_")) and k != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=database_url,
        OIDC_PROVIDER_MODE="production",
        OIDC_PROVIDER_ISSUER=issuer,
        OIDC_PROVIDER_SECRET_KEY=secret_key,
        OIDC_PROVIDER_ENCRYPTION_KEYS=json.dumps([encryption_key]),
        OIDC_PROVIDER_RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
    )
    env.update({f"OIDC_PROVIDER_{name}": str(value) for name, value in settings.items()})
    return env


PRODUCT = ("oidc_provider:create_app()", ("-c", "python:oidc_provider.gunicorn_conf"), "/healthz")


class Gunicorn:
    """``gunicorn -c python:oidc_provider.gunicorn_conf "oidc_provider:create_app()"`` on a
    free loopback port; ready once /healthz answers. Its log is kept in ``log_path``.
    ``serving`` names another application, its options and the path that says it is ready."""

    def __init__(
        self,
        env: dict,
        log_path: Path,
        workers: int = 2,
        port: int | None = None,
        serving: tuple[str, tuple[str, ...], str] = PRODUCT,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.application, self.options, self.ready_path = serving
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            *self.options,
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            self.application,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_ready()
        except BaseException:
            self.__exit__(None, None, None)  # never leave a server behind
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                if (
                    requests.get(self.url + self.ready_path, timeout=1).status_code == 200
                    and len(self.worker_pids()) == self.workers
                ):
                    return
            except requests.RequestException:  # bound, but no worker answering yet
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not answer within {STARTUP_SECONDS} s:\n{self.log()}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]
