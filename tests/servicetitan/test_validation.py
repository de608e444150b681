"""Requests to ServiceTitan are refused locally when they break the documents' rules: one
test per rule, with the exact problem reported, and property tests of the validator."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_provider.core.problems import Problem
from oidc_provider.servicetitan.validation import (
    BookingCatalog,
    InvalidPayload,
    account_status_problems,
    booking_problems,
    check_booking,
    parse_json,
)

PROPERTY = settings(derandomize=True, database=None, max_examples=150, deadline=None)
CATALOG = BookingCatalog(
    service_ids=frozenset({"find_and_repair_leak", "partner_job_type_1"}),
    extra_detail_keys=frozenset({"gate_code", "pets", "key1"}),
)

# The platform document's "Testing" booking, with an extraDetails of configured keys.
BOOKING = {
    "idempotencyToken": "abcd123456",
    "partnerBookingId": "12345abcd",
    "slot": {
        "accountId": "besthvaccompany",
        "profileId": "besthvaccompany_0001",
        "serviceId": "find_and_repair_leak",
        "startSec": 1620744727,
        "durationSec": 3600,
    },
    "userInformation": {
        "givenName": "John",
        "familyName": "Smith",
        "telephone": "(999) 001-1126",
        "email": "email@em.ail",
        "address": {
            "country": "US",
            "locality": "Atlanta",
            "region": "CA",
            "postalCode": "30339",
            "streetAddress": "2450 Cumberland Pkwy",
        },
    },
    "description": "Here is some description text for booking",
    "externalBookingUrl": "https://partner.example/bookings/12345abcd",
    "extraDetails": {"gate_code": "1234", "pets": "dog"},
}


def booking(**changes):
    """BOOKING with dotted paths changed; the value ``...`` deletes the field."""
    document = copy.deepcopy(BOOKING)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = document
        for name in parents:
            target = target[name]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return document


def test_the_documents_booking_is_valid():
    assert booking_problems(BOOKING, CATALOG) == []
    assert check_booking(BOOKING, CATALOG) is BOOKING


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"idempotencyToken": ...}, Problem("idempotencyToken", "is required")),
        ({"idempotencyToken": ""}, Problem("idempotencyToken", "is required")),
        ({"idempotencyToken": "abcd 123456"}, Problem("idempotencyToken", "must not contain spaces")),
        ({"idempotencyToken": "abcd\t123456"}, Problem("idempotencyToken", "must not contain spaces")),
        ({"idempotencyToken": "t" * 129}, Problem("idempotencyToken", "must be at most 128 characters")),
        ({"partnerBookingId": ...}, Problem("partnerBookingId", "is required")),
        ({"partnerBookingId": "12345 abcd"}, Problem("partnerBookingId", "must not contain spaces")),
        ({"partnerBookingId": 12345}, Problem("partnerBookingId", "is required")),
        ({"slot": ...}, Problem("slot", "is required: an object with accountId, profileId and serviceId")),
        ({"slot__accountId": ...}, Problem("slot.accountId", "is required")),
        ({"slot__accountId": "best hvac"}, Problem("slot.accountId", "must be 1 to 128 letters, digits, '_' or '-'")),
        ({"slot__accountId": "best#hvac"}, Problem("slot.accountId", "must be 1 to 128 letters, digits, '_' or '-'")),
        ({"slot__accountId": "a" * 129}, Problem("slot.accountId", "must be 1 to 128 letters, digits, '_' or '-'")),
        (
            {"slot__profileId": "besthvac 0001"},
            Problem("slot.profileId", "must be 1 to 128 letters, digits, '_' or '-'"),
        ),
        ({"slot__serviceId": ...}, Problem("slot.serviceId", "is required")),
        ({"slot__serviceId": "find and repair"}, Problem("slot.serviceId", "must not contain spaces")),
        (
            {"slot__serviceId": "install_solar"},
            Problem("slot.serviceId", "'install_solar' is not one of the partner's job type keys"),
        ),
        (
            {"slot__startSec": 1234567890000},
            Problem("slot.startSec", "1234567890000 looks like milliseconds; ServiceTitan expects seconds"),
        ),
        ({"slot__startSec": 1620744727.5}, Problem("slot.startSec", "must be an integer number of seconds")),
        ({"slot__startSec": "1620744727"}, Problem("slot.startSec", "must be an integer number of seconds")),
        ({"slot__startSec": True}, Problem("slot.startSec", "must be an integer number of seconds")),
        ({"slot__startSec": -1}, Problem("slot.startSec", "must not be negative")),
        ({"slot__durationSec": 0}, Problem("slot.durationSec", "must be positive")),
        ({"slot__durationSec": 3600.0}, Problem("slot.durationSec", "must be an integer number of seconds")),
        ({"slot__room": "2"}, Problem("slot.room", "is not a field ServiceTitan knows")),
        ({"userInformation": ...}, Problem("userInformation", "is required: an object with the customer's address")),
        ({"userInformation__address": ...}, Problem("userInformation.address", "is required, with streetAddress")),
        (
            {"userInformation__address__streetAddress": ...},
            Problem("userInformation.address.streetAddress", "is required"),
        ),
        (
            {"userInformation__address__postalCode": ""},
            Problem("userInformation.address.postalCode", "must be a non-empty string"),
        ),
        ({"userInformation__givenName": " "}, Problem("userInformation.givenName", "must be a non-empty string")),
        (
            {"userInformation__telephone": 9990011126},
            Problem("userInformation.telephone", "must be a non-empty string"),
        ),
        ({"userInformation__email": "email.em.ail"}, Problem("userInformation.email", "is not an email address")),
        ({"userInformation__phone": "1"}, Problem("userInformation.phone", "is not a field ServiceTitan knows")),
        (
            {"address": {"streetAddress": "2450 Cumberland Pkwy"}},
            Problem("address", "belongs in userInformation.address, as in ServiceTitan's booking example"),
        ),
        ({"description": ["a"]}, Problem("description", "must be a string")),
        ({"externalBookingUrl": "/bookings/1"}, Problem("externalBookingUrl", "must be an absolute http or https URL")),
        (
            {"extraDetails": [{"gate_code": "1234"}]},
            Problem("extraDetails", "must be an object of string keys and string values, as in ServiceTitan's example"),
        ),
        ({"extraDetails": {"gate_code": 1234}}, Problem("extraDetails['gate_code']", "must be a string")),
        (
            {"extraDetails": {"parking": "street"}},
            Problem("extraDetails['parking']", "is not a configured Extra Details parameter"),
        ),
        (
            {"extraDetails": {"gate_code": "1", "Gate_Code": "2"}},
            Problem(
                "extraDetails",
                "repeats the key 'Gate_Code' (keys may not repeat, even in another case: DuplicateExtraDetail)",
            ),
        ),
        ({"notes": "x"}, Problem("notes", "is not a field ServiceTitan knows")),
    ],
)
def test_each_rule_is_enforced(changes, problem):
    assert booking_problems(booking(**changes), CATALOG) == [problem]


def test_more_than_fifty_extra_details_are_refused():
    details = {f"k{i}": "v" for i in range(51)}
    many = BookingCatalog(CATALOG.service_ids, frozenset(details))
    assert booking_problems(booking(extraDetails=details), many) == [
        Problem("extraDetails", "has 51 keys; at most 50 are allowed")
    ]
    del details["k50"]
    assert booking_problems(booking(extraDetails=details), many) == []


def test_without_job_types_no_service_id_passes():
    empty = BookingCatalog(frozenset(), CATALOG.extra_detail_keys)
    assert booking_problems(BOOKING, empty) == [
        Problem("slot.serviceId", "cannot be checked: no job types are configured")
    ]


def test_configured_keys_match_whatever_their_case():
    assert booking_problems(booking(extraDetails={"Gate_Code": "1"}), CATALOG) == []


def test_without_a_catalog_only_the_structure_is_checked():
    assert booking_problems(booking(slot__serviceId="anything", extraDetails={"x": "y"})) == []


def test_every_problem_is_reported_at_once():
    problems = booking_problems(
        booking(idempotencyToken="a b", slot__startSec=1234567890000, extraDetails={"x": "y"}), CATALOG
    )
    assert problems == [
        Problem("idempotencyToken", "must not contain spaces"),
        Problem("slot.startSec", "1234567890000 looks like milliseconds; ServiceTitan expects seconds"),
        Problem("extraDetails['x']", "is not a configured Extra Details parameter"),
    ]
    with pytest.raises(InvalidPayload) as refused:
        check_booking(booking(idempotencyToken="a b"), CATALOG)
    assert refused.value.problems == [Problem("idempotencyToken", "must not contain spaces")]


def test_a_key_repeated_exactly_in_the_raw_json_is_caught():
    text = json.dumps(BOOKING).replace('"pets": "dog"', '"pets": "dog", "pets": "cat"')
    assert json.loads(text)["extraDetails"] == {"gate_code": "1234", "pets": "cat"}  # what a plain parse hides

    assert booking_problems(parse_json(text), CATALOG) == [
        Problem(
            "extraDetails", "repeats the key 'pets' (keys may not repeat, even in another case: DuplicateExtraDetail)"
        )
    ]


def test_a_key_repeated_elsewhere_in_the_raw_json_is_caught():
    text = json.dumps(BOOKING).replace('"durationSec": 3600', '"durationSec": 3600, "durationSec": 7200')
    assert booking_problems(parse_json(text), CATALOG) == [Problem("slot", "repeats the key 'durationSec'")]


def test_text_that_is_not_json_is_refused():
    with pytest.raises(InvalidPayload) as refused:
        parse_json("{'idempotencyToken': 1}")
    assert refused.value.problems[0].where == ""
    assert refused.value.problems[0].message.startswith("not valid JSON: ")


def test_a_booking_must_be_an_object():
    assert booking_problems([BOOKING], CATALOG) == [Problem("", "the booking must be a JSON object")]


# -- account pairing ----------------------------------------------------------------------

ACCOUNT = {"id": "acct-hvac", "name": "MTech HVAC", "profiles": [{"id": "p-north", "name": "North"}]}


@pytest.mark.parametrize(
    "payload",
    [
        {"requestId": "Fghx1OBeZQQYbYS6WxSbUO", "status": "PROCESSING"},
        {"requestId": "Fghx1OBeZQQYbYS6WxSbUO", "status": "DECLINED"},
        {"requestId": "r" * 128, "status": "COMPLETED", "account": ACCOUNT},
        {"requestId": "{a GUID: 0f8fad5b-d9cb}", "status": "PROCESSING"},  # ServiceTitan's id, sent back as it is
        {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "profiles": []}},
    ],
)
def test_valid_account_status_calls(payload):
    assert account_status_problems(payload) == []


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"status": "PROCESSING"}, Problem("requestId", "is required")),
        ({"requestId": "", "status": "PROCESSING"}, Problem("requestId", "is required")),
        ({"requestId": "r" * 129, "status": "PROCESSING"}, Problem("requestId", "must be at most 128 characters")),
        (
            {"requestId": "r-1", "status": "processing"},
            Problem("status", "must be one of COMPLETED, PROCESSING, DECLINED"),
        ),
        ({"requestId": "r-1", "status": "COMPLETED"}, Problem("account", "is required with status COMPLETED")),
        (
            {"requestId": "r-1", "status": "DECLINED", "account": ACCOUNT},
            Problem("account", "is sent only with status COMPLETED"),
        ),
        (
            {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "id": "acct hvac"}},
            Problem("account.id", "must be 1 to 128 letters, digits, '_' or '-'"),
        ),
        (
            {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "name": "n" * 129}},
            Problem("account.name", "must be at most 128 characters"),
        ),
        (
            {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "profiles": {"id": "p"}}},
            Problem("account.profiles", "must be a list"),
        ),
        (
            {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "profiles": [{"id": "p-1"}]}},
            Problem("account.profiles[0].name", "is required"),
        ),
        (
            {
                "requestId": "r-1",
                "status": "COMPLETED",
                "account": {**ACCOUNT, "profiles": [{"id": "p-1", "name": "A"}, {"id": "p-1", "name": "B"}]},
            },
            Problem("account.profiles[1].id", "repeats 'p-1'"),
        ),
        (
            {"requestId": "r-1", "status": "PROCESSING", "callBackUrl": "x"},
            Problem("callBackUrl", "is not a field ServiceTitan knows"),
        ),
    ],
)
def test_account_status_rules(payload, problem):
    assert account_status_problems(payload) == [problem]


# -- properties ---------------------------------------------------------------------------

ids = st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True)
tokens = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")), min_size=1, max_size=128).filter(
    lambda t: not any(c.isspace() for c in t)
)
texts = st.text(min_size=1, max_size=40).filter(str.strip)


@st.composite
def valid_bookings(draw):
    document = {
        "idempotencyToken": draw(tokens),
        "partnerBookingId": draw(tokens),
        "slot": {
            "accountId": draw(ids),
            "profileId": draw(ids),
            "serviceId": draw(st.sampled_from(sorted(CATALOG.service_ids))),
        },
        "userInformation": {"address": {"streetAddress": draw(texts)}},
    }
    if draw(st.booleans()):
        document["slot"]["startSec"] = draw(st.integers(0, 10**11 - 1))
        document["slot"]["durationSec"] = draw(st.integers(1, 7 * 86400))
    for field in ("givenName", "familyName", "telephone"):
        if draw(st.booleans()):
            document["userInformation"][field] = draw(texts)
    keys = draw(st.sets(st.sampled_from(sorted(CATALOG.extra_detail_keys))))
    if keys:
        document["extraDetails"] = {key: draw(st.text(max_size=20)) for key in keys}
    return document


@PROPERTY
@given(valid_bookings())
def test_bookings_built_by_the_rules_are_accepted(document):
    assert booking_problems(document, CATALOG) == []
    assert booking_problems(parse_json(json.dumps(document)), CATALOG) == []


@PROPERTY
@given(
    valid_bookings(), st.sampled_from(["idempotencyToken", "partnerBookingId"]), st.sampled_from([" ", "\t", "\u00a0"])
)
def test_a_space_anywhere_in_an_id_is_refused(document, field, space):
    position = len(document[field]) // 2
    document[field] = document[field][:position] + space + document[field][position:]
    assert booking_problems(document, CATALOG) == [Problem(field, "must not contain spaces")]


@PROPERTY
@given(valid_bookings(), st.integers(10**11, 10**15))
def test_a_timestamp_in_milliseconds_is_refused(document, start):
    document["slot"]["startSec"] = start
    assert booking_problems(document, CATALOG) == [
        Problem("slot.startSec", f"{start} looks like milliseconds; ServiceTitan expects seconds")
    ]


@PROPERTY
@given(valid_bookings(), st.sampled_from(sorted(CATALOG.extra_detail_keys)))
def test_a_key_written_twice_in_any_case_is_refused(document, key):
    document.pop("extraDetails", None)
    for variant in (key, key.upper()):  # exactly the same key, and the same in another case
        text = json.dumps(document)[:-1] + f', "extraDetails": {{"{key}": "a", "{variant}": "b"}}}}'
        assert booking_problems(parse_json(text), CATALOG) == [
            Problem(
                "extraDetails",
                f"repeats the key {variant!r} (keys may not repeat, even in another case: DuplicateExtraDetail)",
            )
        ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)


@PROPERTY
@given(json_values)
def test_any_json_gets_a_list_of_problems_never_an_exception(document):
    problems = booking_problems(document, CATALOG)
    assert problems and all(isinstance(problem, Problem) and problem.message for problem in problems)
    assert all(isinstance(problem, Problem) and problem.message for problem in account_status_problems(document))
