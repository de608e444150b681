"""How an answer reaches the client: the form_post page (the default) and the query redirect.

The page is checked as a browser would read it (parsed, not searched): one form posting to
the redirect URI, hidden fields whose values survive hostile input, one script allowed by
the page's Content Security Policy, and headers that keep the code out of caches and
Referer headers.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape

from oidc_provider.core.models import AuthorizationCode
from oidc_provider.oidc import response_modes
from tests.factories import RegisteredClient

HOSTILE = "\"><script>alert(1)</script>&'"


class Page(HTMLParser):
    """The elements of a form_post page that matter, with attribute values unescaped."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.inputs: list[dict] = []
        self.scripts: list[dict] = []
        self.buttons: list[dict] = []
        self.script_bodies: list[str] = []
        self._open: list[str] = []
        self._in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        attributes["_inside"] = list(self._open)
        {"form": self.forms, "input": self.inputs, "script": self.scripts, "button": self.buttons}.get(tag, []).append(
            attributes
        )
        if tag == "script":
            self._in_script = True
            self.script_bodies.append("")
        if tag in ("form", "noscript"):
            self._open.append(tag)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        if tag in ("form", "noscript") and self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        if self._in_script:
            self.script_bodies[-1] += data

    def fields(self) -> dict[str, str]:
        return {i["name"]: i["value"] for i in self.inputs if i.get("type") == "hidden"}


def csp(response) -> dict[str, str]:
    """The Content-Security-Policy header as {directive: value}."""
    directives = (part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives if d[0]}


def form_action(response) -> list[str]:
    """The sources the form may post to: the redirect URI's origin must be one of them."""
    sources = csp(response)["form-action"].split()
    assert "*" not in sources and "'none'" not in sources
    return sources


@pytest.fixture
def client(make) -> RegisteredClient:
    make.directory()
    return make.client()


@pytest.fixture
def consented(client, flows) -> RegisteredClient:
    """The owner is signed in and has consented: the next request is answered at once."""
    flows.code(client)
    return client


def assert_form_post_page(response, redirect_uri: str) -> Page:
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    page = Page(response.text)
    assert len(page.forms) == 1
    assert page.forms[0]["method"] == "post"
    assert page.forms[0]["action"] == redirect_uri
    assert all("form" in i["_inside"] for i in page.inputs)
    return page


# -- form_post: the page -----------------------------------------------------------------------


def test_code_is_delivered_by_an_auto_submitted_form_post(consented, flows):
    response = flows.authorize(consented)

    page = assert_form_post_page(response, consented.redirect_uri)
    assert set(page.fields()) == {"code", "state", "iss"}
    assert page.fields()["state"] == "st-state-1"
    assert len(page.scripts) == 1
    form_id = page.forms[0]["id"]
    assert page.script_bodies[0].strip() == f'document.getElementById("{form_id}").submit();'
    # Without script, a visible button inside <noscript> submits the same form.
    assert [b.get("type") for b in page.buttons] == ["submit"]
    assert page.buttons[0]["_inside"] == ["form", "noscript"]


def test_response_mode_left_out_means_form_post(consented, flows):
    """ServiceTitan's own example request has no response_mode."""
    response = flows.authorize(consented, response_mode=None)

    page = assert_form_post_page(response, consented.redirect_uri)
    assert set(page.fields()) == {"code", "state", "iss"}


def test_state_is_left_out_when_the_request_had_none(consented, flows):
    response = flows.authorize(consented, state=None)

    page = assert_form_post_page(response, consented.redirect_uri)
    assert set(page.fields()) == {"code", "iss"}


def test_form_post_headers_keep_the_code_private(consented, flows):
    response = flows.authorize(consented)

    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers.getlist("Content-Security-Policy") == [response.headers["Content-Security-Policy"]]


