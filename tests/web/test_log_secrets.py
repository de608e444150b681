"""No secret reaches a log, even with every logger at DEBUG.

One full run over real HTTP — directory import, client registration, a pairing, the token
exchange, account-info, userinfo, a failed sign-in, a reused code, a secret rotation and an
exchange with the new secret — with every record of every logger (Authlib's, Werkzeug's,
SQLAlchemy's included) captured whole: message, arguments, extra fields, exception. Then
every secret the run used is searched for in all of it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from urllib.parse import urlencode

import pytest
import requests

from tests.conftest import LiveServer
from tests.flows import hidden_fields

PASSWORD = "Log-Test-Password-7781"
WRONG_PASSWORD = "Wrong-Password-5512"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PENDING = re.compile(r'name="pending" value="([^"]*)"')


class Capture(logging.Handler):
    """Every record, with everything it carries."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.getMessage(), repr(record.args), repr(vars(record))]
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        self.texts.append("\n".join(parts))


@pytest.fixture
def every_log():
    capture = Capture()
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    loggers += [logging.getLogger(name) for name in ("authlib", "werkzeug", "sqlalchemy.engine", "flask-limiter")]
    levels = {logger: logger.level for logger in loggers}
    disabled = {logger: logger.disabled for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    root.addHandler(capture)
    yield capture
    root.removeHandler(capture)
    for logger in loggers:
        logger.setLevel(levels[logger])
        logger.disabled = disabled[logger]


def sign_in_and_consent(browser: requests.Session, base: str, client: dict, password: str) -> requests.Response:
    query = {
        "client_id": client["client_id"],
        "response_type": "code",
        "response_mode": "form_post",
        "scope": "openid profile email",
        "state": "log-state",
        "redirect_uri": "https://servicetitan.example/callback",
    }
    login = browser.get(f"{base}/authorize?{urlencode(query)}")
    if "code" in hidden_fields(login.text):  # signed in, consent remembered: straight to form_post
        return login
    answer = browser.post(
        f"{base}/login",
        data={
            "csrf_token": _CSRF.search(login.text).group(1),
            "pending": _PENDING.search(login.text).group(1),
            "email": "owner@mtech.example",
            "password": password,
        },
    )
    if answer.status_code != 200 or "Allow" not in answer.text:
        return answer
    return browser.post(
        f"{base}/authorize/decision",
        data={
            "csrf_token": _CSRF.search(answer.text).group(1),
            "pending": _PENDING.search(answer.text).group(1),
            "decision": "allow",
            "account_id": "acct-log",
        },
    )


def exchange(base: str, client: dict, code: str) -> requests.Response:
    return requests.post(
        f"{base}/token",
        auth=(client["client_id"], client["client_secret"]),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://servicetitan.example/callback",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
        timeout=10,
    )


def test_a_full_run_logs_no_secret(clean_app, tmp_path, every_log):
    runner = clean_app.test_cli_runner()
    directory = tmp_path / "directory.json"
    directory.write_text(
        json.dumps(
            {
                "accounts": [
                    {"id": "acct-log", "name": "Log Test HVAC", "profiles": [{"id": "p-log", "name": "Main"}]}
                ],
                "users": [
                    {"email": "owner@mtech.example", "password": PASSWORD, "name": "Owner", "accounts": ["acct-log"]}
                ],
            }
        )
    )
    assert runner.invoke(args=["directory", "import", str(directory), "--json"]).exit_code == 0
    created = runner.invoke(
        args=[
            "clients",
            "create",
            "--name",
            "ServiceTitan",
            "--redirect-uri",
            "https://servicetitan.example/callback",
            "--scope",
            "openid profile email",
            "--json",
        ]
    )
    client = json.loads(created.output)
    secrets = {"client secret": client["client_secret"], "password": PASSWORD, "wrong password": WRONG_PASSWORD}

    with LiveServer(clean_app) as server:
        base, browser = server.url, requests.Session()
        assert sign_in_and_consent(requests.Session(), base, client, WRONG_PASSWORD).status_code == 401
        form_post = sign_in_and_consent(browser, base, client, PASSWORD)
        code = hidden_fields(form_post.text)["code"]
        tokens = exchange(base, client, code).json()
        bearer = base64.b64encode(tokens["access_token"].encode()).decode()
        account_info = requests.get(
            f"{base}/account-info",
            params={"request_id": "req-log"},
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=10,
        )
        userinfo = requests.get(
            f"{base}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
        )
        reused = exchange(base, client, code)

        rotated = json.loads(runner.invoke(args=["clients", "rotate-secret", client["client_id"], "--json"]).output)
        client["client_secret"] = rotated["client_secret"]
        second_code = hidden_fields(sign_in_and_consent(browser, base, client, PASSWORD).text)["code"]
        second = exchange(base, client, second_code).json()

    assert account_info.status_code == 200 and userinfo.status_code == 200
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    secrets.update(
        {
            "code": code,
            "second code": second_code,
            "rotated secret": rotated["client_secret"],
            "access token": tokens["access_token"],
            "base64 bearer": bearer,
            "id_token": tokens["id_token"],
            "id_token signature": tokens["id_token"].rsplit(".", 1)[1],
            "second access token": second["access_token"],
            "second id_token": second["id_token"],
            "session cookie": browser.cookies["session"],
        }
    )
    logged = "\n".join(every_log.texts)
    assert len(every_log.texts) > 20, "the capture saw the run"
    assert "/token" in logged and "/account-info" in logged  # Werkzeug's request lines among them
    leaked = [name for name, value in secrets.items() if value in logged]
    assert leaked == []
