"""What ServiceTitan's Leads API accepts, checked before a request leaves.

The rules are the platform document's ("Models", "Custom Pairing", "Booking") with the
readings of ``servicetitan-notes.md``: ids we issue match ``[A-Za-z0-9_-]{1,128}``;
request ids are ServiceTitan's, sent back unchanged, so only an empty or over-long one is
refused; seconds are integers (the document's own ``1234567890000`` is milliseconds);
``extraDetails`` is an object, as in the example, whose keys are configured Extra Details
parameters without case-insensitive duplicates; the street address sits in
``userInformation.address``, as in both examples. Every problem is reported at once, with
the field's path, so a partner fixes a booking in one go.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NewType, TypeGuard
from urllib.parse import urlsplit

from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.directory.store import ID_PATTERN
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING, REQUEST_ID_MAX

NAME_MAX = 128
TOKEN_MAX = 128
EXTRA_DETAILS_MAX = 50
STATUSES = (COMPLETED, PROCESSING, DECLINED)
# 10**11 seconds is the year 5138; as milliseconds it is 1973. A startSec above it is a
# timestamp in milliseconds, the mistake the document's own example makes.
MILLISECONDS_THRESHOLD = 10**11

_WHITESPACE = re.compile(r"\s")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

ACCOUNT_STATUS_FIELDS = ("requestId", "status", "account")
ACCOUNT_FIELDS = ("id", "name", "profiles")
PROFILE_FIELDS = ("id", "name")
BOOKING_FIELDS = (
    "idempotencyToken",
    "partnerBookingId",
    "slot",
    "userInformation",
    "description",
    "externalBookingUrl",
    "extraDetails",
)
SLOT_FIELDS = ("accountId", "profileId", "serviceId", "startSec", "durationSec")
USER_FIELDS = ("givenName", "familyName", "telephone", "email", "address")
ADDRESS_FIELDS = ("country", "locality", "region", "postalCode", "streetAddress")


class InvalidPayload(ProblemError, ValueError):
    """A request that ServiceTitan would refuse, caught before it left; ``problems`` lists
    every reason."""


CheckedBooking = NewType("CheckedBooking", dict)
"""A booking that passed ``check_booking``: the only kind the outbox queues and the Leads API
client sends, so that a payload is checked once, when it is accepted, and what leaves is what
was checked."""
CheckedAccountStatus = NewType("CheckedAccountStatus", dict)
"""An account status that passed ``check_account_status`` (see ``CheckedBooking``)."""


class JsonObject(dict):
    """A JSON object that remembers the keys its text repeated. A plain ``json.loads``
    keeps the last value of a repeated key and hides the repetition, which ServiceTitan
    would refuse in extraDetails (DuplicateExtraDetail, 11304)."""

    repeated: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> JsonObject:
    document = JsonObject(pairs)
    seen: set[str] = set()
    repeated = []
    for key, _ in pairs:
        if key in seen:
            repeated.append(key)
        seen.add(key)
    document.repeated = tuple(repeated)
    return document


def parse_json(text: str | bytes) -> Any:
    """Parse a JSON document, keeping track of repeated keys (see ``JsonObject``)."""
    try:
        return json.loads(text, object_pairs_hook=_object_pairs)
    except (ValueError, RecursionError) as error:
        raise InvalidPayload([Problem("", f"not valid JSON: {error}")]) from None


@dataclass(frozen=True)
class BookingCatalog:
    """What the partner configured in ServiceTitan: the Job Type keys (``slot.serviceId``)
    and the Extra Details parameter keys, lower-cased."""

    service_ids: frozenset[str]
    extra_detail_keys: frozenset[str]


# -- account pairing ----------------------------------------------------------------------


def account_status_problems(payload: Any) -> list[Problem]:
    """Why ``POST /api/integrations/accounts`` would be refused; empty when it is fine."""
    if not isinstance(payload, dict):
        return [Problem("", "the body must be a JSON object")]
    problems = _unknown_fields(payload, ACCOUNT_STATUS_FIELDS, "")
    problems += _repeated_keys(payload, "")
    request_id = payload.get("requestId")
    if not isinstance(request_id, str) or not request_id:
        problems.append(Problem("requestId", "is required"))
    elif len(request_id) > REQUEST_ID_MAX:
        problems.append(Problem("requestId", f"must be at most {REQUEST_ID_MAX} characters"))
    status = payload.get("status")
    if status not in STATUSES:
        problems.append(Problem("status", f"must be one of {', '.join(STATUSES)}"))
    account = payload.get("account")
    if status == COMPLETED:
        problems += _account_problems(account)
    elif account is not None:
        problems.append(Problem("account", "is sent only with status COMPLETED"))
    return problems


def check_account_status(payload: Any) -> CheckedAccountStatus:
    problems = account_status_problems(payload)
    if problems:
        raise InvalidPayload(problems)
    return CheckedAccountStatus(payload)


def _account_problems(account: Any) -> list[Problem]:
    if not isinstance(account, dict):
        return [Problem("account", "is required with status COMPLETED")]
    problems = _unknown_fields(account, ACCOUNT_FIELDS, "account.")
    problems += _issued_id(account.get("id"), "account.id")
    problems += _name(account.get("name"), "account.name")
    profiles = account.get("profiles")
    if not isinstance(profiles, list):
        return [*problems, Problem("account.profiles", "must be a list")]
    seen: set[str] = set()
    for index, profile in enumerate(profiles):
        path = f"account.profiles[{index}]"
        if not isinstance(profile, dict):
            problems.append(Problem(path, "must be an object"))
            continue
        problems += _unknown_fields(profile, PROFILE_FIELDS, path + ".")
        problems += _issued_id(profile.get("id"), path + ".id")
        problems += _name(profile.get("name"), path + ".name")
        if profile.get("id") in seen:
            problems.append(Problem(f"{path}.id", f"repeats {profile['id']!r}"))
        if isinstance(profile.get("id"), str):
            seen.add(profile["id"])
    return problems


# -- bookings -----------------------------------------------------------------------------


def booking_problems(payload: Any, catalog: BookingCatalog | None = None) -> list[Problem]:
    """Why ``POST /api/integrations/bookings`` would be refused; empty when it is fine.
    Without ``catalog`` the configured job types and Extra Details are not checked."""
    if not isinstance(payload, dict):
        return [Problem("", "the booking must be a JSON object")]
    problems = _unknown_fields(payload, BOOKING_FIELDS, "")
    if "address" in payload:
        problems.append(Problem("address", "belongs in userInformation.address, as in ServiceTitan's booking example"))
    problems += _repeated_keys(payload, "")
    problems += _token(payload.get("idempotencyToken"), "idempotencyToken")
    problems += _token(payload.get("partnerBookingId"), "partnerBookingId")
    problems += _slot_problems(payload.get("slot"), catalog)
    problems += _user_problems(payload.get("userInformation"))
    for field in ("description", "externalBookingUrl"):
        if field in payload and not isinstance(payload[field], str):
            problems.append(Problem(field, "must be a string"))
    url = payload.get("externalBookingUrl")
    if isinstance(url, str) and not _absolute_url(url):
        problems.append(Problem("externalBookingUrl", "must be an absolute http or https URL"))
    if "extraDetails" in payload:
        problems += _extra_details_problems(payload["extraDetails"], catalog)
    return problems


def check_booking(payload: Any, catalog: BookingCatalog | None = None) -> CheckedBooking:
    problems = booking_problems(payload, catalog)
    if problems:
        raise InvalidPayload(problems)
    return CheckedBooking(payload)


def _slot_problems(slot: Any, catalog: BookingCatalog | None) -> list[Problem]:
    if not isinstance(slot, dict):
        return [Problem("slot", "is required: an object with accountId, profileId and serviceId")]
    problems = _unknown_fields(slot, SLOT_FIELDS, "slot.")
    problems += _issued_id(slot.get("accountId"), "slot.accountId")
    problems += _issued_id(slot.get("profileId"), "slot.profileId")
    service_id = slot.get("serviceId")
    service_problems = _token(service_id, "slot.serviceId")
    problems += service_problems
    if catalog is not None and not service_problems and service_id not in catalog.service_ids:
        if catalog.service_ids:
            problems.append(Problem("slot.serviceId", f"{service_id!r} is not one of the partner's job type keys"))
        else:
            problems.append(Problem("slot.serviceId", "cannot be checked: no job types are configured"))
    for field in ("startSec", "durationSec"):
        if field in slot:
            problems += _seconds(slot[field], f"slot.{field}")
    duration = slot.get("durationSec")
    if _is_integer(duration) and duration <= 0:
        problems.append(Problem("slot.durationSec", "must be positive"))
    return problems


def _user_problems(user: Any) -> list[Problem]:
    if not isinstance(user, dict):
        return [Problem("userInformation", "is required: an object with the customer's address")]
    problems = _unknown_fields(user, USER_FIELDS, "userInformation.")
    for field in ("givenName", "familyName", "telephone", "email"):
        if field in user:
            problems += _text(user[field], f"userInformation.{field}")
    email = user.get("email")
    if isinstance(email, str) and email and not _EMAIL.fullmatch(email):
        problems.append(Problem("userInformation.email", "is not an email address"))
    address = user.get("address")
    if not isinstance(address, dict):
        return [*problems, Problem("userInformation.address", "is required, with streetAddress")]
    problems += _unknown_fields(address, ADDRESS_FIELDS, "userInformation.address.")
    if "streetAddress" not in address:
        problems.append(Problem("userInformation.address.streetAddress", "is required"))
    for field in ADDRESS_FIELDS:
        if field in address:
            problems += _text(address[field], f"userInformation.address.{field}")
    return problems


def _extra_details_problems(details: Any, catalog: BookingCatalog | None) -> list[Problem]:
    if not isinstance(details, dict):
        return [
            Problem("extraDetails", "must be an object of string keys and string values, as in ServiceTitan's example")
        ]
    problems: list[Problem] = []
    if len(details) > EXTRA_DETAILS_MAX:
        problems.append(Problem("extraDetails", f"has {len(details)} keys; at most {EXTRA_DETAILS_MAX} are allowed"))
    folded: dict[str, str] = {}
    repeated = list(getattr(details, "repeated", ()))
    for key, value in details.items():
        if not isinstance(value, str):
            problems.append(Problem(f"extraDetails[{key!r}]", "must be a string"))
        if key.lower() in folded:
            repeated.append(key)
        folded.setdefault(key.lower(), key)
        if catalog is not None and key.lower() not in catalog.extra_detail_keys:
            problems.append(Problem(f"extraDetails[{key!r}]", "is not a configured Extra Details parameter"))
    for key in dict.fromkeys(repeated):
        problems.append(
            Problem(
                "extraDetails",
                f"repeats the key {key!r} (keys may not repeat, even in another case: DuplicateExtraDetail)",
            )
        )
    return problems


# -- field rules --------------------------------------------------------------------------


def _unknown_fields(document: dict, known: tuple[str, ...], prefix: str) -> list[Problem]:
    return [
        Problem(f"{prefix}{key}", "is not a field ServiceTitan knows")
        for key in document
        if key not in known and not (prefix == "" and key == "address")
    ]


def _repeated_keys(value: Any, path: str) -> list[Problem]:
    """Keys repeated in the JSON text anywhere but extraDetails (which reports its own)."""
    problems: list[Problem] = []
    if isinstance(value, dict):
        for key in dict.fromkeys(getattr(value, "repeated", ())):
            problems.append(
                Problem(path, f"repeats the key {key!r}") if path else Problem("", f"the body repeats the key {key!r}")
            )
        for key, child in value.items():
            if not (path == "" and key == "extraDetails"):
                problems += _repeated_keys(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            problems += _repeated_keys(child, f"{path}[{index}]")
    return problems


def _issued_id(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [Problem(path, "is required")]
    if not ID_PATTERN.fullmatch(value):
        return [Problem(path, "must be 1 to 128 letters, digits, '_' or '-'")]
    return []


def _token(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [Problem(path, "is required")]
    if _WHITESPACE.search(value):
        return [Problem(path, "must not contain spaces")]
    if len(value) > TOKEN_MAX:
        return [Problem(path, f"must be at most {TOKEN_MAX} characters")]
    return []


def _name(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not value.strip():
        return [Problem(path, "is required")]
    if len(value) > NAME_MAX:
        return [Problem(path, f"must be at most {NAME_MAX} characters")]
    return []


def _text(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not value.strip():
        return [Problem(path, "must be a non-empty string")]
    return []


def _is_integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(value: Any, path: str) -> list[Problem]:
    if not _is_integer(value):
        return [Problem(path, "must be an integer number of seconds")]
    if value < 0:
        return [Problem(path, "must not be negative")]
    if value >= MILLISECONDS_THRESHOLD:
        return [Problem(path, f"{value} looks like milliseconds; ServiceTitan expects seconds")]
    return []


def _absolute_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
