"""Where a request's CPU time goes: the hot paths in one process, under cProfile.

    python bench/profile_hot_paths.py --database-url postgresql+psycopg://postgres@127.0.0.1/oidc_profile \
        [--path token|authorize|account-info] [--requests 300] [--top 25] [--statements]

Give it an empty database of its own: it migrates it and encrypts its signing keys under a
key made for the run. It makes a tenant and a client, signs in and consents
once, then repeats one hot path through Flask's test client — the code exchange, the
authorization request with a signed-in session, or account-info — first unprofiled (CPU
per request), then under cProfile with the CPU clock. It prints the CPU shared out by
package (SQLAlchemy, psycopg, Flask and Werkzeug, Authlib, ...) and the costliest functions.
``--statements`` first lists the SQL statements of one request of the path (the checkout's
ping and the COMMIT are not among them).
The test client's own share is counted under "werkzeug/flask"; bench/run.py gives the
server-side figure of a real deployment.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import html
import io
import pstats
import re
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from urllib.parse import urlencode

from cryptography.fernet import Fernet

PASSWORD = "profile-password-1"
CALLBACK = "https://bench.invalid/callback"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PENDING = re.compile(r'name="pending" value="([^"]*)"')
PACKAGES = (
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "flask",
    "werkzeug",
    "jinja2",
    "authlib",
    "joserfc",
    "cryptography",
    "flask_login",
    "flask_wtf",
    "flask_limiter",
    "prometheus_client",
    "oidc_provider",
    "json",
    "logging",
)


def build(database_url: str):
    from flask_migrate import upgrade

    from oidc_provider import create_app
    from oidc_provider.directory.store import import_directory
    from oidc_provider.oidc.client_registry import ClientSettings, create_client

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "profile",
            "ISSUER": "http://localhost",
            "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    app.instance_path = tempfile.mkdtemp()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        import_directory(
            {
                "accounts": [{"id": "acct-p", "name": "Profile", "profiles": [{"id": "p-p", "name": "Main"}]}],
                "users": [{"email": "profile@bench.example", "password": PASSWORD, "accounts": ["acct-p"]}],
            }
        )
        client, secret = create_client(
            ClientSettings(name="ServiceTitan (profile)", redirect_uris=[CALLBACK], scope="openid profile email")
        )
        return app, client.client_id, secret


class Paths:
    def __init__(self, app, client_id: str, secret: str):
        self.web = app.test_client()
        self.client_id, self.secret = client_id, secret
        self.basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        page = self.web.get(self._authorize_url())
        login = self.web.get(page.headers["Location"])
        self.web.post(
            "/login",
            data={
                "csrf_token": _CSRF.search(login.text).group(1),
                "pending": _PENDING.search(login.text).group(1),
                "email": "profile@bench.example",
                "password": PASSWORD,
            },
        )
        self.code()  # the consent page, once; remembered afterwards

    def _authorize_url(self) -> str:
        return "/authorize?" + urlencode(
            {
                "client_id": self.client_id,
                "response_type": "code",
                "scope": "openid profile email",
                "state": uuid.uuid4().hex,
                "redirect_uri": CALLBACK,
            }
        )

    def code(self) -> str:
        page = self.web.get(self._authorize_url(), follow_redirects=True)
        if 'name="decision"' in page.text:
            fields = {
                "csrf_token": _CSRF.search(page.text).group(1),
                "pending": _PENDING.search(page.text).group(1),
                "decision": "allow",
                **{k: v for k, v in _HIDDEN.findall(page.text) if k == "account_id"},
            }
            page = self.web.post("/authorize/decision", data=fields)
        return html.unescape(dict(_HIDDEN.findall(page.text))["code"])

    def token(self, code: str) -> dict:
        response = self.web.post(
            "/token",
            headers={"Authorization": self.basic},
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "client_id": self.client_id,
                "client_secret": self.secret,
            },
        )
        assert response.status_code == 200, response.text
        return response.json

    def account_info(self, access_token: str) -> None:
        bearer = base64.b64encode(access_token.encode()).decode()
        response = self.web.get(
            f"/account-info?request_id={uuid.uuid4().hex}", headers={"Authorization": f"Bearer {bearer}"}
        )
        assert response.status_code == 200, response.text


def workload(paths: Paths, path: str, count: int):
    """The inputs prepared outside the measurement, and the measured callable."""
    if path == "token":
        codes = [paths.code() for _ in range(count)]
        return lambda: [paths.token(code) for code in codes]
    if path == "authorize":
        return lambda: [paths.code() for _ in range(count)]
    tokens = [paths.token(paths.code())["access_token"] for _ in range(count)]
    return lambda: [paths.account_info(token) for token in tokens]


def statements(app, paths: Paths, path: str) -> list[str]:
    """The statements one request of ``path`` sends, shortened, after one request that
    warms the process (the signing keys)."""
    from sqlalchemy import event

    from oidc_provider.core.extensions import db

    workload(paths, path, 1)()
    run = workload(paths, path, 1)
    sent: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split())[:100])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return sent


def by_package(stats: pstats.Stats) -> dict[str, float]:
    shares: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():
        name = next((p for p in PACKAGES if f"/{p}/" in filename or filename.endswith(f"/{p}.py")), None)
        if name is None:
            name = "builtins (C: hashing, signing, sockets)" if filename == "~" else "other Python"
        shares[name] += tottime
    return dict(sorted(shares.items(), key=lambda item: -item[1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--path", choices=["token", "authorize", "account-info"], default="token")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--statements", action="store_true", help="list one request's SQL statements first")
    options = parser.parse_args(argv)

    app, client_id, secret = build(options.database_url)
    paths = Paths(app, client_id, secret)
    if options.statements:
        sent = statements(app, paths, options.path)
        print(f"{options.path}: {len(sent)} statements in one request")
        for statement in sent:
            print(f"  {statement}")
    run = workload(paths, options.path, options.requests)
    started = time.process_time()
    run()
    unprofiled = (time.process_time() - started) / options.requests * 1000

    run = workload(paths, options.path, options.requests)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(tottime for (_, _, tottime, _, _) in stats.stats.values())

    print(
        f"{options.path}: {unprofiled:.2f} ms CPU per request unprofiled (test client included), "
        f"{options.requests} requests, {options.database_url.split(':')[0]}"
    )
    print("\nCPU by package, under the profiler:")
    for package, seconds in by_package(stats).items():
        print(f"  {package:42} {seconds / total * 100:5.1f} %")
    out = io.StringIO()
    stats.stream = out
    stats.sort_stats("tottime").print_stats(options.top)
    print("\n" + out.getvalue().split("\n", 4)[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
