"""Run the ServiceTitan sandbox: ServiceTitan's pairing page (OpenID Connect "Pair Now"
and Custom pairing), its identity server and Leads API, and lead status webhooks.

Settings not given on the command line come from the ST_SANDBOX_* environment
variables. Example:

    python -m st_sandbox --port 5001 --issuer http://127.0.0.1:5000 \\
        --client-id servicetitan --client-secret "$SECRET" \\
        --custom-pairing-url http://127.0.0.1:5000/st/pair

The partner then calls http://127.0.0.1:5001/connect/token and
http://127.0.0.1:5001/api/integrations/... with --api-client-id/--api-client-secret.
"""

from __future__ import annotations

import argparse

from werkzeug.serving import make_server

from st_sandbox.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m st_sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5001, help="0 picks a free port (default: %(default)s)")
    parser.add_argument("--issuer", help="the provider's issuer, exactly as in its discovery document")
    parser.add_argument("--client-id", help="the client registered for ServiceTitan")
    parser.add_argument("--client-secret", help="its secret")
    parser.add_argument("--redirect-uri", help="default: http://<host>:<port>/callback as the browser sees it")
    parser.add_argument("--scope", help='space-separated; "openid" is always sent')
    parser.add_argument("--api-client-id", help="Leads API client id issued to the partner")
    parser.add_argument("--api-client-secret", help="its secret")
    parser.add_argument("--custom-pairing-url", help="the partner's Custom pairing URL")
    parser.add_argument(
        "--webhook-prefix", help="the partner's webhook URL prefix for ServiceTitan's sandbox environment"
    )
    parser.add_argument("--webhook-key", help="the webhook message signing key of that environment")
    args = parser.parse_args(argv)
    given = {
        "ST_SANDBOX_ISSUER": args.issuer,
        "ST_SANDBOX_CLIENT_ID": args.client_id,
        "ST_SANDBOX_CLIENT_SECRET": args.client_secret,
        "ST_SANDBOX_REDIRECT_URI": args.redirect_uri,
        "ST_SANDBOX_SCOPE": args.scope,
        "ST_SANDBOX_API_CLIENT_ID": args.api_client_id,
        "ST_SANDBOX_API_CLIENT_SECRET": args.api_client_secret,
        "ST_SANDBOX_CUSTOM_PAIRING_URL": args.custom_pairing_url,
        "ST_SANDBOX_WEBHOOK_PREFIX": args.webhook_prefix,
        "ST_SANDBOX_WEBHOOK_KEY": args.webhook_key,
    }
    try:
        app = create_app({name: value for name, value in given.items() if value is not None})
    except ValueError as exc:
        parser.error(str(exc))
    # make_server rather than run_simple: with --port 0 the printed URL must name
    # the port actually bound, and scripts wait for that one line.
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"http://{args.host}:{server.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