def test_script_nonce_matches_the_content_security_policy(consented, flows):
    response = flows.authorize(consented)

    page = Page(response.text)
    policy = csp(response)
    nonce = page.scripts[0]["nonce"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", nonce)
    assert policy["script-src"] == f"'nonce-{nonce}'"
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "https://servicetitan.example" in form_action(response)


def test_script_nonce_is_new_on_every_page(consented, flows):
    first = Page(flows.authorize(consented).text).scripts[0]["nonce"]
    second = Page(flows.authorize(consented).text).scripts[0]["nonce"]

    assert first != second


def test_hostile_state_is_escaped_and_returned_exactly(consented, flows):
    response = flows.authorize(consented, state=HOSTILE)

    assert "<script>alert(1)" not in response.text
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#39;" in response.text
    page = assert_form_post_page(response, consented.redirect_uri)
    assert page.fields()["state"] == HOSTILE
    assert len(page.scripts) == 1
    assert len(page.inputs) == 3


@pytest.mark.parametrize(
    "redirect_uri, origin",
    [
        ("https://servicetitan.example/callback?tenant=1&env=prod", "https://servicetitan.example"),
        ("https://servicetitan.example:8443/cb?a=%22%3E&b=\"'><x>", "https://servicetitan.example:8443"),
        ("http://127.0.0.1:8080/callback", "http://127.0.0.1:8080"),
    ],
)
def test_registered_redirect_uri_is_escaped_in_the_action_and_allowed_by_csp(make, flows, redirect_uri, origin):
    make.directory()
    client = make.client(redirect_uris=[redirect_uri])

    response = flows.sign_in(flows.authorize(client))
    response = flows.decide(response)

    page = assert_form_post_page(response, redirect_uri)
    assert set(page.fields()) == {"code", "state", "iss"}
    assert origin in form_action(response)
    assert f'action="{escape(redirect_uri)}"' in response.text
    assert "<x>" not in response.text


def test_error_is_delivered_by_form_post_with_the_same_protections(consented, flows, make):
    response = flows.authorize(consented, scope="profile", state=HOSTILE)

    page = assert_form_post_page(response, consented.redirect_uri)
    assert page.fields()["error"] == "invalid_scope"
    assert page.fields()["state"] == HOSTILE
    assert "error_description" in page.fields()
    assert "<script>alert(1)" not in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "https://servicetitan.example" in form_action(response)
    assert make.count(AuthorizationCode) == 1


@pytest.mark.parametrize(
    "name, value",
    [
        ("state", HOSTILE),
        ("error_description", "</form><form action=https://evil.example>"),
        ("code", '" autofocus onfocus="alert(1)'),
        ('x"><script>alert(1)</script>', "v"),
    ],
)
def test_form_post_escapes_any_name_and_value(clean_app, name, value):
    """The template, unit by unit: nothing that reaches it can leave its attribute."""
    redirect_uri = 'https://servicetitan.example/cb?a=1&b="><script>alert(2)</script>'
    with clean_app.test_request_context():
        status, body, headers = response_modes.form_post(redirect_uri, [(name, value)])

    assert status == 200
    assert "<script>alert" not in body
    assert "<form action=https://evil" not in body
    page = Page(body)
    assert [f["action"] for f in page.forms] == [redirect_uri]
    assert [(i["name"], i["value"]) for i in page.inputs] == [(name, value)]
    assert len(page.scripts) == 1
    assert dict(headers)["Cache-Control"] == "no-store"


# -- query -----------------------------------------------------------------------------------


def test_query_mode_redirects_with_code_and_state(consented, flows):
    response = flows.authorize(consented, response_mode="query")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "servicetitan.example", "/callback")
    query = parse_qs(location.query, strict_parsing=True)
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == ["st-state-1"]
    assert len(query["code"]) == 1
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_query_mode_keeps_the_redirect_uris_own_query(make, flows):
    make.directory()
    client = make.client(redirect_uris=["https://servicetitan.example/callback?tenant=1&env=prod"])
    flows.code(client)

    response = flows.authorize(client, response_mode="query", state=HOSTILE)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/callback"
    query = parse_qs(location.query, strict_parsing=True)
    assert query["tenant"] == ["1"]
    assert query["env"] == ["prod"]
    assert query["state"] == [HOSTILE]
    assert set(query) == {"tenant", "env", "code", "state", "iss"}


