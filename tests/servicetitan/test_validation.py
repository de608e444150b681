"""Requests to ServiceTitan are refused locally when they break the documents' rules: one
test per rule, with the exact problem reported, and property tests of the validator."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
        ({"idempotencyToken": ...}, "idempotencyToken is required"),
        ({"idempotencyToken": ""}, "idempotencyToken is required"),
        ({"idempotencyToken": "abcd 123456"}, "idempotencyToken must not contain spaces"),
        ({"idempotencyToken": "abcd\t123456"}, "idempotencyToken must not contain spaces"),
        ({"idempotencyToken": "t" * 129}, "idempotencyToken must be at most 128 characters"),
        ({"partnerBookingId": ...}, "partnerBookingId is required"),
        ({"partnerBookingId": "12345 abcd"}, "partnerBookingId must not contain spaces"),
        ({"partnerBookingId": 12345}, "partnerBookingId is required"),
        ({"slot": ...}, "slot is required: an object with accountId, profileId and serviceId"),
        ({"slot__accountId": ...}, "slot.accountId is required"),
        ({"slot__accountId": "best hvac"}, "slot.accountId must be 1 to 128 letters, digits, '_' or '-'"),
        ({"slot__accountId": "best#hvac"}, "slot.accountId must be 1 to 128 letters, digits, '_' or '-'"),
        ({"slot__accountId": "a" * 129}, "slot.accountId must be 1 to 128 letters, digits, '_' or '-'"),
        ({"slot__profileId": "besthvac 0001"}, "slot.profileId must be 1 to 128 letters, digits, '_' or '-'"),
        ({"slot__serviceId": ...}, "slot.serviceId is required"),
        ({"slot__serviceId": "find and repair"}, "slot.serviceId must not contain spaces"),
        (
            {"slot__serviceId": "install_solar"},
            "slot.serviceId 'install_solar' is not one of the partner's job type keys",
        ),
        (
            {"slot__startSec": 1234567890000},
            "slot.startSec 1234567890000 looks like milliseconds; ServiceTitan expects seconds",
        ),
        ({"slot__startSec": 1620744727.5}, "slot.startSec must be an integer number of seconds"),
        ({"slot__startSec": "1620744727"}, "slot.startSec must be an integer number of seconds"),
        ({"slot__startSec": True}, "slot.startSec must be an integer number of seconds"),
        ({"slot__startSec": -1}, "slot.startSec must not be negative"),
        ({"slot__durationSec": 0}, "slot.durationSec must be positive"),
        ({"slot__durationSec": 3600.0}, "slot.durationSec must be an integer number of seconds"),
        ({"slot__room": "2"}, "slot.room is not a field ServiceTitan knows"),
        ({"userInformation": ...}, "userInformation is required: an object with the customer's address"),
        ({"userInformation__address": ...}, "userInformation.address is required, with streetAddress"),
        ({"userInformation__address__streetAddress": ...}, "userInformation.address.streetAddress is required"),
        ({"userInformation__address__postalCode": ""}, "userInformation.address.postalCode must be a non-empty string"),
        ({"userInformation__givenName": " "}, "userInformation.givenName must be a non-empty string"),
        ({"userInformation__telephone": 9990011126}, "userInformation.telephone must be a non-empty string"),
        ({"userInformation__email": "email.em.ail"}, "userInformation.email is not an email address"),
        ({"userInformation__phone": "1"}, "userInformation.phone is not a field ServiceTitan knows"),
        (
            {"address": {"streetAddress": "2450 Cumberland Pkwy"}},
            "address belongs in userInformation.address, as in ServiceTitan's booking example",
        ),
        ({"description": ["a"]}, "description must be a string"),
        ({"externalBookingUrl": "/bookings/1"}, "externalBookingUrl must be an absolute http or https URL"),
        (
            {"extraDetails": [{"gate_code": "1234"}]},
            "extraDetails must be an object of string keys and string values, as in ServiceTitan's example",
        ),
        ({"extraDetails": {"gate_code": 1234}}, "extraDetails['gate_code'] must be a string"),
        (
            {"extraDetails": {"parking": "street"}},
            "extraDetails key 'parking' is not a configured Extra Details parameter",
        ),
        (
            {"extraDetails": {"gate_code": "1", "Gate_Code": "2"}},
            "extraDetails repeats the key 'Gate_Code' (keys may not repeat, even in another case: DuplicateExtraDetail)",
        ),
        ({"notes": "x"}, "notes is not a field ServiceTitan knows"),
    ],
)
def test_each_rule_is_enforced(changes, problem):
    assert booking_problems(booking(**changes), CATALOG) == [problem]


def test_more_than_fifty_extra_details_are_refused():
    details = {f"k{i}": "v" for i in range(51)}
    many = BookingCatalog(CATALOG.service_ids, frozenset(details))
    assert booking_problems(booking(extraDetails=details), many) == ["extraDetails has 51 keys; at most 50 are allowed"]
    del details["k50"]
    assert booking_problems(booking(extraDetails=details), many) == []


def test_without_job_types_no_service_id_passes():
    empty = BookingCatalog(frozenset(), CATALOG.extra_detail_keys)
    assert booking_problems(BOOKING, empty) == ["slot.serviceId cannot be checked: no job types are configured"]


def test_configured_keys_match_whatever_their_case():
    assert booking_problems(booking(extraDetails={"Gate_Code": "1"}), CATALOG) == []


def test_without_a_catalog_only_the_structure_is_checked():
    assert booking_problems(booking(slot__serviceId="anything", extraDetails={"x": "y"})) == []


def test_every_problem_is_reported_at_once():
    problems = booking_problems(
        booking(idempotencyToken="a b", slot__startSec=1234567890000, extraDetails={"x": "y"}), CATALOG
    )
    assert problems == [
        "idempotencyToken must not contain spaces",
        "slot.startSec 1234567890000 looks like milliseconds; ServiceTitan expects seconds",
        "extraDetails key 'x' is not a configured Extra Details parameter",
    ]
    with pytest.raises(InvalidPayload) as refused:
        check_booking(booking(idempotencyToken="a b"), CATALOG)
    assert refused.value.problems == ["idempotencyToken must not contain spaces"]


def test_a_key_repeated_exactly_in_the_raw_json_is_caught():
    text = json.dumps(BOOKING).replace('"pets": "dog"', '"pets": "dog", "pets": "cat"')
    assert json.loads(text)["extraDetails"] == {"gate_code": "1234", "pets": "cat"}  # what a plain parse hides

    assert booking_problems(parse_json(text), CATALOG) == [
        "extraDetails repeats the key 'pets' (keys may not repeat, even in another case: DuplicateExtraDetail)"
    ]


def test_a_key_repeated_elsewhere_in_the_raw_json_is_caught():
    text = json.dumps(BOOKING).replace('"durationSec": 3600', '"durationSec": 3600, "durationSec": 7200')
    assert booking_problems(parse_json(text), CATALOG) == ["slot repeats the key 'durationSec'"]


def test_text_that_is_not_json_is_refused():
    with pytest.raises(InvalidPayload) as refused:
        parse_json("{'idempotencyToken': 1}")
    assert refused.value.problems[0].startswith("not valid JSON: ")


def test_a_booking_must_be_an_object():
    assert booking_problems([BOOKING], CATALOG) == ["the booking must be a JSON object"]


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
        ({"status": "PROCESSING"}, "requestId is required"),
        ({"requestId": "", "status": "PROCESSING"}, "requestId is required"),
        ({"requestId": "r" * 129, "status": "PROCESSING"}, "requestId must be at most 128 characters"),
        ({"requestId": "r-1", "status": "processing"}, "status must be one of COMPLETED, PROCESSING, DECLINED"),
        ({"requestId": "r-1", "status": "COMPLETED"}, "account is required with status COMPLETED"),
        ({"requestId": "r-1", "status": "DECLINED", "account": ACCOUNT}, "account is sent only with status COMPLETED"),
        (
            {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "id": "acct hvac"}},
            "account.id must be 1 to 128 letters, digits, '_' or '-'",
        ),
        (
            {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "name": "n" * 129}},
            "account.name must be at most 128 characters",
        ),
        (
            {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "profiles": {"id": "p"}}},
            "account.profiles must be a list",
        ),
        (
            {"requestId": "r-1", "status": "COMPLETED", "account": {**ACCOUNT, "profiles": [{"id": "p-1"}]}},
            "account.profiles[0].name is required",
        ),
        (
            {
                "requestId": "r-1",
                "status": "COMPLETED",
                "account": {**ACCOUNT, "profiles": [{"id": "p-1", "name": "A"}, {"id": "p-1", "name": "B"}]},
            },
            "account.profiles[1].id repeats 'p-1'",
        ),
        (
            {"requestId": "r-1", "status": "PROCESSING", "callBackUrl": "x"},
            "callBackUrl is not a field ServiceTitan knows",
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
    assert booking_problems(document, CATALOG) == [f"{field} must not contain spaces"]


@PROPERTY
@given(valid_bookings(), st.integers(10**11, 10**15))
def test_a_timestamp_in_milliseconds_is_refused(document, start):
    document["slot"]["startSec"] = start
    assert booking_problems(document, CATALOG) == [
        f"slot.startSec {start} looks like milliseconds; ServiceTitan expects seconds"
    ]


@PROPERTY
@given(valid_bookings(), st.sampled_from(sorted(CATALOG.extra_detail_keys)))
def test_a_key_written_twice_in_any_case_is_refused(document, key):
    document.pop("extraDetails", None)
    for variant in (key, key.upper()):  # exactly the same key, and the same in another case
        text = json.dumps(document)[:-1] + f', "extraDetails": {{"{key}": "a", "{variant}": "b"}}}}'
        assert booking_problems(parse_json(text), CATALOG) == [
            f"extraDetails repeats the key {variant!r} "
            "(keys may not repeat, even in another case: DuplicateExtraDetail)"
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
    assert problems and all(isinstance(problem, str) for problem in problems)
    assert all(isinstance(problem, str) for problem in account_status_problems(document))
