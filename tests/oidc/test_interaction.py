"""The tenant's side of an authorization request: sign-in when needed, the consent page,
the account choice, remembered consent, and the prompt and max_age rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, AuthorizationCode, Consent
from tests.factories import PASSWORD, RegisteredClient
from tests.flows import form_post_target, hidden_fields

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PENDING = re.compile(r'name="pending" value="([^"]*)"')


class ConsentPage(HTMLParser):
    """What a user sees on the consent page: heading, scope list, account radios, buttons."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.heading = ""
        self.scopes: list[str] = []
        self.radios: dict[str, dict] = {}
        self.labels: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self.alerts: list[str] = []
        self.hidden: dict[str, str] = {}
        self._current: tuple[str, dict] | None = None
        self._text = ""
        self._in_scopes = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "ul" and attributes.get("class") == "scopes":
            self._in_scopes = True
        if tag == "input" and attributes.get("type") == "radio":
            self.radios[attributes["id"]] = attributes
        if tag == "input" and attributes.get("type") == "hidden":
            self.hidden[attributes["name"]] = attributes["value"]
        if tag in ("h1", "li", "label", "button") or (tag == "p" and attributes.get("role") == "alert"):
            self._current, self._text = (tag, attributes), ""

    def handle_endtag(self, tag):
        if tag == "ul":
            self._in_scopes = False
        if self._current and self._current[0] == tag:
            attributes, text = self._current[1], " ".join(self._text.split())
            if tag == "h1":
                self.heading = text
            elif tag == "li" and self._in_scopes:
                self.scopes.append(text)
            elif tag == "label":
                self.labels[attributes["for"]] = text
            elif tag == "button":
                self.buttons.append((attributes.get("value"), text))
            elif tag == "p":
                self.alerts.append(text)
            self._current = None

    def handle_data(self, data):
        if self._current:
            self._text += data

    def account_choices(self) -> dict[str, str]:
        """{account name as labelled: account id submitted}."""
        return {self.labels[key]: radio["value"] for key, radio in self.radios.items() if radio["name"] == "account_id"}

    def checked(self) -> list[str]:
        return [radio["value"] for radio in self.radios.values() if "checked" in radio]


@pytest.fixture
def client(make) -> RegisteredClient:
    make.directory()
    return make.client(name="ServiceTitan Sandbox")


def is_consent_page(response) -> bool:
    return response.status_code == 200 and 'action="/authorize/decision"' in response.text


def consent_page(flows, client, email="owner@mtech.example", **params):
    """Start a request, sign in if asked, and answer the consent page it leads to."""
    response = flows.authorize(client, **params)
    if response.status_code == 302 and "/login" in response.headers["Location"]:
        response = flows.sign_in(response, email=email)
    assert is_consent_page(response), response.text
    return response


def issued_code(response, client: RegisteredClient, state="st-state-1") -> str:
    """The code a form_post page carries to the client, with the state."""
    assert response.status_code == 200, response.text
    assert form_post_target(response.text) == client.redirect_uri
    fields = hidden_fields(response.text)
    assert set(fields) == {"code", "state", "iss"}
    assert fields["iss"] == "http://localhost"
    assert fields["state"] == state
    return fields["code"]


def returned_error(response, client: RegisteredClient, error: str, state="st-state-1") -> None:
    assert response.status_code == 200, response.text
    assert "Location" not in response.headers
    assert form_post_target(response.text) == client.redirect_uri
    fields = hidden_fields(response.text)
    assert fields["error"] == error
    assert fields["state"] == state
    assert "code" not in fields


