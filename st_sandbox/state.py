"""What the sandbox's ServiceTitan knows: pairing requests, paired accounts, bookings, tokens.

Pure logic under one lock, apart from Flask, so tests can read and steer it directly.
Every request that changed something is appended to ``applied``, in order, so a test can
count effects ("every booking exactly once") however many attempts the partner made.
The rules are the platform document's; where it is silent, the sandbox picks the reading
that lets a partner tell an applied request from a lost one:

- A pairing request is created by ServiceTitan ("Pair Now", the Custom pairing button).
  PROCESSING and DECLINED may follow a new request, COMPLETED a new or PROCESSING one.
  Repeating the current status is not a change: InvalidAccountStatusChange (15102), except
  COMPLETED again, which is DuplicateRequestId (15302, "already created"). Nothing leaves
  COMPLETED or DECLINED.
- account.id and profile ids are unique across the sandbox (DuplicateAccount 15303,
  DuplicateProfile 15304).
- A booking's idempotencyToken is checked first (DuplicateIdempotencyToken 11303), then
  its partnerBookingId (DuplicateBooking 11302); both are used up only by a booking that
  was applied.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

COMPLETED, PROCESSING, DECLINED, NEW = "COMPLETED", "PROCESSING", "DECLINED", "NEW"

# ServiceTitan's documented error codes, and the example's validation code.
ERROR_MESSAGES = {
    10001: "One or more validation errors occurred",
    11102: "Integration is disabled for the provided slot.accountId account.",
    11302: "A booking with a specified partnerBookingId already exists.",
    11303: "The token provided in idempotencyToken has already been used.",
    11304: "The key/value pairs provided with extraDetails contain case-insensitive duplicates.",
    15102: "Account status change from the current state to provided status value is not valid.",
    15103: "The account is not provided or its data is not valid.",
    15202: "An account with a specified requestId does not exist.",
    15203: "An account with a specified slot.accountId does not exist.",
    15204: "A profile with a specified slot.profileId does not exist.",
    15302: "An account with a provided requestId was already created.",
    15303: "An account with a provided account.id already exists.",
    15304: "A profile with a provided account.profiles.id already exists.",
}


class Refusal(Exception):
    """ServiceTitan's error answer: ``{code, message, status, stTraceId, errors}``."""

    def __init__(self, code: int, errors: list[str] | None = None, status: int = 400):
        super().__init__(ERROR_MESSAGES[code])
        self.code = code
        self.errors = errors or []
        self.status = status

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": ERROR_MESSAGES[self.code],
            "status": self.status,
            "stTraceId": str(uuid.uuid4()),
            "errors": self.errors,
        }


@dataclass
class PairingRequest:
    request_id: str
    mechanism: str  # "custom" or "openid"
    status: str = NEW
    account: dict | None = None
    history: list[str] = field(default_factory=list)


@dataclass
class Applied:
    """One request that changed the sandbox's state."""

    seq: int
    path: str
    body: dict
    at: float


@dataclass
class Fault:
    """Misbehaviour for the next ``times`` requests whose path starts with ``path``
    (``times`` None: until cleared).

    kind "error": answer ``status`` (a 5xx) without applying anything;
    "delay": wait ``seconds``, then handle the request normally;
    "drop": close the connection without applying anything;
    "lose_response": apply the request, then close the connection unanswered.
    """

    path: str
    kind: str
    status: int = 503
    seconds: float = 0
    times: int | None = 1

    KINDS = ("error", "delay", "drop", "lose_response")


