"""flask demo: everything a newcomer needs to click through a pairing on a laptop."""

import json
import secrets
import threading
from importlib.resources import files

import click
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import make_server, run_simple

from oidc_provider.cli.output import CommandGroup
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client
from oidc_provider.directory.store import import_directory
from oidc_provider.oidc.client_registry import ClientSettings, create_client, delete_client
from oidc_provider.servicetitan.catalog import webhook_keys
from oidc_provider.servicetitan.environments import SANDBOX
from oidc_provider.servicetitan.environments import configure as configure_environment
from oidc_provider.servicetitan.outbox import start_in_process as start_outbox_worker
from oidc_provider.servicetitan.webhooks import receiver_path

group = CommandGroup("demo", help="Run the product with a demo tenant and the ServiceTitan sandbox.")

DEMO_CLIENT_NAME = "ServiceTitan sandbox (demo)"
DEMO_PASSWORD = "pairing-demo"
DEMO_API_CLIENT_ID = "demo-partner"


def seed(redirect_uri: str) -> tuple[Client, str]:
    """Migrate, load the demo directory, and (re)register the demo client."""
    upgrade(directory=current_app.extensions["migrate"].directory)
    import_directory(json.loads(files("oidc_provider").joinpath("demo_directory.json").read_text()))
    for old in db.session.scalars(select(Client).where(Client.name == DEMO_CLIENT_NAME)).all():
        delete_client(old, actor="demo")
    return create_client(
        ClientSettings(name=DEMO_CLIENT_NAME, redirect_uris=[redirect_uri], scope="openid profile email"),
        actor="demo",
    )


@group.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, help="The provider's port (match OIDC_PROVIDER_ISSUER).")
@click.option("--sandbox-port", default=5001, show_default=True, help="The ServiceTitan sandbox's port.")
def run(host, port, sandbox_port):
    """Seed the demo tenant and client, start the sandbox, and serve the provider."""
    try:
        from st_sandbox import create_app as create_sandbox
    except ImportError:
        # The sandbox is a distribution of its own, which a production install leaves out.
        raise click.ClickException(
            "the demo needs the ServiceTitan sandbox: run ./scripts/demo from a checkout, "
            "or pip install ./st_sandbox beside the provider"
        ) from None

    sandbox_url = f"http://{host}:{sandbox_port}"
    client, secret = seed(f"{sandbox_url}/callback")
    # The provider calls this sandbox as ServiceTitan's "sandbox" environment, with Leads
    # API credentials made up for the run, and sends those calls from a worker thread.
    api_secret = secrets.token_urlsafe(32)
    configure_environment(
        SANDBOX, identity_url=sandbox_url, api_url=sandbox_url, client_id=DEMO_API_CLIENT_ID, client_secret=api_secret
    )
    db.session.commit()
    current_app.config["SERVICETITAN_ENVIRONMENT"] = SANDBOX
    # Its lead status webhooks go to the sandbox environment's receivers, with that
    # environment's key (the one a previous run made, or a new one).
    kept = webhook_keys.valid_keys(SANDBOX)
    webhook_key = webhook_keys.reveal(kept[0]) if kept else webhook_keys.generate("demo", SANDBOX)[1]
    webhook_prefix = current_app.config["ISSUER"] + receiver_path(current_app.config["WEBHOOK_PREFIX"], SANDBOX, "")
    sandbox = create_sandbox(
        {
            "ST_SANDBOX_ISSUER": current_app.config["ISSUER"],
            "ST_SANDBOX_CLIENT_ID": client.client_id,
            "ST_SANDBOX_CLIENT_SECRET": secret,
            "ST_SANDBOX_REDIRECT_URI": f"{sandbox_url}/callback",
            "ST_SANDBOX_SCOPE": "openid profile email",
            "ST_SANDBOX_API_CLIENT_ID": DEMO_API_CLIENT_ID,
            "ST_SANDBOX_API_CLIENT_SECRET": api_secret,
            "ST_SANDBOX_CUSTOM_PAIRING_URL": current_app.config["ISSUER"] + current_app.config["CUSTOM_PAIRING_PATH"],
            "ST_SANDBOX_WEBHOOK_PREFIX": webhook_prefix.rstrip("/"),
            "ST_SANDBOX_WEBHOOK_KEY": webhook_key,
            "ST_SANDBOX_WEBHOOK_HEADER": current_app.config["WEBHOOK_HEADER"],
        }
    )
    sandbox_server = make_server(host, sandbox_port, sandbox, threaded=True)
    threading.Thread(target=sandbox_server.serve_forever, daemon=True).start()
    start_outbox_worker(current_app._get_current_object())
    click.echo(
        f"\nProvider:  {current_app.config['ISSUER']}\n"
        f"Sandbox:   {sandbox_url}/\n"
        f"Sign in as owner@mtech.example (one account) or manager@mtech.example (several), "
        f"password {DEMO_PASSWORD}.\n"
        f"Start a pairing: {sandbox_url}/pair\n"
        f'Or open {sandbox_url}/ and click "Pair with Custom pairing": the provider reports to the '
        f"sandbox through its outbox, and the page shows ServiceTitan's answers.\n",
        err=False,
    )
    run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)
