"""Two production instances over one PostgreSQL database, as behind a load balancer.

Each instance is gunicorn with two workers, started as production starts it. The tenant's
browser and ServiceTitan's back channel go to whichever instance the test picks for each
request: nothing one instance keeps in memory may be needed by the other.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest
import requests
from jwcrypto import jwk, jwt

from tests.conftest import ENCRYPTION_KEY, build_app, unavailable
from tests.factories import PASSWORD, Factories
from tests.flows import base64_bearer, basic, form_post_target, hidden_fields
from tests.gunicorn_server import Gunicorn, production_environment

ISSUER = "http://127.0.0.1"
SECRET_KEY = "multi-instance-secret-key"
REFRESH_INTERVAL = 1  # seconds: KEY_REFRESH_INTERVAL for these instances
ROUNDS = 6

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(new_postgres_database, tmp_path_factory):
    """Instances ``a`` and ``b``, the registered client, the settings they share."""
    if not redis_reachable():
        unavailable("Redis is not reachable at 127.0.0.1:6379 (production keeps throttling counts there)")
    folder = tmp_path_factory.mktemp("cluster")
    url = new_postgres_database("cluster")
    app = build_app(url, folder)  # migrated, signing keys seeded
    make = Factories(app)
    make.directory()
    client = make.client()
    env = production_environment(url, ISSUER, SECRET_KEY, ENCRYPTION_KEY, KEY_REFRESH_INTERVAL=REFRESH_INTERVAL)
    with Gunicorn(env, folder / "a.log") as a, Gunicorn(env, folder / "b.log") as b:
        yield type("Cluster", (), {"a": a, "b": b, "client": client, "env": env})


class Tenant:
    """A browser: one cookie jar, whichever instance answers."""

    def __init__(self, client):
        self.client = client
        self.http = requests.Session()

    def authorize(self, instance, **params) -> requests.Response:
        query = {
            "client_id": self.client.client_id,
            "response_type": "code",
            "response_mode": "form_post",
            "scope": self.client.scope,
            "state": "st-state",
            "redirect_uri": self.client.redirect_uri,
            **params,
        }
        return self.http.get(f"{instance.url}/authorize?{urlencode(query)}", allow_redirects=False, timeout=10)

    def follow(self, instance, response) -> requests.Response:
        assert response.status_code == 302, response.text
        return self.http.get(instance.url + response.headers["Location"], allow_redirects=False, timeout=10)

    def sign_in(self, instance, login_page) -> requests.Response:
        fields = {
            "csrf_token": _CSRF.search(login_page.text).group(1),
            "pending": re.search(r'name="pending" value="([^"]*)"', login_page.text).group(1),
            "email": "owner@mtech.example",
            "password": PASSWORD,
        }
        return self.http.post(instance.url + "/login", data=fields, allow_redirects=False, timeout=10)

    def allow(self, instance, consent_page) -> requests.Response:
        fields = {
            "csrf_token": _CSRF.search(consent_page.text).group(1),
            "pending": re.search(r'name="pending" value="([^"]*)"', consent_page.text).group(1),
            "decision": "allow",
            **{k: v for k, v in hidden_fields(consent_page.text).items() if k == "account_id"},
        }
        return self.http.post(instance.url + "/authorize/decision", data=fields, allow_redirects=False, timeout=10)

    def code(self, instance) -> str:
        """A code through the signed-in, consented path: the form_post page's at once."""
        page = self.authorize(instance)
        assert page.status_code == 200 and form_post_target(page.text) == self.client.redirect_uri, page.text
        return hidden_fields(page.text)["code"]


def exchange(instance, client, code: str) -> requests.Response:
    """ServiceTitan's token request: credentials in the Basic header and in the body."""
    return requests.post(
        instance.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
        headers={"Authorization": basic(client.client_id, client.client_secret)},
        timeout=10,
    )


def account_info(instance, access_token: str, request_id: str) -> requests.Response:
    return requests.get(
        f"{instance.url}/account-info?{urlencode({'request_id': request_id})}",
        headers={"Authorization": base64_bearer(access_token)},
        timeout=10,
    )


def verified_claims(instance, id_token: str) -> tuple[dict, dict]:
    """The id_token's header and claims, its signature checked against ``instance``'s JWKS."""
    keys = jwk.JWKSet.from_json(requests.get(instance.url + "/jwks.json", timeout=10).text)
    token = jwt.JWT(jwt=id_token, key=keys, expected_type="JWS")
    return json.loads(token.token.objects["protected"]), json.loads(token.claims)


def published_kids(instance) -> set[str]:
    return {key["kid"] for key in requests.get(instance.url + "/jwks.json", timeout=10).json()["keys"]}


@pytest.fixture
def tenant(cluster) -> Tenant:
    return Tenant(cluster.client)


