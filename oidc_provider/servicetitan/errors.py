"""ServiceTitan's answers as typed errors, one class per documented code.

The platform document ("Errors") gives the shape ``{"code", "message", "status",
"stTraceId", "errors"}`` and twelve codes; its own example carries a thirteenth, 10001,
"One or more validation errors occurred". ``parse_error`` turns any answer into one of
these classes and never raises: a proxy's HTML page, an empty body or a malformed document
from ServiceTitan must not crash the outbox worker that reads it.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class LeadsApiError(Exception):
    """A call to ServiceTitan that did not succeed.

    ``code``, ``message``, ``status``, ``st_trace_id`` and ``errors`` are ServiceTitan's
    fields (``status`` is the HTTP status we received); ``name`` names the code as the
    document does. ``retryable`` says whether sending the same request again may succeed.
    """

    name: ClassVar[str] = "LeadsApiError"
    code_number: ClassVar[int | None] = None
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        st_trace_id: str | None = None,
        errors: list[str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code if code is not None else self.code_number
        self.st_trace_id = st_trace_id
        self.errors = list(errors or [])

    def as_dict(self) -> dict[str, Any]:
        """The error as the outbox records it and the console shows it."""
        return {
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "status": self.status,
            "stTraceId": self.st_trace_id,
            "errors": self.errors,
        }

    def __str__(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.name}{code}{status}: {self.message}"


# -- ServiceTitan's documented codes ------------------------------------------------------


class ValidationFailed(LeadsApiError):
    """10001: the request broke ServiceTitan's validation; ``errors`` says how."""

    name = "ValidationFailed"
    code_number = 10001


class IntegrationDisabled(LeadsApiError):
    """11102: the integration is disabled for the booking's slot.accountId."""

    name = "IntegrationDisabled"
    code_number = 11102


class DuplicateBooking(LeadsApiError):
    """11302: a booking with this partnerBookingId already exists."""

    name = "DuplicateBooking"
    code_number = 11302


class DuplicateIdempotencyToken(LeadsApiError):
    """11303: this idempotencyToken was used already."""

    name = "DuplicateIdempotencyToken"
    code_number = 11303


class DuplicateExtraDetail(LeadsApiError):
    """11304: extraDetails holds keys that differ only in case."""

    name = "DuplicateExtraDetail"
    code_number = 11304


class InvalidAccountStatusChange(LeadsApiError):
    """15102: the pairing cannot go from its current status to the one sent."""

    name = "InvalidAccountStatusChange"
    code_number = 15102


class InvalidAccountData(LeadsApiError):
    """15103: the account is missing or not valid."""

    name = "InvalidAccountData"
    code_number = 15103


class RequestIdNotFound(LeadsApiError):
    """15202: ServiceTitan knows no pairing with this requestId."""

    name = "RequestIdNotFound"
    code_number = 15202


class AccountNotFound(LeadsApiError):
    """15203: no paired account has the booking's slot.accountId."""

    name = "AccountNotFound"
    code_number = 15203


class ProfileNotFound(LeadsApiError):
    """15204: no profile has the booking's slot.profileId."""

    name = "ProfileNotFound"
    code_number = 15204


class DuplicateRequestId(LeadsApiError):
    """15302: an account was already created for this requestId."""

    name = "DuplicateRequestId"
    code_number = 15302


class DuplicateAccount(LeadsApiError):
    """15303: an account with this account.id exists already."""

    name = "DuplicateAccount"
    code_number = 15303


class DuplicateProfile(LeadsApiError):
    """15304: a profile with one of these account.profiles ids exists already."""

    name = "DuplicateProfile"
    code_number = 15304


# -- answers without a documented code ----------------------------------------------------


class UndocumentedError(LeadsApiError):
    """A 4xx whose code is missing or not one the document lists."""

    name = "UndocumentedError"


class Unauthorized(LeadsApiError):
    """401 or 403: ServiceTitan refused our access token. Credentials are the partner's to
    fix, not the request's, so the outbox keeps the call and tries again later."""

    name = "Unauthorized"
    retryable = True


class TooManyRequests(LeadsApiError):
    """429: ServiceTitan asks us to slow down."""

    name = "TooManyRequests"
    retryable = True


class ServerError(LeadsApiError):
    """5xx: ServiceTitan's own fault ("rare cases"). The request may have been applied."""

    name = "ServerError"
    retryable = True


class TransportError(LeadsApiError):
    """No answer: a timeout, a refused or dropped connection. ``may_have_landed`` is false
    only when the request certainly never left (the connection was never made)."""

    name = "TransportError"
    retryable = True

    def __init__(self, message: str, *, may_have_landed: bool = True):
        super().__init__(message)
        self.may_have_landed = may_have_landed


class TokenRequestFailed(LeadsApiError):
    """``/connect/token`` gave no token: wrong credentials or an identity server that is
    down. Nothing was sent to the Leads API, so the call can always be tried again."""

    name = "TokenRequestFailed"
    retryable = True


class NotConfigured(LeadsApiError):
    """The environment lacks a URL or credentials: ``flask servicetitan configure``."""

    name = "NotConfigured"
    retryable = True


DOCUMENTED_ERRORS: dict[int, type[LeadsApiError]] = {
    cls.code_number: cls
    for cls in (
        ValidationFailed,
        IntegrationDisabled,
        DuplicateBooking,
        DuplicateIdempotencyToken,
        DuplicateExtraDetail,
        InvalidAccountStatusChange,
        InvalidAccountData,
        RequestIdNotFound,
        AccountNotFound,
        ProfileNotFound,
        DuplicateRequestId,
        DuplicateAccount,
        DuplicateProfile,
    )
}

_MESSAGE_MAX = 2000


def parse_error(status: int, body: bytes | str | None) -> LeadsApiError:
    """ServiceTitan's error answer as a typed error. Never raises: whatever the body is,
    the result names the HTTP status and keeps what could be read."""
    document = _json_object(body)
    code = _integer(document.get("code"))
    message = document.get("message")
    if not isinstance(message, str) or not message:
        message = _plain_text(body) or f"HTTP {status}"
    trace_id = document.get("stTraceId")
    errors = document.get("errors")
    # A documented code says more than the status: ServiceTitan may send IntegrationDisabled
    # as a 403, which is about the account, not about our token.
    if status >= 500:
        cls: type[LeadsApiError] = ServerError
    elif code in DOCUMENTED_ERRORS:
        cls = DOCUMENTED_ERRORS[code]
    elif status in (401, 403):
        cls = Unauthorized
    elif status == 429:
        cls = TooManyRequests
    else:
        cls = UndocumentedError
    return cls(
        message[:_MESSAGE_MAX],
        status=status,
        code=code,
        st_trace_id=trace_id if isinstance(trace_id, str) else None,
        errors=[item if isinstance(item, str) else json.dumps(item) for item in errors]
        if isinstance(errors, list)
        else [],
    )


def _json_object(body: bytes | str | None) -> dict:
    if not body:
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return {}
    return document if isinstance(document, dict) else {}


def _integer(value: Any) -> int | None:
    """The code as an integer: a JSON number, or a string of digits from a lenient server."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= 9:
            return int(digits)
    return None


def _plain_text(body: bytes | str | None) -> str:
    if not body:
        return ""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    return " ".join(text.split())[:200]