class SandboxState:
    def __init__(
        self, client_id: str, client_secret: str, token_lifetime: int = 3600, clock: Callable[[], float] = time.time
    ):
        self.lock = threading.RLock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.tokens: dict[str, float] = {}  # access token -> expiry (Unix seconds)
        self.requests: dict[str, PairingRequest] = {}
        self.accounts: dict[str, dict] = {}  # account id -> {"id", "name", "profiles", "request_id"}
        self.profiles: dict[str, str] = {}  # profile id -> account id
        self.disabled_accounts: set[str] = set()
        self.bookings: dict[str, dict] = {}  # partnerBookingId -> booking
        self.booking_received_at: dict[str, float] = {}  # partnerBookingId -> Unix seconds
        self.idempotency_tokens: set[str] = set()
        self.applied: list[Applied] = []
        self.received: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self.faults: list[Fault] = []
        self.webhooks_sent: list[dict] = []

    # -- tokens ---------------------------------------------------------------------------

    def issue_token(self, client_id: str, client_secret: str) -> dict | None:
        if not (
            secrets.compare_digest(client_id.encode(), self.client_id.encode())
            and secrets.compare_digest(client_secret.encode(), self.client_secret.encode())
        ):
            return None
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = self.clock() + self.token_lifetime
        return {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "token_type": "Bearer",
            "scope": "leads.integrations",
        }

    def token_valid(self, token: str) -> bool:
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry is not None and self.clock() < expiry

    def tokens_issued(self) -> int:
        return sum(1 for method, path, status in self.received if path == "/connect/token" and status == 200)

    # -- pairing requests (ServiceTitan's side) -------------------------------------------

    def create_request(self, mechanism: str, request_id: str | None = None) -> PairingRequest:
        """What ServiceTitan does when a tenant starts a pairing."""
        request = PairingRequest(request_id or secrets.token_urlsafe(16), mechanism)
        with self.lock:
            self.requests[request.request_id] = request
        return request

    def record_account_info(self, request_id: str, answer: dict) -> None:
        """An OpenID pairing's account-info answer (or accountInfo claim), as ServiceTitan
        records it: COMPLETED pairs the account, PROCESSING waits for the partner's call."""
        with self.lock:
            request = self.requests.get(request_id) or self.create_request("openid", request_id)
            status = answer.get("Status")
            if status not in (COMPLETED, PROCESSING, DECLINED):
                return
            request.status = status
            request.history.append(status)
            account = answer.get("Account")
            if status == COMPLETED and isinstance(account, dict):
                self._pair(
                    {
                        "id": account.get("Id"),
                        "name": account.get("Name"),
                        "profiles": [{"id": p.get("Id"), "name": p.get("Name")} for p in account.get("Profiles") or []],
                    },
                    request,
                )

    def pair_account(self, account: dict) -> None:
        """Pair an account directly, as if a pairing had completed (for tests of bookings)."""
        with self.lock:
            self._pair(account, self.create_request("direct"))

    def _pair(self, account: dict, request: PairingRequest) -> None:
        request.account = account
        self.accounts[account["id"]] = {**account, "request_id": request.request_id}
        for profile in account.get("profiles", []):
            self.profiles[profile["id"]] = account["id"]

    def apply_account_status(self, body: Any) -> None:
        """``POST /api/integrations/accounts``; raises Refusal."""
        errors = _account_status_errors(body)
        if errors:
            raise Refusal(10001, errors)
        with self.lock:
            request = self.requests.get(body["requestId"])
            if request is None:
                raise Refusal(15202, status=404)
            new = body["status"]
            if request.status == COMPLETED and new == COMPLETED:
                raise Refusal(15302, status=409)
            if request.status in (COMPLETED, DECLINED) or request.status == new:
                raise Refusal(15102, [f"{request.status} -> {new}"])
            if new == COMPLETED:
                account = body.get("account")
                problems = _account_errors(account)
                if problems:
                    raise Refusal(15103, problems)
                if account["id"] in self.accounts:
                    raise Refusal(15303, status=409)
                taken = [p["id"] for p in account["profiles"] if p["id"] in self.profiles]
                if taken:
                    raise Refusal(15304, [f"profile {pid} exists" for pid in taken], status=409)
                self._pair({"id": account["id"], "name": account["name"], "profiles": account["profiles"]}, request)
            request.status = new
            request.history.append(new)
            self._record("/api/integrations/accounts", body)

    # -- bookings -------------------------------------------------------------------------

    def disable_account(self, account_id: str, disabled: bool = True) -> None:
        with self.lock:
            (self.disabled_accounts.add if disabled else self.disabled_accounts.discard)(account_id)

    def apply_booking(self, body: Any) -> None:
        """``POST /api/integrations/bookings``; raises Refusal."""
        errors = _booking_errors(body)
        if errors:
            raise Refusal(10001, errors)
        slot = body["slot"]
        with self.lock:
            if body["idempotencyToken"] in self.idempotency_tokens:
                raise Refusal(11303, status=409)
            if body["partnerBookingId"] in self.bookings:
                raise Refusal(11302, status=409)
            account = self.accounts.get(slot["accountId"])
            if account is None:
                raise Refusal(15203, status=404)
            if self.profiles.get(slot["profileId"]) != slot["accountId"]:
                raise Refusal(15204, status=404)
            if slot["accountId"] in self.disabled_accounts:
                raise Refusal(11102, status=403)
            duplicates = _case_insensitive_duplicates(body.get("extraDetails"))
            if duplicates:
                raise Refusal(11304, [f"extraDetails key {key!r} is repeated" for key in duplicates])
            self.idempotency_tokens.add(body["idempotencyToken"])
            self.bookings[body["partnerBookingId"]] = _plain(body)
            self.booking_received_at[body["partnerBookingId"]] = self.clock()
            self._record("/api/integrations/bookings", body)

    # -- faults and records ---------------------------------------------------------------

    def inject(self, path: str, kind: str, status: int = 503, seconds: float = 0, times: int | None = 1) -> Fault:
        if kind not in Fault.KINDS:
            raise ValueError(f"kind must be one of {Fault.KINDS}")
        fault = Fault(path, kind, status, seconds, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def note_request(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.received.append((method, path, status))

    def _record(self, path: str, body: dict) -> None:
        self.applied.append(Applied(len(self.applied) + 1, path, _plain(body), self.clock()))

    def snapshot(self) -> dict[str, Any]:
        """Everything, as JSON for ``GET /_sandbox/state``."""
        with self.lock:
            return {
                "requests": [
                    {
                        "requestId": r.request_id,
                        "mechanism": r.mechanism,
                        "status": r.status,
                        "history": r.history,
                        "accountId": r.account["id"] if r.account else None,
                    }
                    for r in self.requests.values()
                ],
                "accounts": list(self.accounts.values()),
                "bookings": sorted(self.bookings),
                "applied": [{"seq": a.seq, "path": a.path, "body": a.body, "at": a.at} for a in self.applied],
                "faults": [vars(f) for f in self.faults],
            }


# -- ServiceTitan's validation, written apart from the partner's ---------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _string(value: Any, spaces_allowed: bool = True) -> bool:
    return isinstance(value, str) and bool(value) and (spaces_allowed or not any(c.isspace() for c in value))


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _account_status_errors(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["The request body must be a JSON object"]
    errors = []
    if not _string(body.get("requestId")):
        errors.append("requestId must be specified")
    elif len(body["requestId"]) > 128:
        errors.append("requestId must be 128 characters or fewer")
    if body.get("status") not in (COMPLETED, PROCESSING, DECLINED):
        errors.append("status must be one of COMPLETED, PROCESSING, DECLINED")
    return errors


def _account_errors(account: Any) -> list[str]:
    if not isinstance(account, dict):
        return ["account must be specified"]
    errors = []
    for name in ("id", "name"):
        if not _string(account.get(name)) or len(account[name]) > 128:
            errors.append(f"account.{name} must be 1 to 128 characters")
    if _string(account.get("id")) and not all(c.isalnum() or c in "_-" for c in account["id"]):
        errors.append("account.id must have no special characters")
    profiles = account.get("profiles")
    if not isinstance(profiles, list):
        return [*errors, "account.profiles must be a list"]
    for index, profile in enumerate(profiles):
        if not isinstance(profile, dict) or not _string(profile.get("id")) or not _string(profile.get("name")):
            errors.append(f"account.profiles[{index}] needs an id and a name")
        elif len(profile["id"]) > 128 or len(profile["name"]) > 128:
            errors.append(f"account.profiles[{index}] id and name must be 128 characters or fewer")
    ids = [p.get("id") for p in profiles if isinstance(p, dict)]
    if len(ids) != len(set(map(str, ids))):
        errors.append("account.profiles ids must be unique")
    return errors


def _booking_errors(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["The request body must be a JSON object"]
    errors = []
    for name in ("idempotencyToken", "partnerBookingId"):
        if not _string(body.get(name)):
            errors.append(f"{name} must be specified")
        elif not _string(body[name], spaces_allowed=False):
            errors.append(f"{name} must not contain spaces")
    slot = body.get("slot")
    if not isinstance(slot, dict):
        errors.append("slot must be specified")
    else:
        for name in ("accountId", "profileId", "serviceId"):
            if not _string(slot.get(name)):
                errors.append(f"slot.{name} must be specified")
            elif not _string(slot[name], spaces_allowed=False):
                errors.append(f"slot.{name} must not contain spaces")
        if isinstance(slot.get("accountId"), str) and len(slot["accountId"]) > 128:
            errors.append("slot.accountId must be 128 characters or fewer")
        for name in ("startSec", "durationSec"):
            if name in slot and not _integer(slot[name]):
                errors.append(f"slot.{name} must be an integer")
    # The table says address.streetAddress; both examples put it in userInformation.address.
    user = body.get("userInformation")
    address = user.get("address") if isinstance(user, dict) else None
    if not isinstance(address, dict):
        address = body.get("address")
    if not isinstance(address, dict) or not _string(address.get("streetAddress")):
        errors.append("address.streetAddress must be specified")
    details = body.get("extraDetails")
    if details is not None and not (isinstance(details, dict) and all(isinstance(v, str) for v in details.values())):
        errors.append("extraDetails must map strings to strings")
    return errors


def _case_insensitive_duplicates(details: Any) -> list[str]:
    if not isinstance(details, dict):
        return []
    seen: set[str] = set()
    duplicates = list(getattr(details, "repeated", ()))
    for key in details:
        if key.lower() in seen:
            duplicates.append(key)
        seen.add(key.lower())
    return duplicates