def redirected_to_sign_in(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login?pending=")


def latest_code(app) -> AuthorizationCode:
    with app.app_context():
        return db.session.scalar(select(AuthorizationCode).order_by(AuthorizationCode.id.desc()))


def consents(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(c.account_id, c.scope) for c in db.session.scalars(select(Consent))]


def sign_in_slowly(flows, frozen_clock, response, seconds: float):
    """Sign in, and let ``seconds`` pass before the browser follows the redirect back."""
    login_page = flows.web.get(response.headers["Location"])
    answer = flows.web.post(
        "/login",
        data={
            "csrf_token": _CSRF.search(login_page.text).group(1),
            "pending": _PENDING.search(login_page.text).group(1),
            "email": "owner@mtech.example",
            "password": PASSWORD,
        },
    )
    assert answer.status_code == 302
    frozen_clock.advance(seconds)
    return flows.web.get(answer.headers["Location"])


def unix(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())


# -- when the user must sign in ------------------------------------------------------------


def test_request_without_a_session_goes_to_sign_in_and_issues_nothing(client, flows, make):
    response = flows.authorize(client)

    assert redirected_to_sign_in(response)
    assert make.count(AuthorizationCode) == 0


def test_signed_in_user_with_remembered_consent_is_not_asked_again(client, flows, make):
    flows.code(client)

    response = flows.authorize(client)

    issued_code(response, client)
    assert make.count(AuthorizationCode) == 2


def test_prompt_login_forces_sign_in_and_then_continues(client, flows, make, clean_app, frozen_clock):
    flows.code(client)
    frozen_clock.advance(100)

    response = flows.authorize(client, prompt="login")

    assert redirected_to_sign_in(response)
    assert make.count(AuthorizationCode) == 1
    response = flows.sign_in(response)
    issued_code(response, client)
    assert latest_code(clean_app).auth_time == unix(frozen_clock.now())


def test_prompt_login_continues_even_when_the_user_is_slow(client, flows, frozen_clock):
    flows.code(client)
    frozen_clock.advance(10)

    response = sign_in_slowly(flows, frozen_clock, flows.authorize(client, prompt="login"), seconds=30)

    issued_code(response, client)


def test_max_age_exceeded_forces_sign_in(client, flows, make, clean_app, frozen_clock):
    flows.code(client)
    frozen_clock.advance(301)

    response = flows.authorize(client, max_age="300")

    assert redirected_to_sign_in(response)
    assert make.count(AuthorizationCode) == 1
    response = flows.sign_in(response)
    issued_code(response, client)
    assert latest_code(clean_app).auth_time == unix(frozen_clock.now())


def test_max_age_not_exceeded_keeps_the_session(client, flows, clean_app, frozen_clock):
    flows.code(client)
    signed_in_at = unix(frozen_clock.now())
    frozen_clock.advance(300)

    response = flows.authorize(client, max_age="300")

    issued_code(response, client)
    assert latest_code(clean_app).auth_time == signed_in_at


def test_max_age_zero_forces_sign_in_once_and_then_continues(client, flows, frozen_clock):
    """The sign-in that max_age asked for satisfies it, however long the redirect back takes."""
    flows.code(client)
    frozen_clock.advance(1)

    response = flows.authorize(client, max_age="0")
    assert redirected_to_sign_in(response)
    response = sign_in_slowly(flows, frozen_clock, response, seconds=2)

    issued_code(response, client)


def test_prompt_none_with_a_session_older_than_max_age_is_login_required(client, flows, make, frozen_clock):
    flows.code(client)
    frozen_clock.advance(61)

    response = flows.authorize(client, prompt="none", max_age="60")

    returned_error(response, client, "login_required")
    assert make.count(AuthorizationCode) == 1


def test_prompt_none_without_a_session_is_login_required(client, flows, make):
    response = flows.authorize(client, prompt="none")

    returned_error(response, client, "login_required")
    assert make.count(AuthorizationCode) == 0
    assert make.count(AccessToken) == 0


def test_prompt_none_without_remembered_consent_is_consent_required(client, flows, make):
    flows.sign_in(flows.authorize(client))  # signed in, consent page left unanswered

    response = flows.authorize(client, prompt="none")

    returned_error(response, client, "consent_required")
    assert make.count(AuthorizationCode) == 0


def test_unknown_pending_request_cannot_be_resumed(client, web):
    response = web.get("/authorize/resume?pending=made-up")

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "<form" not in response.text


# -- the consent page ------------------------------------------------------------------------


def test_consent_page_shows_the_client_what_it_asks_and_the_account(client, flows):
    page = ConsentPage(consent_page(flows, client).text)

    assert page.heading == "ServiceTitan Sandbox wants to pair with your account"
    assert page.scopes == [
        "confirm who you are",
        "see your name",
        "see your email address",
        "send bookings to the account you choose",
    ]
    assert page.hidden["account_id"] == "acct-hvac"
    assert page.radios == {}
    assert page.buttons == [("allow", "Allow"), ("deny", "Deny")]


def test_consent_page_lists_only_the_scopes_asked_for(client, flows):
    page = ConsentPage(consent_page(flows, client, scope="openid").text)

    assert page.scopes == ["confirm who you are", "send bookings to the account you choose"]


def test_consent_page_escapes_the_client_name(make, flows):
    make.directory()
    client = make.client(name='<img src=x onerror="alert(1)">')

    response = consent_page(flows, client)

    assert "<img" not in response.text
    assert ConsentPage(response.text).heading.startswith('<img src=x onerror="alert(1)">')


def test_user_with_several_accounts_chooses_one_by_name(client, flows):
    page = ConsentPage(consent_page(flows, client, email="manager@mtech.example").text)

    assert page.account_choices() == {
        "Closed Branch": "acct-closed",
        "MTech HVAC": "acct-hvac",
        "MTech Plumbing": "acct-plumbing",
    }
    assert all(radio["name"] == "account_id" and "required" in radio for radio in page.radios.values())
    assert len(page.checked()) == 1
    assert page.buttons == [("allow", "Allow"), ("deny", "Deny")]


def test_deny_answers_access_denied_by_form_post(client, flows, make, clean_app):
    page = consent_page(flows, client, state="st-deny")

    response = flows.decide(page, decision="deny")

    returned_error(response, client, "access_denied", state="st-deny")
    assert make.count(AuthorizationCode) == 0
    assert consents(clean_app) == []
    # Nothing was remembered: the next request asks again.
    assert is_consent_page(flows.authorize(client))


def test_deny_in_query_mode_redirects_access_denied(client, flows, make):
    page = consent_page(flows, client, response_mode="query")

    response = flows.decide(page, decision="deny")

    assert response.status_code == 302
    assert response.headers["Location"].startswith(client.redirect_uri + "?")
    assert "error=access_denied" in response.headers["Location"]
    assert "state=st-state-1" in response.headers["Location"]
    assert make.count(AuthorizationCode) == 0


def test_decision_without_the_csrf_token_is_refused(client, flows, make, clean_app):
    page = consent_page(flows, client)
    pending = _PENDING.search(page.text).group(1)

    response = flows.web.post(
        "/authorize/decision",
        data={
            "pending": pending,
            "decision": "allow",
            "account_id": "acct-hvac",
        },
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert make.count(AuthorizationCode) == 0
    assert consents(clean_app) == []


def test_decision_for_an_unknown_request_is_refused(client, flows, make):
    page = consent_page(flows, client)

    response = flows.web.post(
        "/authorize/decision",
        data={
            "csrf_token": _CSRF.search(page.text).group(1),
            "pending": "made-up",
            "decision": "allow",
            "account_id": "acct-hvac",
        },
    )

    assert response.status_code == 400
    assert "<form" not in response.text
    assert make.count(AuthorizationCode) == 0


def test_a_decision_counts_once(client, flows, make):
    page = consent_page(flows, client)
    issued_code(flows.decide(page), client)

    again = flows.decide(page)

    assert again.status_code == 400
    assert make.count(AuthorizationCode) == 1


# -- the account choice ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "account_id",
    [
        pytest.param("acct-plumbing", id="another-users-account"),
        pytest.param("acct-nope", id="made-up-account"),
        pytest.param("", id="empty"),
    ],
)
def test_account_the_user_may_not_pair_is_refused(client, flows, make, clean_app, account_id):
    page = consent_page(flows, client)

    response = flows.decide(page, account_id=account_id)

    assert is_consent_page(response)
    assert ConsentPage(response.text).alerts == ["Choose one of your accounts."]
    assert make.count(AuthorizationCode) == 0
    assert consents(clean_app) == []
    # The page it answers with still works.
    issued_code(flows.decide(response), client)
    assert latest_code(clean_app).account_id == "acct-hvac"


def test_several_accounts_and_none_chosen_is_refused(client, flows, make):
    page = consent_page(flows, client, email="manager@mtech.example")

    response = flows.decide(page)

    assert is_consent_page(response)
    assert make.count(AuthorizationCode) == 0


def test_user_without_accounts_cannot_allow_but_can_deny(client, flows, make):
    page = consent_page(flows, client, email="nobody@mtech.example")

    seen = ConsentPage(page.text)
    assert seen.buttons == [("deny", "Deny")]
    assert seen.radios == {}
    assert "account_id" not in seen.hidden
    assert seen.alerts == ["Your sign-in has no account that can be paired. Ask your administrator to give you access."]
    forced = flows.decide(page, decision="allow", account_id="acct-hvac")
    assert is_consent_page(forced)
    assert make.count(AuthorizationCode) == 0
    returned_error(flows.decide(forced, decision="deny"), client, "access_denied")
    assert make.count(AuthorizationCode) == 0


def test_user_without_accounts_and_prompt_none_is_consent_required(client, flows, make):
    flows.sign_in(flows.authorize(client), email="nobody@mtech.example")

    returned_error(flows.authorize(client, prompt="none"), client, "consent_required")
    assert make.count(AuthorizationCode) == 0


@pytest.mark.parametrize(
    "account_id, status, name",
    [
        ("acct-plumbing", "COMPLETED", "MTech Plumbing"),
        ("acct-hvac", "COMPLETED", "MTech HVAC"),
        ("acct-closed", "DECLINED", None),
    ],
)
def test_chosen_account_is_the_one_paired(client, flows, account_id, status, name):
    page = consent_page(flows, client, email="manager@mtech.example")
    code = issued_code(flows.decide(page, account_id=account_id), client)

    tokens = flows.exchange(client, code).json
    answer = flows.account_info(tokens["access_token"]).json

    assert answer["Status"] == status
    if name:
        assert (answer["Account"]["Id"], answer["Account"]["Name"]) == (account_id, name)
    else:
        assert "Account" not in answer


def test_single_account_is_paired_without_a_choice(client, flows):
    tokens = flows.tokens(client)

    answer = flows.account_info(tokens["access_token"]).json

    assert answer["Account"] == {
        "Id": "acct-hvac",
        "Name": "MTech HVAC",
        "Profiles": [{"Id": "p-north", "Name": "North"}, {"Id": "p-south", "Name": "South"}],
    }


# -- remembered consent ----------------------------------------------------------------------


def test_one_account_user_is_not_asked_again_and_prompt_none_yields_a_code(client, flows, make, clean_app):
    flows.code(client)
    assert consents(clean_app) == [("acct-hvac", "openid profile email")]

    issued_code(flows.authorize(client, prompt="none"), client)
    assert latest_code(clean_app).account_id == "acct-hvac"


def test_consent_is_remembered_per_user_not_per_browser(client, flows, clean_app):
    flows.code(client)
    other_browser = type(flows)(clean_app.test_client())

    response = other_browser.sign_in(other_browser.authorize(client))

    issued_code(response, client)


def test_consent_is_remembered_per_client(client, flows, make):
    flows.code(client)
    other = make.client(name="Another Client")

    assert is_consent_page(flows.authorize(other))
    returned_error(flows.authorize(other, prompt="none"), other, "consent_required")


def test_consent_to_fewer_scopes_asks_again_for_more(client, flows, make):
    flows.code(client, scope="openid")

    assert is_consent_page(flows.authorize(client, scope="openid profile email"))
    returned_error(flows.authorize(client, scope="openid profile", prompt="none"), client, "consent_required")
    issued_code(flows.authorize(client, scope="openid", prompt="none"), client)


def test_prompt_consent_shows_the_page_despite_remembered_consent(client, flows, make):
    flows.code(client)

    response = flows.authorize(client, prompt="consent")

    assert is_consent_page(response)
    assert make.count(AuthorizationCode) == 1
    issued_code(flows.decide(response), client)


def test_client_that_does_not_remember_consent_asks_every_time(make, flows, clean_app):
    make.directory()
    client = make.client(remember_consent=False)
    flows.code(client)

    assert is_consent_page(flows.authorize(client))
    returned_error(flows.authorize(client, prompt="none"), client, "consent_required")
    assert consents(clean_app) == []
    assert make.count(AuthorizationCode) == 1


def test_several_accounts_user_sees_the_choice_every_time_with_the_last_one_checked(client, flows, clean_app):
    page = consent_page(flows, client, email="manager@mtech.example")
    issued_code(flows.decide(page, account_id="acct-plumbing"), client)

    again = flows.authorize(client)

    assert is_consent_page(again)
    assert ConsentPage(again.text).checked() == ["acct-plumbing"]
    issued_code(flows.decide(again, account_id="acct-hvac"), client)
    assert consents(clean_app) == [("acct-hvac", "openid profile email")]
    assert ConsentPage(flows.authorize(client).text).checked() == ["acct-hvac"]


def test_prompt_none_reuses_the_last_choice_of_a_several_accounts_user(client, flows, clean_app):
    page = consent_page(flows, client, email="manager@mtech.example")
    issued_code(flows.decide(page, account_id="acct-plumbing"), client)

    code = issued_code(flows.authorize(client, prompt="none"), client)

    assert latest_code(clean_app).account_id == "acct-plumbing"
    tokens = flows.exchange(client, code).json
    assert flows.account_info(tokens["access_token"]).json["Account"]["Id"] == "acct-plumbing"


def test_prompt_none_for_a_several_accounts_user_without_consent_is_consent_required(client, flows, make):
    flows.sign_in(flows.authorize(client), email="manager@mtech.example")

    returned_error(flows.authorize(client, prompt="none"), client, "consent_required")
    assert make.count(AuthorizationCode) == 0


def test_prompt_none_when_the_last_choice_is_no_longer_pairable(client, flows, make):
    page = consent_page(flows, client, email="manager@mtech.example")
    issued_code(flows.decide(page, account_id="acct-plumbing"), client)
    make.directory(users=[{"email": "manager@mtech.example", "accounts": ["acct-hvac", "acct-closed"]}])

    response = flows.authorize(client, prompt="none")

    returned_error(response, client, "account_selection_required")
    assert make.count(AuthorizationCode) == 1


def test_remembered_consent_expires(client, flows, make, frozen_clock, clean_app, monkeypatch):
    # The tenant stays signed in for the year the consent lasts; only the consent expires.
    for name in ("TENANT_SESSION_LIFETIME", "TENANT_SESSION_IDLE_TIMEOUT"):
        monkeypatch.setitem(clean_app.config, name, clean_app.config["CONSENT_LIFETIME"] + 60)
    flows.code(client)
    frozen_clock.advance(clean_app.config["CONSENT_LIFETIME"] - 1)
    issued_code(flows.authorize(client, prompt="none"), client)

    frozen_clock.advance(1)

    returned_error(flows.authorize(client, prompt="none"), client, "consent_required")
    assert is_consent_page(flows.authorize(client))
    assert make.count(AuthorizationCode) == 2


def test_consent_lifetime_follows_the_setting(client, flows, frozen_clock, clean_app, monkeypatch):
    monkeypatch.setitem(clean_app.config, "CONSENT_LIFETIME", 600)
    flows.code(client)
    frozen_clock.advance(599)
    issued_code(flows.authorize(client, prompt="none"), client)

    frozen_clock.advance(1)

    returned_error(flows.authorize(client, prompt="none"), client, "consent_required")
