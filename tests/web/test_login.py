"""The tenant sign-in page: what it shows, what it tells apart (nothing), what it refuses."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from tests.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SIGNED_IN = "You are signed in as"


class Form(HTMLParser):
    """Labels with the controls they name, and the buttons, of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.controls: dict[str, dict] = {}
        self.labels: dict[str, str] = {}
        self.buttons: list[tuple[dict, str]] = []
        self.alerts: list[str] = []
        self._text_of: tuple[str, object] | None = None
        self._text = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append(attributes)
        elif tag == "input" and "id" in attributes:
            self.controls[attributes["id"]] = attributes
        elif tag in ("label", "button") or (tag == "p" and attributes.get("role") == "alert"):
            self._text_of, self._text = (tag, attributes), ""

    def handle_data(self, data):
        if self._text_of:
            self._text += data

    def handle_endtag(self, tag):
        if self._text_of and self._text_of[0] == tag:
            attributes, text = self._text_of[1], self._text.strip()
            if tag == "label":
                self.labels[text] = attributes["for"]
            elif tag == "button":
                self.buttons.append((attributes, text))
            else:
                self.alerts.append(text)
            self._text_of = None

    def control(self, label: str) -> dict:
        return self.controls[self.labels[label]]


@pytest.fixture
def tenant(make):
    make.directory()


def csrf_token(web, path="/login") -> str:
    return _CSRF.search(web.get(path).text).group(1)


def sign_in(web, email="owner@mtech.example", password=PASSWORD, **extra):
    return web.post("/login", data={"csrf_token": csrf_token(web), "email": email, "password": password, **extra})


def normalized(page: str, email: str) -> str:
    return _CSRF.sub("csrf", page.replace(email, "EMAIL"))


def is_signed_in(web) -> bool:
    return SIGNED_IN in web.get("/").text


def test_sign_in_page_has_labelled_email_and_password_and_a_sign_in_button(web):
    response = web.get("/login")

    assert response.status_code == 200
    page = Form(response.text)
    assert page.forms == [{"method": "post", "action": "/login"}]
    email = page.control("Email")
    assert (email["name"], email["type"], email["autocomplete"]) == ("email", "email", "username")
    password = page.control("Password")
    assert (password["name"], password["type"]) == ("password", "password")
    assert password["autocomplete"] == "current-password"
    assert [(b.get("type"), text) for b, text in page.buttons] == [("submit", "Sign in")]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_correct_password_signs_in(tenant, web):
    response = sign_in(web)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert is_signed_in(web)


def test_email_is_matched_without_regard_to_case_or_spaces(tenant, web):
    response = sign_in(web, email="  Owner@MTech.Example ")

    assert response.status_code == 302
    assert is_signed_in(web)


def test_wrong_password_and_unknown_email_are_answered_alike(tenant, web):
    wrong_password = sign_in(web, email="owner@mtech.example", password="not the password")
    unknown_email = sign_in(web, email="stranger@mtech.example", password=PASSWORD)

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert Form(wrong_password.text).alerts == ["The email or password is incorrect."]
    assert Form(unknown_email.text).alerts == Form(wrong_password.text).alerts
    # Nothing else differs but the email the form gives back and the CSRF token.
    assert normalized(wrong_password.text, "owner@mtech.example") == normalized(
        unknown_email.text, "stranger@mtech.example"
    )
    assert not is_signed_in(web)


@pytest.mark.parametrize("password", ["", "correct horse batter", PASSWORD.upper(), PASSWORD + " "])
def test_near_miss_password_is_refused(tenant, web, password):
    response = sign_in(web, password=password)

    assert response.status_code == 401
    assert not is_signed_in(web)


def test_email_is_given_back_escaped(tenant, web):
    response = sign_in(web, email='"><script>alert(1)</script>', password="x")

    assert response.status_code == 401
    assert "<script>alert(1)" not in response.text
    assert Form(response.text).controls["email"]["value"] == '"><script>alert(1)</script>'


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_sign_in_without_the_csrf_token_is_refused(tenant, web, token):
    web.get("/login")
    data = {"email": "owner@mtech.example", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token

    response = web.post("/login", data=data)

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert not is_signed_in(web)


def test_csrf_token_of_another_browser_is_refused(tenant, clean_app, web):
    other_browser = clean_app.test_client()
    token = csrf_token(other_browser)
    web.get("/login")

    response = web.post("/login", data={"csrf_token": token, "email": "owner@mtech.example", "password": PASSWORD})

    assert response.status_code == 400
    assert not is_signed_in(web)


def test_session_cookie_is_replaced_at_sign_in(tenant, web):
    token = csrf_token(web)
    before = web.get_cookie("session").value
    credentials = {"csrf_token": token, "email": "owner@mtech.example", "password": PASSWORD}

    sign_in_response = web.post("/login", data=credentials)

    assert sign_in_response.status_code == 302
    after = web.get_cookie("session").value
    assert after != before
    assert is_signed_in(web)
    # The cookie from before sign-in (one an attacker could have planted) is worth nothing.
    web.set_cookie("session", before)
    assert not is_signed_in(web)


def test_using_a_session_does_not_extend_it(tenant, web):
    sign_in(web)
    web.get("/")  # the first page puts the sign-out form's CSRF token in the session

    page = web.get("/")

    assert SIGNED_IN in page.text
    # Not signed again: it lasts TENANT_SESSION_LIFETIME from its last change, however often used.
    assert "Set-Cookie" not in page.headers


def test_sign_in_continues_the_pending_request_on_our_own_site(tenant, web):
    response = sign_in(web, pending="https://evil.example/steal")

    assert response.status_code == 302
    location = response.headers["Location"]
    assert (urlsplit(location).netloc, urlsplit(location).path) == ("", "/authorize/resume")
    # An id we never issued resumes nothing: a page, no redirect.
    resumed = web.get(location)
    assert resumed.status_code == 400
    assert "Location" not in resumed.headers


def test_sign_out_ends_the_session(tenant, web):
    sign_in(web)

    response = web.post("/logout", data={"csrf_token": csrf_token(web, "/")})

    assert response.status_code == 302
    assert not is_signed_in(web)


def test_sign_out_without_the_csrf_token_is_refused(tenant, web):
    sign_in(web)

    response = web.post("/logout")

    assert response.status_code == 400
    assert is_signed_in(web)