def signed_in(cluster, tenant) -> Tenant:
    """Sign in and consent once, starting on ``a`` and finishing on ``b``."""
    login = tenant.follow(cluster.b, tenant.authorize(cluster.a))
    resume = tenant.sign_in(cluster.b, login)
    consent = tenant.follow(cluster.a, resume)
    if "Allow" in consent.text:
        assert "code" not in hidden_fields(consent.text)
        tenant.allow(cluster.b, consent)
    return tenant


def test_each_step_of_a_pairing_may_land_on_either_instance(cluster, tenant):
    to_login = tenant.authorize(cluster.a)
    assert to_login.status_code == 302 and to_login.headers["Location"].startswith("/login?pending=")
    login_page = tenant.follow(cluster.b, to_login)
    assert login_page.status_code == 200
    resume = tenant.sign_in(cluster.b, login_page)  # the form the other instance rendered
    assert resume.status_code == 302 and resume.headers["Location"].startswith("/authorize/resume")
    consent = tenant.follow(cluster.a, resume)
    assert consent.status_code == 200 and "Allow" in consent.text
    form_post = tenant.allow(cluster.b, consent)
    assert form_post.status_code == 200
    code = hidden_fields(form_post.text)["code"]

    tokens = exchange(cluster.a, cluster.client, code)
    assert tokens.status_code == 200, tokens.text
    header, claims = verified_claims(cluster.b, tokens.json()["id_token"])
    assert claims["iss"] == ISSUER and claims["aud"] == cluster.client.client_id
    answer = account_info(cluster.b, tokens.json()["access_token"], "req-cluster-1")
    assert answer.status_code == 200
    assert answer.json()["Status"] == "COMPLETED" and answer.json()["Account"]["Id"] == "acct-hvac"
    # The same token and request id answer the same on the other instance.
    assert account_info(cluster.a, tokens.json()["access_token"], "req-cluster-1").json() == answer.json()

    # Signed in, consent remembered: the next request on the other instance answers at once.
    tokens = exchange(cluster.b, cluster.client, tenant.code(cluster.b))
    assert tokens.status_code == 200
    assert account_info(cluster.a, tokens.json()["access_token"], "req-cluster-2").json()["Status"] == "COMPLETED"


def test_a_key_rotated_through_one_instance_signs_on_the_other_without_restart(cluster, tenant):
    signed_in(cluster, tenant)
    before = published_kids(cluster.b)

    rotated = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "oidc_provider", "keys", "rotate", "--activate-now", "--json"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rotated.returncode == 0, rotated.stderr
    new_keys = {key["alg"]: key["kid"] for key in json.loads(rotated.stdout)}
    rotated_at = time.monotonic()

    # Published: every worker of both instances re-reads the keys within the refresh interval.
    deadline = rotated_at + REFRESH_INTERVAL + 10
    while not all(set(new_keys.values()) <= published_kids(i) for i in (cluster.a, cluster.b) for _ in range(4)):
        assert time.monotonic() < deadline, "the new keys were not published in time"
    assert before < published_kids(cluster.b)

    # Used: id_tokens from either instance, whichever worker answers, carry the new RS256 kid.
    while True:
        header, _ = verified_claims(
            cluster.a, exchange(cluster.b, cluster.client, tenant.code(cluster.b)).json()["id_token"]
        )
        if header["kid"] == new_keys["RS256"]:
            break
        assert time.monotonic() < deadline, "instance b did not sign with the new key in time"
    for instance in (cluster.a, cluster.b, cluster.a, cluster.b):
        header, _ = verified_claims(
            cluster.b, exchange(instance, cluster.client, tenant.code(instance)).json()["id_token"]
        )
        assert header["kid"] == new_keys["RS256"]


def test_a_code_redeemed_on_both_instances_at_once_succeeds_once(cluster, tenant):
    signed_in(cluster, tenant)

    for round_number in range(ROUNDS):
        code = tenant.code(cluster.a if round_number % 2 else cluster.b)
        start = threading.Barrier(2)
        answers = {}

        def redeem(instance, start=start, answers=answers, code=code):
            start.wait(timeout=10)
            answers[instance.url] = exchange(instance, cluster.client, code)

        threads = [threading.Thread(target=redeem, args=(i,)) for i in (cluster.a, cluster.b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        statuses = sorted(answer.status_code for answer in answers.values())
        assert statuses == [200, 400], [a.text for a in answers.values()]
        refused = next(a for a in answers.values() if a.status_code == 400)
        assert refused.json()["error"] == "invalid_grant"
        # The second use revoked what the first issued (RFC 6749 4.1.2).
        issued = next(a for a in answers.values() if a.status_code == 200).json()["access_token"]
        assert account_info(cluster.a, issued, f"req-race-{round_number}").status_code == 401
