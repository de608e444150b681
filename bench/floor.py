"""The floor under the provider: what a request costs this stack before the product does anything.

    python bench/floor.py --database-url postgresql+psycopg://postgres@127.0.0.1/oidc_floor [--requests 3000]

Serves, in turn, four tiny applications with gunicorn exactly as bench/run-all.sh serves the
provider (sync worker, pinned to core 1, the driver on core 0; one worker here, so that
nothing else runs on the core) and measures the server CPU time per request from /proc:

- ``wsgi``: a bare WSGI callable answering ``{}``;
- ``flask``: a Flask view answering ``{}``;
- ``flask-db-1`` and ``flask-db-6``: a Flask view that runs one database transaction of 1 or
  6 prebuilt Core statements (a primary-key read of a small table) through Flask-SQLAlchemy,
  with the provider's engine settings (pooled connections checked before use), then commits.

The difference between the last two, divided by five, is the CPU of one statement; the
rest of flask-db-1 over flask is the transaction (pool checkout, ping, commit). The
database must be empty: the script creates and fills one table in it. Results go to
docs/performance.md ("The floor").
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import tree_cpu_seconds  # noqa: E402

VARIANTS = ("wsgi", "flask", "flask-db-1", "flask-db-6")


def create_app():
    """The application gunicorn serves, chosen by FLOOR_VARIANT."""
    variant = os.environ["FLOOR_VARIANT"]
    if variant == "wsgi":

        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
            return [b"{}"]

        return application

    from flask import Flask, jsonify

    app = Flask(__name__)
    if variant == "flask":
        app.add_url_rule("/", "floor", lambda: jsonify({}))
        return app

    from flask_sqlalchemy import SQLAlchemy
    from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select

    statements = int(variant.rsplit("-", 1)[1])
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["FLOOR_DATABASE_URL"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "hide_parameters": True}
    db = SQLAlchemy(app, metadata=MetaData())
    rows = Table("floor_rows", db.metadata, Column("id", Integer, primary_key=True), Column("name", String(64)))
    read = select(rows).where(rows.c.id == bindparam("row_id"))

    def view():
        for n in range(statements):
            db.session.execute(read, {"row_id": n % 10 + 1}).first()
        db.session.commit()
        return jsonify({})

    app.add_url_rule("/", "floor", view)
    return app


def prepare(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS floor_rows (id INTEGER PRIMARY KEY, name VARCHAR(64))"))
        connection.execute(text("DELETE FROM floor_rows"))
        connection.execute(
            text("INSERT INTO floor_rows (id, name) SELECT n, 'row ' || n FROM generate_series(1, 10) n")
        )
    engine.dispose()


def measure(variant: str, database_url: str, requests: int, warmup: int, port: int, server_cpu: str) -> float:
    """Server CPU milliseconds per request for one variant."""
    env = {**os.environ, "FLOOR_VARIANT": variant, "FLOOR_DATABASE_URL": database_url}
    server = subprocess.Popen(
        [
            "taskset",
            "-c",
            server_cpu,
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(HERE),
            "floor:create_app()",
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for _ in range(warmup):
            _get(port)
        before = tree_cpu_seconds(server.pid)
        for _ in range(requests):
            _get(port)
        return (tree_cpu_seconds(server.pid) - before) * 1000 / requests
    finally:
        server.terminate()
        server.wait()


def _get(port: int) -> None:
    # A new connection per request, as a sync worker closes each one after its answer.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/")
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"the floor app answered {response.status}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--server-cpu", default="1", help="the core gunicorn is pinned to")
    parser.add_argument("--driver-cpu", default="0", help="the core this driver is pinned to")
    options = parser.parse_args(argv)
    os.sched_setaffinity(0, {int(options.driver_cpu)})

    prepare(options.database_url)
    costs = {
        variant: measure(
            variant, options.database_url, options.requests, options.warmup, options.port, options.server_cpu
        )
        for variant in VARIANTS
    }
    for variant, cost in costs.items():
        print(f"{variant:12} {cost:6.3f} ms server CPU per request")
    statement = (costs["flask-db-6"] - costs["flask-db-1"]) / 5
    print(f"{'statement':12} {statement:6.3f} ms per Core statement (flask-db-6 - flask-db-1) / 5")
    print(
        f"{'transaction':12} {costs['flask-db-1'] - costs['flask'] - statement:6.3f} ms per transaction "
        "(checkout, ping, commit)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
