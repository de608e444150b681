"""ServiceTitan's webhooks on the production server: duplicates sent at once to two gunicorn
workers make one lead update (tests/servicetitan/test_webhooks.py covers the rest in one
process)."""

from concurrent.futures import ThreadPoolExecutor

from oidc_provider.core.models import LeadStatusUpdate, WebhookDelivery
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from tests.conftest import ENCRYPTION_KEY, build_app, unavailable
from tests.e2e.test_multi_instance import redis_reachable
from tests.gunicorn_server import Gunicorn, production_environment
from tests.servicetitan.test_webhooks import KEY, PREFIX, add_booking, body, count, sender


def test_simultaneous_duplicates_on_two_gunicorn_workers_make_one_update(new_postgres_database, tmp_path):
    """Two worker processes, as production runs them: the unique statusUpdateId decides."""
    if not redis_reachable():
        unavailable("Redis is not reachable at 127.0.0.1:6379 (production keeps throttling counts there)")
    url = new_postgres_database("webhooks")
    app = build_app(url, tmp_path)
    with app.app_context():
        paste(KEY, "test")
    add_booking(app)
    env = production_environment(url, "http://127.0.0.1", "webhook-secret-key", ENCRYPTION_KEY)
    documents = [body("accepted", statusUpdateId=f"update-{n % 5}") for n in range(40)]
    with Gunicorn(env, tmp_path / "gunicorn.log", workers=2) as server, ThreadPoolExecutor(20) as pool:
        assert len(server.worker_pids()) == 2
        answers = list(pool.map(lambda d: sender.send(server.url + PREFIX, "accepted", d, KEY), documents))
    assert [a.status_code for a in answers] == [200] * 40
    assert sorted(a.json()["state"] for a in answers) == ["duplicate"] * 35 + ["stored"] * 5
    assert count(app, LeadStatusUpdate) == 5 and count(app, WebhookDelivery) == 40
