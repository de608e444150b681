"""/healthz, /readyz and /metrics, in one process (tests/web/test_metrics.py adds up two workers)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from oidc_provider import create_app
from oidc_provider.core.extensions import db
from oidc_provider.core.models import OutboxMessage, SigningKey
from oidc_provider.core.release import VERSION
from oidc_provider.oidc.keys import key_ring
from tests.conftest import ENCRYPTION_KEY


def samples(web) -> dict[tuple, float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    response = web.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_counted(values, endpoint, status="200", method="GET") -> float:
    key = ("oidc_provider_http_requests_total", (("endpoint", endpoint), ("method", method), ("status", status)))
    return values.get(key, 0.0)


# -- liveness and readiness -------------------------------------------------------------------


def test_healthz_answers_without_asking_anything_and_names_the_release(web):
    response = web.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "version": VERSION}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_answers_ok_with_a_database_and_active_keys(web):
    response = web.get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "signing_keys": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_while_an_algorithm_has_no_active_key(fresh_signing_keys):
    with fresh_signing_keys.app_context():
        db.session.execute(update(SigningKey).where(SigningKey.alg == "RS256").values(retired_at=db.func.now()))
        db.session.commit()
        key_ring().invalidate()

    response = fresh_signing_keys.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["signing_keys"].startswith("no active key")


def test_readyz_makes_the_first_keys_of_a_new_deployment(fresh_signing_keys, make):
    with fresh_signing_keys.app_context():
        db.session.execute(SigningKey.__table__.delete())
        db.session.commit()
        key_ring().invalidate()

    response = fresh_signing_keys.test_client().get("/readyz")

    assert response.status_code == 200
    assert make.count(SigningKey) == 2


def test_without_a_database_healthz_is_200_and_readyz_503(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "ENCRYPTION_KEYS": [ENCRYPTION_KEY],
            # Nothing listens on port 9: the connection is refused at once.
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:9/none",
        }
    )
    web = app.test_client()

    assert web.get("/healthz").status_code == 200
    response = web.get("/readyz")
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {"database": "unreachable (OperationalError)", "signing_keys": "unknown"},
    }
    assert "127.0.0.1" not in response.text and "nobody" not in response.text


# -- metrics ----------------------------------------------------------------------------------


def test_metrics_count_requests_per_endpoint_method_and_status(web):
    before = samples(web)

    for _ in range(3):
        web.get("/healthz")
    web.get("/no-such-page")
    web.post("/healthz")

    after = samples(web)
    assert requests_counted(after, "/healthz") - requests_counted(before, "/healthz") == 3
    assert requests_counted(after, "unmatched", "404") - requests_counted(before, "unmatched", "404") == 1
    # A path or method that no route takes is "unmatched": the label never grows with what
    # strangers request.
    assert (
        requests_counted(after, "unmatched", "405", "POST") - requests_counted(before, "unmatched", "405", "POST") == 1
    )
    latency = ("oidc_provider_http_request_duration_seconds_count", (("endpoint", "/healthz"),))
    assert after[latency] - before.get(latency, 0) == 3


def test_metrics_count_tokens_issued_sign_in_failures_and_pairings(web, make, flows):
    make.directory()
    client = make.client()
    before = samples(web)

    login = flows.authorize(client)
    refused = flows.sign_in(login, password="wrong password")
    tokens = flows.tokens(client)
    flows.exchange(client, "not-a-code")
    flows.account_info(tokens["access_token"])

    after = samples(web)
    assert refused.status_code == 401
    assert after[("oidc_provider_tokens_issued_total", ())] - before[("oidc_provider_tokens_issued_total", ())] == 1
    failures = ("oidc_provider_sign_in_failures_total", ())
    assert after[failures] - before[failures] == 1
    assert after[("oidc_provider_pairings", (("status", "COMPLETED"),))] == 1
    assert after[("oidc_provider_pairings", (("status", "DECLINED"),))] == 0
    assert after[("oidc_provider_pairings", (("status", "PROCESSING"),))] == 0


def test_metrics_report_the_outbox_depth_from_the_database(web, clean_app):
    with clean_app.app_context():
        for state in ("pending", "pending", "failed", "delivered"):
            db.session.add(
                OutboxMessage(kind="account_status", environment="sandbox", ordering_key="r-1", payload={}, state=state)
            )
        db.session.commit()

    values = samples(web)

    assert values[("oidc_provider_outbox_messages", (("state", "pending"),))] == 2
    assert values[("oidc_provider_outbox_messages", (("state", "failed"),))] == 1
    assert ("oidc_provider_outbox_messages", (("state", "delivered"),)) not in values
