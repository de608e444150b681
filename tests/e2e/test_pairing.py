"""Pairing end to end: the provider on a loopback port, the tenant in Chromium, ServiceTitan
played by the sandbox relying party (requests + jwcrypto, no Authlib) on another port.

Every test drives the real browser through the sandbox's "Pair Now", checks that the
provider's form_post reached the sandbox's ``/callback``, and judges what the sandbox
recorded after it exchanged the code, verified the id_token and called account-info.
Browser tests run once, on PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import hash_password
from oidc_provider.core.models import AccessToken, AuthorizationCode, Pairing
from st_sandbox import create_app as create_sandbox
from st_sandbox.relying_party import RelyingParty, RelyingPartyError
from tests.conftest import LiveServer, _empty_tables
from tests.factories import PASSWORD, Factories, RegisteredClient

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}

HVAC = {
    "Id": "acct-hvac",
    "Name": "MTech HVAC",
    "Profiles": [{"Id": "p-north", "Name": "North"}, {"Id": "p-south", "Name": "South"}],
}
PLUMBING = {"Id": "acct-plumbing", "Name": "MTech Plumbing", "Profiles": [{"Id": "p-main", "Name": "Main"}]}


@pytest.fixture(scope="module")
def password_hash() -> str:
    # Hashed once: argon2 costs a quarter of a second per user and test on a small machine.
    return hash_password(PASSWORD)


@pytest.fixture
def make(postgres_app, provider, password_hash) -> Factories:
    """The standard accounts in empty tables, with the two users these tests sign in as."""
    _empty_tables(postgres_app)
    factories = Factories(postgres_app)
    factories.directory(
        users=[
            {
                "email": "owner@mtech.example",
                "password_hash": password_hash,
                "name": "Owner",
                "accounts": ["acct-hvac"],
            },
            {
                "email": "manager@mtech.example",
                "password_hash": password_hash,
                "name": "Manager",
                "accounts": ["acct-hvac", "acct-plumbing", "acct-closed"],
            },
        ]
    )
    return factories


@dataclass
class Sandbox:
    """One ServiceTitan sandbox on its own port, with the client registered for it."""

    app: Any
    url: str
    client: RegisteredClient
    issuer: str

    @property
    def callback(self) -> str:
        return self.url + "/callback"

    @property
    def pairings(self) -> list[dict]:
        return self.app.extensions["st_sandbox"]["pairings"]

    def relying_party(self) -> RelyingParty:
        """A fresh relying party with the sandbox's settings, for checks outside the browser."""
        return RelyingParty(
            self.issuer, self.client.client_id, self.client.client_secret, self.callback, scope=self.client.scope
        )


@pytest.fixture
def start_sandbox(provider, make):
    """``start_sandbox(**client_settings)``: a sandbox on a loopback port and a client whose
    redirect URI is that sandbox's ``/callback``."""
    with ExitStack() as servers:

        def start(**client_settings) -> Sandbox:
            # The client's redirect URI needs the sandbox's port, and the sandbox needs the
            # client's credentials: bind the port first, then hand the sandbox its client.
            # The sandbox reads its settings at the first /pair, so this is in time.
            app = create_sandbox(
                {
                    "ST_SANDBOX_ISSUER": provider.url,
                    "ST_SANDBOX_CLIENT_ID": "not-registered-yet",
                    "ST_SANDBOX_CLIENT_SECRET": "not-registered-yet",
                }
            )
            server = servers.enter_context(LiveServer(app))
            client = make.client(redirect_uris=[server.url + "/callback"], **client_settings)
            app.config.update(
                ST_SANDBOX_CLIENT_ID=client.client_id,
                ST_SANDBOX_CLIENT_SECRET=client.client_secret,
                ST_SANDBOX_REDIRECT_URI=client.redirect_uri,
                ST_SANDBOX_SCOPE=client.scope,
            )
            return Sandbox(app, server.url, client, provider.url)

        yield start


