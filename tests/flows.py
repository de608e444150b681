"""One flow helper for every test that needs a pairing: authorize, sign in, consent, exchange.

Requests are ServiceTitan's by default: no nonce, no PKCE, response_mode=form_post,
credentials in the Basic header and in the body.
"""

from __future__ import annotations

import base64
import html
import re
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.factories import PASSWORD, RegisteredClient

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PENDING = re.compile(r'name="pending" value="([^"]*)"')


def hidden_fields(page: str) -> dict[str, str]:
    return {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(page)}


def form_post_target(page: str) -> str:
    return html.unescape(re.search(r'<form method="post" action="([^"]*)"', page).group(1))


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def base64_bearer(access_token: str) -> str:
    return "Bearer " + base64.b64encode(access_token.encode()).decode()


class Flows:
    def __init__(self, web):
        self.web = web

    # -- the browser's side -------------------------------------------------------------
    def authorize(self, client: RegisteredClient, **params):
        """GET /authorize; ``None`` drops a parameter."""
        query = {
            "client_id": client.client_id,
            "response_type": "code",
            "response_mode": "form_post",
            "scope": client.scope,
            "state": "st-state-1",
            "redirect_uri": client.redirect_uri,
            **params,
        }
        return self.web.get("/authorize?" + urlencode({k: v for k, v in query.items() if v is not None}))

    def sign_in(self, response, email="owner@mtech.example", password=PASSWORD):
        """Follow a redirect to the sign-in page and submit it; answers the next page."""
        login_page = self.web.get(response.headers["Location"])
        pending = _PENDING.search(login_page.text).group(1)
        answer = self.web.post(
            "/login",
            data={
                "csrf_token": _CSRF.search(login_page.text).group(1),
                "pending": pending,
                "email": email,
                "password": password,
            },
        )
        if answer.status_code == 302 and "/authorize/resume" in answer.headers["Location"]:
            return self.web.get(answer.headers["Location"])
        return answer

    def decide(self, consent_page, decision="allow", account_id=None):
        fields = {
            "csrf_token": _CSRF.search(consent_page.text).group(1),
            "pending": _PENDING.search(consent_page.text).group(1),
            "decision": decision,
        }
        if account_id is None:
            account_id = hidden_fields(consent_page.text).get("account_id")
        if account_id is not None:
            fields["account_id"] = account_id
        return self.web.post("/authorize/decision", data=fields)

    def code(self, client: RegisteredClient, email="owner@mtech.example", account_id=None, **params) -> str:
        """Sign in and consent as needed; the code the form_post page carries."""
        response = self.authorize(client, **params)
        if response.status_code == 302 and "/login" in response.headers["Location"]:
            response = self.sign_in(response, email=email)
        if "Allow" in response.text and 'name="decision"' in response.text:
            response = self.decide(response, account_id=account_id)
        return self.authorization_result(response)["code"]

    @staticmethod
    def authorization_result(response) -> dict[str, str]:
        """The parameters of a form_post page or a query redirect."""
        if response.status_code == 302:
            return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
        assert response.status_code == 200, response.text
        return hidden_fields(response.text)

    # -- ServiceTitan's back channel ----------------------------------------------------
    def exchange(self, client: RegisteredClient, code: str, basic_auth=True, body_auth=True, **form):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri}
        if body_auth:
            data.update(client_id=client.client_id, client_secret=client.client_secret)
        data.update(form)
        headers = {"Authorization": basic(client.client_id, client.client_secret)} if basic_auth else {}
        return self.web.post("/token", data={k: v for k, v in data.items() if v is not None}, headers=headers)

    def tokens(self, client: RegisteredClient, **kwargs) -> dict:
        """A whole pairing up to the token response."""
        response = self.exchange(client, self.code(client, **kwargs))
        assert response.status_code == 200, response.json
        return response.json

    def account_info(self, access_token: str, request_id: str = "req-1", raw: bool = False):
        header = f"Bearer {access_token}" if raw else base64_bearer(access_token)
        return self.web.get(f"/account-info?{urlencode({'request_id': request_id})}", headers={"Authorization": header})