def test_query_mode_code_is_exchangeable(consented, flows):
    response = flows.authorize(consented, response_mode="query")
    code = flows.authorization_result(response)["code"]

    assert flows.exchange(consented, code).status_code == 200


@pytest.mark.parametrize(
    "params, error",
    [
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="response_type"),
        pytest.param({"scope": "profile"}, "invalid_scope", id="scope"),
        pytest.param({"prompt": "none consent"}, "invalid_request", id="prompt"),
        pytest.param(
            {"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request", id="plain-pkce"
        ),
    ],
)
def test_query_mode_errors_redirect_with_error_and_state(consented, flows, make, params, error):
    response = flows.authorize(consented, response_mode="query", **params)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == consented.redirect_uri
    query = parse_qs(location.query)
    assert query["error"] == [error]
    assert query["state"] == ["st-state-1"]
    assert "code" not in query
    assert make.count(AuthorizationCode) == 1


def test_query_mode_prompt_none_without_session_redirects_login_required(client, flows, make):
    response = flows.authorize(client, response_mode="query", prompt="none")

    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["login_required"]
    assert query["state"] == ["st-state-1"]
    assert make.count(AuthorizationCode) == 0


def test_respond_in_query_mode_encodes_values(clean_app):
    with clean_app.test_request_context():
        status, body, headers = response_modes.respond(
            "https://servicetitan.example/cb?x=1", [("state", "a&b=c#d e")], response_modes.QUERY
        )

    assert status == 302
    location = dict(headers)["Location"]
    assert "#" not in location
    assert parse_qs(urlsplit(location).query) == {"x": ["1"], "state": ["a&b=c#d e"], "iss": ["http://localhost"]}


def test_query_mode_pages_let_their_forms_redirect_to_the_client(client, flows):
    """The sign-in and consent forms of a query-mode request are answered by a redirect to
    the client, which browsers check against the page's form-action
    (tests/e2e/test_query_mode.py shows it in Chromium)."""
    sign_in_redirect = flows.authorize(client, response_mode="query")
    sign_in_page = flows.web.get(sign_in_redirect.headers["Location"])
    consent_page = flows.sign_in(sign_in_redirect)

    for page in (sign_in_page, consent_page):
        assert page.status_code == 200
        assert form_action(page)[:2] == ["'self'", "https://servicetitan.example"]


def test_form_post_mode_pages_post_only_to_this_site(client, flows):
    sign_in_redirect = flows.authorize(client)
    sign_in_page = flows.web.get(sign_in_redirect.headers["Location"])
    consent_page = flows.sign_in(sign_in_redirect)

    assert form_action(sign_in_page) == ["'self'"]
    assert form_action(consent_page) == ["'self'"]


# -- iss (RFC 9207) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, params",
    [
        ("form_post", {}),
        ("query", {}),
        ("form_post", {"scope": "profile"}),
        ("query", {"scope": "profile"}),
        ("query", {"prompt": "none consent"}),
    ],
    ids=["form_post-code", "query-code", "form_post-error", "query-error", "query-invalid-request"],
)
def test_every_authorization_response_names_the_issuer(consented, flows, mode, params):
    """RFC 9207: a client that talks to several servers tells by ``iss`` whose answer it is."""
    response = flows.authorize(consented, response_mode=mode, **params)

    result = flows.authorization_result(response)
    assert ("error" in result) == bool(params)
    assert result["iss"] == "http://localhost"


def test_a_denied_consent_names_the_issuer_too(client, flows):
    consent_page = flows.sign_in(flows.authorize(client, response_mode="query"))

    result = flows.authorization_result(flows.decide(consent_page, decision="deny"))

    assert result["error"] == "access_denied"
    assert result["iss"] == "http://localhost"