@dataclass
class BrowserLog:
    console: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)

    def authorization_requests(self) -> list[dict[str, list[str]]]:
        return [parse_qs(urlsplit(r.url).query) for r in self.requests if urlsplit(r.url).path == "/authorize"]

    def csp_violations(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def log(page) -> BrowserLog:
    """Everything the page printed to its console and every request it made."""
    recorded = BrowserLog()
    page.on("console", lambda message: recorded.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: recorded.console.append(f"pageerror: {error}"))
    page.on("request", lambda request: recorded.requests.append(request))
    page.set_viewport_size(DESKTOP)
    return recorded


def screenshot(page, name: str) -> None:
    """The page at desktop width and at 375 px, into test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=SCREENSHOTS / f"{name}-375px.png", full_page=True)
    page.set_viewport_size(DESKTOP)


# -- the tenant's steps ----------------------------------------------------------------------


def open_sign_in(page, sandbox: Sandbox, omit_response_mode: bool = False) -> None:
    """ServiceTitan's "Pair Now": the browser lands on the provider's sign-in page."""
    if omit_response_mode:
        page.goto(sandbox.url + "/pair?response_mode=omit")
    else:
        page.goto(sandbox.url + "/")
        page.get_by_role("button", name="Pair Now").click()
    page.get_by_label("Email").wait_for()
    assert page.url.startswith(sandbox.issuer + "/login")


def sign_in(page, email: str = "owner@mtech.example", password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Deny").wait_for()


def answer_consent(page, sandbox: Sandbox, button: str = "Allow") -> dict[str, list[str]]:
    """Click Allow or Deny; the provider's form_post must reach the sandbox's callback.
    Returns the posted form."""
    with page.expect_response(lambda r: r.url == sandbox.callback and r.request.method == "POST") as posted:
        page.get_by_role("button", name=button).click()
    response = posted.value
    assert response.status == 200, response.text()
    page.wait_for_load_state()
    assert page.url == sandbox.callback
    assert response.request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    return parse_qs(response.request.post_data)


def only_pairing(sandbox: Sandbox, posted: dict[str, list[str]], log: BrowserLog) -> dict:
    """The sandbox's single recorded pairing, bound to the state of the one authorization request."""
    [authorization] = log.authorization_requests()
    [state] = authorization["state"]
    assert posted["state"] == [state]
    [pairing] = sandbox.pairings
    assert pairing["state"] == state
    return pairing


def page_json(page, element_id: str) -> Any:
    return json.loads(page.locator(f"#{element_id}").text_content())


def jose_header(token: str) -> dict:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def assert_paired_on_page(page, sandbox: Sandbox, pairing: dict) -> dict:
    """The result page shows what the sandbox recorded: verified claims, no error."""
    assert pairing["error"] is None
    assert page.locator("#pairing-error").count() == 0
    claims = page_json(page, "id-token-claims")
    assert claims == pairing["claims"]
    assert claims["iss"] == sandbox.issuer
    assert claims["aud"] == sandbox.client.client_id
    assert "nonce" not in claims
    assert claims["sub"] and "@" not in claims["sub"]
    return claims


def pairing_rows(app) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        return [(p.account_id, p.status, p.request_id) for p in db.session.scalars(select(Pairing))]


# -- the tests ---------------------------------------------------------------------------------


def test_servicetitan_pairs_an_account_through_the_browser(postgres_app, start_sandbox, page, log):
    sandbox = start_sandbox(scope="openid profile email")
    open_sign_in(page, sandbox)
    screenshot(page, "sign-in")
    sign_in(page)
    assert page.get_by_role("heading", level=1).text_content() == "ServiceTitan wants to pair with your account"
    assert page.get_by_text("MTech HVAC").is_visible()
    posted = answer_consent(page, sandbox)

    assert set(posted) == {"code", "state", "iss"}
    [authorization] = log.authorization_requests()
    assert authorization["response_mode"] == ["form_post"]
    assert authorization["scope"] == ["openid profile email"]
    assert "nonce" not in authorization and "code_challenge" not in authorization
    pairing = only_pairing(sandbox, posted, log)
    claims = assert_paired_on_page(page, sandbox, pairing)
    assert claims["email"] == "owner@mtech.example"
    assert jose_header(pairing["token_response"]["id_token"])["alg"] == "RS256"
    assert jose_header(pairing["token_response"]["id_token"])["kid"]

    assert page.locator("#pairing-status").text_content() == "COMPLETED"
    assert page.locator("#account-info-status").text_content() == "200"
    request_id = page.locator("#request-id").text_content()
    assert request_id == pairing["request_id"]
    assert page_json(page, "account-info") == {"Status": "COMPLETED", "RequestId": request_id, "Account": HVAC}
    assert pairing_rows(postgres_app) == [("acct-hvac", "COMPLETED", request_id)]
    screenshot(page, "result")
    # Criterion 8: the form_post page's CSP let its form reach the redirect URI.
    assert log.csp_violations() == []


def test_response_mode_left_out_still_answers_with_form_post(postgres_app, start_sandbox, page, log):
    sandbox = start_sandbox()
    open_sign_in(page, sandbox, omit_response_mode=True)
    sign_in(page)
    posted = answer_consent(page, sandbox)

    [authorization] = log.authorization_requests()
    assert "response_mode" not in authorization
    assert set(posted) == {"code", "state", "iss"}
    pairing = only_pairing(sandbox, posted, log)
    assert_paired_on_page(page, sandbox, pairing)
    assert page.locator("#pairing-status").text_content() == "COMPLETED"
    assert page_json(page, "account-info")["Account"] == HVAC
    assert log.csp_violations() == []


@pytest.mark.parametrize(
    ("account_name", "expected"),
    [
        ("MTech Plumbing", {"Status": "COMPLETED", "Account": PLUMBING}),
        ("Closed Branch", {"Status": "DECLINED"}),
    ],
)
def test_manager_chooses_the_account_to_pair(postgres_app, start_sandbox, page, log, account_name, expected):
    sandbox = start_sandbox()
    open_sign_in(page, sandbox)
    sign_in(page, email="manager@mtech.example")

    radios = page.get_by_role("radio")
    assert radios.count() == 3
    for name in ("MTech HVAC", "MTech Plumbing", "Closed Branch"):
        assert page.get_by_label(name, exact=True).get_attribute("type") == "radio"
    if account_name == "MTech Plumbing":
        screenshot(page, "consent-multi-account")
    page.get_by_label(account_name, exact=True).check()
    posted = answer_consent(page, sandbox)

    pairing = only_pairing(sandbox, posted, log)
    assert_paired_on_page(page, sandbox, pairing)
    request_id = page.locator("#request-id").text_content()
    assert page.locator("#pairing-status").text_content() == expected["Status"]
    assert page_json(page, "account-info") == {
        "Status": expected["Status"],
        "RequestId": request_id,
        **({"Account": expected["Account"]} if "Account" in expected else {}),
    }
    account_id = expected["Account"]["Id"] if "Account" in expected else "acct-closed"
    assert pairing_rows(postgres_app) == [(account_id, expected["Status"], request_id)]
    assert log.csp_violations() == []


def test_hs256_client_with_account_info_claim_skips_account_info(postgres_app, start_sandbox, page, log):
    sandbox = start_sandbox(id_token_alg="HS256", account_info_claim=True)
    open_sign_in(page, sandbox)
    sign_in(page)
    posted = answer_consent(page, sandbox)

    pairing = only_pairing(sandbox, posted, log)
    claims = assert_paired_on_page(page, sandbox, pairing)
    assert jose_header(pairing["token_response"]["id_token"]) == {"alg": "HS256", "typ": "JWT"}
    assert isinstance(claims["accountInfo"], str)
    assert json.loads(claims["accountInfo"]) == {"Status": "COMPLETED", "Account": HVAC}
    assert pairing["account_info"]["source"] == "id_token"
    assert pairing["request_id"] is None
    assert page.locator("#request-id").count() == 0
    assert page.locator("#pairing-status").text_content() == "COMPLETED"
    assert page_json(page, "account-info") == {"Status": "COMPLETED", "Account": HVAC}
    assert log.csp_violations() == []


def test_async_pairing_client_is_answered_processing(postgres_app, start_sandbox, page, log):
    sandbox = start_sandbox(async_pairing=True)
    open_sign_in(page, sandbox)
    sign_in(page)
    posted = answer_consent(page, sandbox)

    pairing = only_pairing(sandbox, posted, log)
    assert_paired_on_page(page, sandbox, pairing)
    request_id = page.locator("#request-id").text_content()
    assert page.locator("#pairing-status").text_content() == "PROCESSING"
    assert page_json(page, "account-info") == {"Status": "PROCESSING", "RequestId": request_id}
    assert pairing_rows(postgres_app) == [("acct-hvac", "PROCESSING", request_id)]
    assert log.csp_violations() == []


def test_deny_posts_access_denied_with_the_state(postgres_app, start_sandbox, page, log):
    sandbox = start_sandbox()
    open_sign_in(page, sandbox)
    sign_in(page)
    posted = answer_consent(page, sandbox, button="Deny")

    assert posted["error"] == ["access_denied"]
    assert "code" not in posted
    pairing = only_pairing(sandbox, posted, log)
    assert pairing["error"]["error"] == "access_denied"
    assert pairing["token_response"] is None
    assert page.locator("#pairing-error strong").text_content() == "access_denied"
    assert page.locator("#pairing-status").count() == 0
    with postgres_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthorizationCode)) == 0
        assert db.session.scalar(select(func.count()).select_from(AccessToken)) == 0
    assert pairing_rows(postgres_app) == []
    assert log.csp_violations() == []


