"""ServiceTitan's Leads API, as the partner calls it ("Server-to-server authentication",
"Custom Pairing", "Booking" in the platform document).

``LeadsApiClient`` gets a client-credentials token from ``{identity}/connect/token``, keeps
it until shortly before the ``expires_in`` it came with (one renewal at a time, however
many threads ask), and posts pairing statuses and bookings. Each request is validated
before it leaves (``validation.py``), every call has a timeout, and every failure is a
typed ``LeadsApiError`` (``errors.py``). Callers normally go through the outbox, which adds
retries; the client itself sends each request once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from oidc_provider.core import clock
from oidc_provider.core.models import Account
from oidc_provider.servicetitan.environments import TOKEN_PATH, Environment
from oidc_provider.servicetitan.errors import (
    LeadsApiError,
    TokenRequestFailed,
    TransportError,
    Unauthorized,
    parse_error,
)
from oidc_provider.servicetitan.statuses import COMPLETED
from oidc_provider.servicetitan.validation import CheckedAccountStatus, CheckedBooking

log = logging.getLogger(__name__)

ACCOUNTS_PATH = "/api/integrations/accounts"
BOOKINGS_PATH = "/api/integrations/bookings"
RENEWAL_MARGIN_MAX = 60  # seconds


# -- the payloads, as the document shows them ---------------------------------------------


class ProfilePayload(TypedDict):
    id: str
    name: str


class AccountPayload(TypedDict):
    id: str
    name: str
    profiles: list[ProfilePayload]


class AccountStatusPayload(TypedDict):
    requestId: str
    status: str  # COMPLETED, PROCESSING or DECLINED
    account: NotRequired[AccountPayload]  # with COMPLETED only


class SlotPayload(TypedDict):
    accountId: str
    profileId: str
    serviceId: str  # one of the partner's job type keys
    startSec: NotRequired[int]  # Unix seconds, never milliseconds
    durationSec: NotRequired[int]


class AddressPayload(TypedDict):
    country: NotRequired[str]
    locality: NotRequired[str]
    region: NotRequired[str]
    postalCode: NotRequired[str]
    streetAddress: str


class UserInformationPayload(TypedDict):
    givenName: NotRequired[str]
    familyName: NotRequired[str]
    telephone: NotRequired[str]
    email: NotRequired[str]
    address: AddressPayload


class BookingPayload(TypedDict):
    idempotencyToken: str
    partnerBookingId: str
    slot: SlotPayload
    userInformation: UserInformationPayload
    description: NotRequired[str]
    externalBookingUrl: NotRequired[str]
    extraDetails: NotRequired[dict[str, str]]


def account_status_payload(request_id: str, status: str, account: Account | None = None) -> AccountStatusPayload:
    """The body of ``POST /api/integrations/accounts``; the account is named with COMPLETED."""
    payload: AccountStatusPayload = {"requestId": request_id, "status": status}
    if status == COMPLETED:
        if account is None:
            raise ValueError("COMPLETED needs the account")
        payload["account"] = {
            "id": account.id,
            "name": account.name,
            "profiles": [{"id": profile.id, "name": profile.name} for profile in account.profiles],
        }
    return payload


# -- the access token ---------------------------------------------------------------------


@dataclass(frozen=True)
class AccessToken:
    value: str
    renew_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:
        return f"AccessToken(renew_at={self.renew_at.isoformat()}, expires_at={self.expires_at.isoformat()})"


def request_token(environment: Environment, session: requests.Session, timeout: float) -> AccessToken:
    """One client-credentials token (form-encoded, as the document shows), renewed a little
    before the ``expires_in`` it came with: a tenth of its life, at most a minute, so that a
    call never leaves with a token that expires on the way."""
    url = environment.identity_url + TOKEN_PATH
    form = {
        "client_id": environment.client_id,
        "client_secret": environment.client_secret,
        "grant_type": "client_credentials",
    }
    obtained = clock.now()
    try:
        response = session.post(url, data=form, headers={"Accept": "application/json"}, timeout=(timeout, timeout))
    except requests.RequestException as error:
        raise TokenRequestFailed(f"no answer from {url}: {type(error).__name__}") from None
    if response.status_code != 200:
        body = _json(response)
        reason = body.get("error") if isinstance(body, dict) else None
        raise TokenRequestFailed(
            f"{url} answered HTTP {response.status_code}" + (f" ({reason})" if isinstance(reason, str) else ""),
            status=response.status_code,
        )
    body = _json(response)
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise TokenRequestFailed(f"{url} answered without an access_token", status=200)
    expires_in = _seconds(body.get("expires_in"))
    margin = min(RENEWAL_MARGIN_MAX, expires_in / 10)
    return AccessToken(
        value=value,
        renew_at=obtained + timedelta(seconds=expires_in - margin),
        expires_at=obtained + timedelta(seconds=expires_in),
    )


class TokenCache:
    """One access token per environment and client id, shared by the threads of a process.
    A token due for renewal is renewed by one thread while the others wait for it, so a
    burst of calls costs one token request, not one each."""

    def __init__(self) -> None:
        self._tokens: dict[tuple, AccessToken] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()

    @staticmethod
    def _key(environment: Environment) -> tuple:
        return (environment.identity_url, environment.client_id, environment.client_secret)

    def get(self, environment: Environment, session: requests.Session, timeout: float) -> str:
        key = self._key(environment)
        token = self._tokens.get(key)
        if token is not None and clock.now() < token.renew_at:
            return token.value
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            token = self._tokens.get(key)  # another thread may have renewed it meanwhile
            if token is None or clock.now() >= token.renew_at:
                token = request_token(environment, session, timeout)
                self._tokens[key] = token
                log.info("servicetitan token obtained", extra={"environment": environment.name})
            return token.value

    def invalidate(self, environment: Environment, value: str) -> None:
        """Forget ``value`` after ServiceTitan refused it (unless already renewed)."""
        key = self._key(environment)
        token = self._tokens.get(key)
        if token is not None and token.value == value:
            del self._tokens[key]


# -- the client -----------------------------------------------------------------------------


class KeptSession(requests.Session):
    """A session for a process that calls the same hosts again and again (an outbox
    worker): the proxy and certificate settings that requests reads from the process's
    environment on every call (0.2 ms each, most of it scanning the environment for
    proxies) are read once per scheme and host. The environment does not change under a
    running process."""

    def __init__(self) -> None:
        super().__init__()
        self._environment_settings: dict[tuple[str, str], dict[str, Any]] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies or stream is not None or verify is not None or cert is not None:  # a call's own settings
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        origin = urlsplit(url)[:2]
        if origin not in self._environment_settings:
            self._environment_settings[origin] = super().merge_environment_settings(url, {}, None, None, None)
        settings = self._environment_settings[origin]
        return {**settings, "proxies": dict(settings["proxies"])}


class LeadsApiClient:
    """Calls to one environment. Example::

        client = LeadsApiClient(resolve("sandbox"), tokens=TokenCache(), timeout=10)
        client.send_account_status({"requestId": "r-1", "status": "PROCESSING"})

    Not shared between threads (its ``requests.Session`` is not); the token cache is.
    """

    def __init__(
        self,
        environment: Environment,
        *,
        tokens: TokenCache,
        timeout: float,
        session: requests.Session | None = None,
    ):
        self.environment = environment
        self.tokens = tokens
        self.timeout = timeout
        self.session = session or requests.Session()

    def send_account_status(self, payload: CheckedAccountStatus) -> Any:
        """``POST /api/integrations/accounts``: PROCESSING, DECLINED, or COMPLETED with the account."""
        return self._post(ACCOUNTS_PATH, payload)

    def send_booking(self, payload: CheckedBooking) -> Any:
        """``POST /api/integrations/bookings``."""
        return self._post(BOOKINGS_PATH, payload)

    def _post(self, path: str, payload: dict) -> Any:
        token = self.tokens.get(self.environment, self.session, self.timeout)
        try:
            return self._post_with(token, path, payload)
        except Unauthorized:
            # A token can be revoked before its time; one fresh token, then give up.
            self.tokens.invalidate(self.environment, token)
            token = self.tokens.get(self.environment, self.session, self.timeout)
            return self._post_with(token, path, payload)

    def _post_with(self, token: str, path: str, payload: dict) -> Any:
        url = self.environment.api_url + path
        try:
            response = self.session.post(
                url,
                json=payload,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=(self.timeout, self.timeout),
            )
        except requests.RequestException as error:
            raise _transport_error(url, error) from None
        if 200 <= response.status_code < 300:
            return _json(response)
        raise parse_error(response.status_code, response.content)


def _transport_error(url: str, error: requests.RequestException) -> LeadsApiError:
    """A request that got no answer. It certainly never arrived only when the connection
    was never made; a read timeout or a dropped connection may follow an applied request."""
    never_sent = isinstance(error, requests.ConnectTimeout) or (
        isinstance(error, requests.ConnectionError)
        and isinstance(getattr(error.args[0] if error.args else None, "reason", None), NewConnectionError)
    )
    return TransportError(f"no answer from {url}: {type(error).__name__}", may_have_landed=not never_sent)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _seconds(value: Any) -> float:
    """``expires_in`` as seconds; a missing or odd value means "renew at the next call"."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return float(value)
    return 0
