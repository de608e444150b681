"""ServiceTitan's error JSON as typed errors: every documented code, odd bodies, and
property tests of the parser (derandomized: the same examples on every run)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oidc_provider.servicetitan import errors
from oidc_provider.servicetitan.errors import DOCUMENTED_ERRORS, LeadsApiError, parse_error

PROPERTY = settings(derandomize=True, database=None, max_examples=200, deadline=None)

# The platform document's "Error Codes" table, and its example's validation code.
DOCUMENTED = [
    (10001, "ValidationFailed"),
    (11102, "IntegrationDisabled"),
    (11302, "DuplicateBooking"),
    (11303, "DuplicateIdempotencyToken"),
    (11304, "DuplicateExtraDetail"),
    (15102, "InvalidAccountStatusChange"),
    (15103, "InvalidAccountData"),
    (15202, "RequestIdNotFound"),
    (15203, "AccountNotFound"),
    (15204, "ProfileNotFound"),
    (15302, "DuplicateRequestId"),
    (15303, "DuplicateAccount"),
    (15304, "DuplicateProfile"),
]


def test_every_documented_code_has_a_class_of_its_own():
    assert sorted(DOCUMENTED_ERRORS) == [code for code, _ in DOCUMENTED]
    assert {cls.name for cls in DOCUMENTED_ERRORS.values()} == {name for _, name in DOCUMENTED}


@pytest.mark.parametrize(("code", "name"), DOCUMENTED)
def test_documented_code_becomes_its_typed_error(code, name):
    body = json.dumps(
        {
            "code": code,
            "message": "One or more validation errors occurred",
            "status": 400,
            "stTraceId": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "errors": ["partnerBookingId must be specified", "idempotencyToken must be specified"],
        }
    )

    error = parse_error(409, body.encode())

    assert type(error) is getattr(errors, name)
    assert error.as_dict() == {
        "code": code,
        "name": name,
        "message": "One or more validation errors occurred",
        "status": 409,
        "stTraceId": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "errors": ["partnerBookingId must be specified", "idempotencyToken must be specified"],
    }
    assert error.retryable is False
    assert str(error) == f"{name} {code} (HTTP 409): One or more validation errors occurred"


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (503, b"<html><body>Service Unavailable</body></html>", errors.ServerError, True),
        (500, b'{"code": 11302, "message": "late"}', errors.ServerError, True),
        (401, b"", errors.Unauthorized, True),
        (403, b"", errors.Unauthorized, True),
        (429, b"slow down", errors.TooManyRequests, True),
        (403, b'{"code": 11102, "message": "off"}', errors.IntegrationDisabled, False),
        (401, b'{"code": 77, "message": "expired"}', errors.Unauthorized, True),
        (400, b'{"code": 99999, "message": "new"}', errors.UndocumentedError, False),
        (400, b"not json", errors.UndocumentedError, False),
        (400, b"[1, 2]", errors.UndocumentedError, False),
        (404, b"", errors.UndocumentedError, False),
    ],
)
def test_answers_without_a_documented_code(status, body, cls, retryable):
    error = parse_error(status, body)

    assert type(error) is cls
    assert error.status == status
    assert error.retryable is retryable
    assert error.message


def test_code_sent_as_a_string_of_digits_is_still_recognised():
    assert type(parse_error(400, b'{"code": "11102", "message": "off"}')) is errors.IntegrationDisabled


def test_odd_fields_are_kept_as_far_as_they_can_be():
    error = parse_error(400, json.dumps({"code": 15202, "message": 7, "stTraceId": 5, "errors": ["a", {"b": 1}]}))

    assert type(error) is errors.RequestIdNotFound
    assert error.message.startswith("{")  # the body itself, since the message is not text
    assert error.st_trace_id is None
    assert error.errors == ["a", '{"b": 1}']


def test_deeply_nested_json_does_not_crash_the_parser():
    error = parse_error(400, b"[" * 100_000 + b"]" * 100_000)
    assert type(error) is errors.UndocumentedError


# -- properties ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@PROPERTY
@given(status=st.integers(400, 599), body=st.binary(max_size=300))
def test_any_bytes_give_a_typed_error_with_the_http_status(status, body):
    error = parse_error(status, body)

    assert isinstance(error, LeadsApiError)
    assert error.status == status
    assert isinstance(error.message, str) and error.message
    assert all(isinstance(item, str) for item in error.errors)
    if not isinstance(error, tuple(DOCUMENTED_ERRORS.values())):
        assert error.retryable is (status >= 500 or status in (401, 403, 429))


@PROPERTY
@given(status=st.integers(400, 599), document=json_values)
def test_any_json_gives_a_typed_error(status, document):
    error = parse_error(status, json.dumps(document))

    assert isinstance(error, LeadsApiError)
    assert error.status == status
    assert json.dumps(error.as_dict())  # always serialisable, as the outbox stores it


@PROPERTY
@given(
    code=st.sampled_from([code for code, _ in DOCUMENTED]),
    status=st.sampled_from([400, 403, 404, 409, 422]).filter(lambda s: s != 403),
    message=st.text(min_size=1, max_size=200),
    trace=st.uuids().map(str),
    messages=st.lists(st.text(max_size=40), max_size=5),
)
def test_well_formed_errors_round_trip(code, status, message, trace, messages):
    body = json.dumps({"code": code, "message": message, "status": status, "stTraceId": trace, "errors": messages})

    error = parse_error(status, body.encode())

    assert type(error) is DOCUMENTED_ERRORS[code]
    assert (error.code, error.message, error.st_trace_id, error.errors) == (code, message, trace, messages)