def _with_one_byte_changed(token: str, part: int) -> str:
    """The token with one byte of its decoded payload (part 1) or signature (part 2) changed."""
    segments = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(segments[part] + "=" * (-len(segments[part]) % 4)))
    if part == 1:
        # The first digit of "exp": still valid JSON, promising a lifetime the provider never signed.
        index = raw.index(b'"exp":') + len(b'"exp":')
        raw[index] = ord("9") if raw[index] != ord("9") else ord("8")
    else:
        raw[len(raw) // 2] ^= 0x01
    segments[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode("ascii")
    return ".".join(segments)


@pytest.mark.parametrize("alg", ["RS256", "HS256"])
def test_id_token_with_one_byte_changed_is_rejected(postgres_app, start_sandbox, page, log, alg):
    sandbox = start_sandbox(id_token_alg=alg)
    open_sign_in(page, sandbox)
    sign_in(page)
    pairing = only_pairing(sandbox, answer_consent(page, sandbox), log)
    assert pairing["error"] is None
    id_token = pairing["token_response"]["id_token"]
    relying_party = sandbox.relying_party()

    assert relying_party.verify_id_token(id_token) == pairing["claims"]
    for part in (1, 2):
        tampered = _with_one_byte_changed(id_token, part)
        assert tampered != id_token
        with pytest.raises(RelyingPartyError, match="signature is invalid"):
            relying_party.verify_id_token(tampered)
