"""The production web server, named here only: the container, the systemd unit and the
guides start it as ``pairing-server``, so that changing the server changes this file.

    pairing-server --bind 0.0.0.0:8000

Today it is gunicorn with ``oidc_provider/gunicorn_conf.py``; every argument is passed on
to gunicorn (``--bind``, ``--workers``, ...). Without ``--bind`` gunicorn listens on
``0.0.0.0:$PORT`` when ``PORT`` is set (as in the container), else on ``127.0.0.1:8000``.
"""

from __future__ import annotations

import os
import sys


def command(arguments: list[str]) -> list[str]:
    """The server's command line. ``python -m gunicorn`` from this interpreter, so that it
    runs from the installation's own environment whatever is on PATH."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:oidc_provider.gunicorn_conf",
        *arguments,
        "oidc_provider:create_app()",
    ]


def main() -> None:
    argv = command(sys.argv[1:])
    # The server replaces this process, so that it gets the signals (SIGTERM, SIGHUP) itself.
    os.execv(argv[0], argv)
