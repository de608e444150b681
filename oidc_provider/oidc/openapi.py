"""The back channel's contract as an OpenAPI 3.1 document, served at ``/openapi.json``.

It describes what machines call — discovery, JWKS, the token endpoint, userinfo and
account-info — with every status each one answers and the body of each. The pages a tenant
sees in a browser are not in it. The test suite fuzzes the running server against this
document (``tests/oidc/test_openapi.py``): a status or a body that is not declared here fails it.

ServiceTitan's webhooks are in it too, under WEBHOOK_PREFIX: the fuzzer, holding no signing
key, checks that every delivery without one is refused as declared.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from oidc_provider.oidc.authorization_checks import TOKEN_PARAMETER_LIMITS
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING, RECORD_STATUSES


def _json(schema_name: str, description: str, headers: dict | None = None) -> dict:
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_NO_STORE = {"Cache-Control": {"$ref": "#/components/headers/Cache-Control"}}
_CHALLENGE = {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}}
_RETRY = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}

_UNAVAILABLE = _json(
    "OAuthError",
    "The database or the signing keys are unavailable for a moment (`temporarily_unavailable`): retry later.",
    {**_RETRY, **_NO_STORE},
)
_TOO_LARGE = _json("OAuthError", "The request body is larger than MAX_CONTENT_LENGTH.")
_BEARER_REFUSED = _json(
    "OAuthError",
    "No access token, or one that is unknown, expired or revoked (RFC 6750 `invalid_token`).",
    _CHALLENGE,
)


def _userinfo(method: str) -> dict:
    return {
        "summary": "The claims of the access token's user (OpenID Connect Core 5.3)",
        "operationId": f"userinfo_{method}",
        "security": [{"bearer": []}],
        "responses": {
            "200": _json("UserInfo", "The claims the granted scope allows.", _NO_STORE),
            "400": _json("OAuthError", "The request is malformed, e.g. a parameter holds a NUL character."),
            "401": _BEARER_REFUSED,
            "403": _json("OAuthError", "The token was not granted the `openid` scope (`insufficient_scope`)."),
            "413": _TOO_LARGE,
            "503": _UNAVAILABLE,
        },
    }


def _token_request_schema() -> dict:
    properties = {name: {"type": "string", "maxLength": limit} for name, limit in TOKEN_PARAMETER_LIMITS.items()}
    properties["grant_type"]["enum"] = ["authorization_code", "client_credentials"]
    return {
        "type": "object",
        "required": ["grant_type"],
        "properties": properties,
        "description": "Client credentials go in the Basic header, the body, or both when they agree. "
        "`authorization_code` (relying parties) needs `code` and `redirect_uri`; `client_credentials` "
        "(partner API clients) takes an optional `scope`.",
    }


def document(
    issuer: str, webhook_prefix: str = "/servicetitan/webhooks", webhook_header: str = "X-STLeads-Token"
) -> dict:
    """The OpenAPI document, with ``issuer`` as its server."""
    paths = {
        "/.well-known/openid-configuration": {
            "get": {
                "summary": "OpenID Provider metadata (OpenID Connect Discovery 1.0)",
                "operationId": "discovery",
                "responses": {"200": _json("ProviderMetadata", "The provider's metadata.")},
            }
        },
        "/.well-known/oauth-authorization-server": {
            "get": {
                "summary": "The same metadata as authorization server metadata (RFC 8414)",
                "operationId": "authorization_server_metadata",
                "responses": {"200": _json("ProviderMetadata", "The provider's metadata.")},
            }
        },
        "/jwks.json": {
            "get": {
                "summary": "The public signing keys: published, active and retiring",
                "operationId": "jwks",
                "responses": {"200": _json("JWKS", "A JSON Web Key Set."), "503": _UNAVAILABLE},
            }
        },
        "/token": {
            "post": {
                "summary": "Exchange an authorization code (RFC 6749 4.1.3), or a partner API client's "
                "credentials (RFC 6749 4.4)",
                "operationId": "token",
                "security": [{"client_secret_basic": []}, {}],
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": _token_request_schema()}},
                },
                "responses": {
                    "200": _json("TokenResponse", "The access token (and, for a code, the id_token).", _NO_STORE),
                    "400": _json(
                        "OAuthError",
                        "`invalid_request`, `invalid_grant`, `invalid_scope`, `unsupported_grant_type` or "
                        "`unauthorized_client`.",
                        _NO_STORE,
                    ),
                    "401": _json(
                        "OAuthError", "Client authentication failed (`invalid_client`).", {**_CHALLENGE, **_NO_STORE}
                    ),
                    "413": _TOO_LARGE,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/userinfo": {"get": _userinfo("get"), "post": _userinfo("post")},
        "/account-info": {
            "get": {
                "summary": "Which account the access token paired (ServiceTitan's account-info call)",
                "operationId": "account_info",
                "description": "ServiceTitan sends `Authorization: Bearer <Base64(access_token)>`; the raw "
                "token is accepted too.",
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "request_id",
                        "in": "query",
                        "required": True,
                        "description": "ServiceTitan's request id, bound to the access token on first use.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                    }
                ],
                "responses": {
                    "200": _json("AccountInfo", "The pairing's status, and the account when COMPLETED.", _NO_STORE),
                    "400": _json(
                        "OAuthError",
                        "A missing or over-long request_id, or one bound to another access token (`invalid_request`).",
                    ),
                    "401": _BEARER_REFUSED,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    paths.update(_webhook_paths(webhook_prefix.rstrip("/")))
    paths.update(_partner_api_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pairing provider: back channel",
            "version": _version(),
            "description": "What ServiceTitan calls, and the partner API (/api/v1, docs/partner-api.md) that the "
            "partner's own systems call. Every status and body the provider answers is declared.",
        },
        "servers": [{"url": issuer}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "client_secret_basic": {"type": "http", "scheme": "basic"},
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The access token, raw or base64-encoded (standard alphabet, padded).",
                },
                "api_token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A partner API client's access token (client credentials grant at /token).",
                },
                "webhook_key": {
                    "type": "apiKey",
                    "in": "header",
                    "name": webhook_header,
                    "description": "The webhook signing key, verbatim (WEBHOOK_HEADER names the header).",
                },
            },
            "headers": {
                "Cache-Control": {"required": True, "schema": {"type": "string", "pattern": "no-store"}},
                "WWW-Authenticate": {"required": True, "schema": {"type": "string", "pattern": "^(Bearer|Basic)"}},
                "Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
            },
            "schemas": _SCHEMAS,
        },
    }


def _webhook_paths(prefix: str) -> dict:
    """ServiceTitan's deliveries: kept raw once the signing key matches, judged after."""
    # The receivers' own list and paths, so the two cannot differ.
    from oidc_provider.servicetitan.environments import PRODUCTION, SANDBOX
    from oidc_provider.servicetitan.webhooks import TOPICS, receiver_path

    receipt = "The delivery is kept; `state` says how it was judged (stored, invalid, duplicate, unknown_booking)."
    operation = {
        "security": [{"webhook_key": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {
            "200": _json("WebhookReceipt", receipt),
            "400": _json("WebhookReceipt", "The body is not JSON; it is kept raw (`state`: not_json)."),
            "401": _json(
                "OAuthError", "No signing key, a wrong one, or none set yet (`invalid_token`); nothing is kept."
            ),
            "413": _json("OAuthError", "The body is larger than WEBHOOK_MAX_BYTES; nothing is kept."),
            "503": _UNAVAILABLE,
        },
    }
    return {
        receiver_path(prefix, environment, topic): {
            "post": {
                **operation,
                "summary": f"ServiceTitan's {topic} webhook, from its {environment} environment",
                "operationId": ("webhook_" if environment == PRODUCTION else f"webhook_{environment}_")
                + topic.replace("/", "_"),
            }
        }
        for environment in (PRODUCTION, SANDBOX)
        for topic in TOPICS
    }


def _problem(description: str, headers: dict | None = None) -> dict:
    response = {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _partner_api_paths() -> dict:
    """/api/v1: the partner's own systems, with a partner API client's token. Errors are
    problem+json (RFC 9457) with the list of problems."""
    from oidc_provider.servicetitan.bookings import STATES
    from oidc_provider.servicetitan.environments import ENVIRONMENTS
    from oidc_provider.servicetitan.events import LIMIT_MAX

    def operation(operation_id: str, scope: str, summary: str, ok: dict, **more) -> dict:
        return {
            "summary": summary,
            "operationId": operation_id,
            "security": [{"api_token": [scope]}],
            **more,
            "responses": {
                **ok,
                "400": _problem("A parameter holds a NUL character."),
                "401": _problem(
                    "No access token of a partner API client, or an expired one (`invalid_token`).", _CHALLENGE
                ),
                "403": _problem(f"The token lacks the scope `{scope}` (`insufficient_scope`).", _CHALLENGE),
                "422": _problem("A parameter or the body is refused; `problems` says where and why."),
                "429": _problem("Over OIDC_PROVIDER_API_RATE_LIMIT for this API client.", _RETRY),
                "503": _problem("The database or the rate limit store is unavailable for a moment.", _RETRY),
            },
        }

    environment = {"name": "environment", "in": "query", "schema": {"enum": list(ENVIRONMENTS)}}
    located = {"Location": {"required": True, "schema": {"type": "string"}}}
    post_booking = operation(
        "create_booking",
        "bookings:write",
        "Accept a booking for ServiceTitan (its booking JSON)",
        {
            "202": _json("Booking", "Accepted and queued for ServiceTitan.", located),
            "200": _json("Booking", "The same partnerBookingId and body as before: the booking as it stands.", located),
        },
        parameters=[{**environment, "description": "Only when the account is paired in both environments."}],
        requestBody={"required": True, "content": {"application/json": {"schema": _BOOKING_REQUEST}}},
    )
    post_booking["responses"]["409"] = _problem(
        "The partnerBookingId was accepted with another body, or the idempotencyToken was used."
    )
    post_booking["responses"]["413"] = _problem("The body is larger than MAX_CONTENT_LENGTH.")
    get_booking = operation(
        "get_booking",
        "bookings:read",
        "One booking: its state, attempts, ServiceTitan's error and the lead status timeline",
        {"200": _json("Booking", "The booking; userInformation only with the bookings:personal scope.")},
        parameters=[{"name": "partnerBookingId", "in": "path", "required": True, "schema": _STRING}],
    )
    get_booking["responses"]["404"] = _problem("No booking with this partnerBookingId.")
    list_parameters = [
        {"name": "state", "in": "query", "schema": {"enum": list(STATES)}},
        {"name": "accountId", "in": "query", "schema": _STRING},
        environment,
        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "cursor", "in": "query", "schema": _STRING, "description": "The `next` of the previous page."},
    ]
    unpair = operation(
        "unpair_pairing",
        "pairings:write",
        "End a COMPLETED pairing here (UNPAIRED); ServiceTitan is not told, having no call for it",
        {"200": _json("Pairing", "The pairing, now UNPAIRED.")},
        parameters=[{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}],
    )
    unpair["responses"]["404"] = _problem("No pairing with this id.")
    unpair["responses"]["409"] = _problem("The pairing is not COMPLETED.")
    return {
        "/api/v1/pairings": {
            "get": operation(
                "list_pairings",
                "pairings:read",
                "Every pairing, OpenID Connect and Custom, newest first, a page at a time",
                {"200": _json("PairingPage", "A page of pairings and the cursor of the next, or null.")},
                parameters=[
                    {"name": "status", "in": "query", "schema": {"enum": list(RECORD_STATUSES)}},
                    {"name": "accountId", "in": "query", "schema": _STRING},
                    environment,
                    {"name": "mechanism", "in": "query", "schema": {"enum": ["openid", "custom"]}},
                    *list_parameters[-2:],
                ],
            )
        },
        "/api/v1/pairings/{id}/unpair": {"post": unpair},
        "/api/v1/bookings": {
            "post": post_booking,
            "get": operation(
                "list_bookings",
                "bookings:read",
                "Bookings, newest first, a page at a time",
                {"200": _json("BookingPage", "A page of bookings and the cursor of the next, or null.")},
                parameters=list_parameters,
            ),
        },
        "/api/v1/bookings/{partnerBookingId}": {"get": get_booking},
        "/api/v1/leads/report": {
            "get": operation(
                "leads_report",
                "leads:read",
                "The leads funnel, decline reasons and revenue, per account and profile",
                {"200": _json("LeadsReport", "The report of one environment.")},
                parameters=[{**environment, "description": "Default: the product's default environment."}],
            )
        },
        "/api/v1/availability": {
            "get": operation(
                "availability",
                "leads:read",
                "The availability ServiceTitan last pushed, per account, profile and service",
                {"200": _json("AvailabilityPage", "Every latest snapshot of one environment.")},
                parameters=[{**environment, "description": "Default: the product's default environment."}],
            )
        },
        "/api/v1/events": {
            "get": operation(
                "list_events",
                "events:read",
                "The events after an id, oldest first: resume from the last id seen (docs/partner-api-events.md)",
                {"200": _json("EventPage", "Up to `limit` events; `next` is the last id when more may follow.")},
                parameters=[
                    {"name": "after", "in": "query", "schema": _STRING, "description": "The last event id seen."},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX}},
                ],
            )
        },
    }


def _version() -> str:
    try:
        return version("oidc-provider")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"


_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_PROFILE = {
    "type": "object",
    "required": ["Id", "Name"],
    "properties": {"Id": _STRING, "Name": _STRING},
    "additionalProperties": False,
}

_NULLABLE_STRING = {"type": ["string", "null"]}
_BOOKING_REQUEST = {
    "type": "object",
    "description": "ServiceTitan's booking JSON (its document's example): idempotencyToken may be left out.",
    "required": ["partnerBookingId", "slot", "userInformation"],
    "properties": {
        "idempotencyToken": _STRING,
        "partnerBookingId": _STRING,
        "slot": {
            "type": "object",
            "required": ["accountId", "profileId", "serviceId"],
            "properties": {
                "accountId": _STRING,
                "profileId": _STRING,
                "serviceId": _STRING,
                "startSec": {"type": "integer"},
                "durationSec": {"type": "integer"},
            },
        },
        "userInformation": {
            "type": "object",
            "required": ["address"],
            "properties": {
                "givenName": _STRING,
                "familyName": _STRING,
                "telephone": _STRING,
                "email": _STRING,
                "address": {"type": "object", "required": ["streetAddress"], "properties": {"streetAddress": _STRING}},
            },
        },
        "description": _STRING,
        "externalBookingUrl": _STRING,
        "extraDetails": {"type": "object", "additionalProperties": _STRING},
    },
}

_SCHEMAS = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail", "problems"],
        "properties": {
            "type": _STRING,
            "title": _STRING,
            "status": {"type": "integer"},
            "detail": _STRING,
            "error": {"type": "string", "description": "The RFC 6750 error code of a refused token."},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["where", "message"],
                    "properties": {"where": _STRING, "message": _STRING},
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    },
    "Booking": {
        "type": "object",
        "required": [
            "partnerBookingId",
            "state",
            "environment",
            "accountId",
            "profileId",
            "serviceId",
            "idempotencyToken",
            "createdAt",
            "attempts",
            "error",
            "timeline",
        ],
        "properties": {
            "partnerBookingId": _STRING,
            "state": {"enum": ["queued", "sending", "delivered", "failed", "outcome_unknown", "discarded"]},
            "environment": {"enum": ["sandbox", "production"]},
            "accountId": _STRING,
            "profileId": _STRING,
            "serviceId": _STRING,
            "startSec": {"type": ["integer", "null"]},
            "durationSec": {"type": ["integer", "null"]},
            "idempotencyToken": _STRING,
            "createdAt": {"type": "string", "format": "date-time"},
            "lastAttemptAt": _NULLABLE_STRING,
            "finishedAt": _NULLABLE_STRING,
            "attempts": {"type": "integer", "minimum": 0},
            "error": {
                "type": ["object", "null"],
                "description": "ServiceTitan's refusal as it sent it (code, name, message, status, stTraceId, "
                "errors), or a transport problem.",
            },
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["status", "timestamp", "statusUpdateId", "eventData"],
                    "properties": {
                        "status": _STRING,
                        "timestamp": {"type": "integer"},
                        "statusUpdateId": _STRING,
                        "eventData": {"type": "object"},
                    },
                },
            },
            "userInformation": {"type": "object", "description": "Only with the bookings:personal scope."},
        },
        "additionalProperties": False,
    },
    "BookingPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Booking"}},
            "next": _NULLABLE_STRING,
        },
        "additionalProperties": False,
    },
    "Event": {
        "type": "object",
        "required": ["id", "type", "occurredAt", "data"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "type": _STRING,
            "occurredAt": {"type": "string", "format": "date-time"},
            "data": {"type": "object"},
        },
        "additionalProperties": False,
    },
    "EventPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "next": _NULLABLE_STRING,
        },
        "additionalProperties": False,
    },
    "Pairing": {
        "type": "object",
        "required": [
            "id",
            "mechanism",
            "status",
            "requestId",
            "environment",
            "account",
            "sub",
            "createdAt",
            "updatedAt",
        ],
        "properties": {
            "id": {"type": "integer"},
            "mechanism": {"enum": ["openid", "custom"]},
            "status": {"enum": list(RECORD_STATUSES)},
            "requestId": _NULLABLE_STRING,
            "environment": {"enum": ["sandbox", "production"]},
            "account": {
                "type": ["object", "null"],
                "required": ["id", "name", "profiles"],
                "properties": {
                    "id": _STRING,
                    "name": _STRING,
                    "profiles": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "name"],
                            "properties": {"id": _STRING, "name": _STRING},
                            "additionalProperties": False,
                        },
                    },
                },
                "additionalProperties": False,
            },
            "sub": {"type": "string", "description": "The tenant user's subject, as in the id_token."},
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "decidedAt": _NULLABLE_STRING,
            "decidedBy": _NULLABLE_STRING,
            "unpairedReason": {"enum": ["superseded", "unpaired", None]},
            "unpairedBy": _NULLABLE_STRING,
            "servicetitanError": {
                "type": ["object", "null"],
                "description": "ServiceTitan's refusal of the pairing's report (code, name, message, ...), with "
                "`advice` for DuplicateAccount, DuplicateRequestId and DuplicateProfile.",
            },
        },
        "additionalProperties": False,
    },
    "PairingPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Pairing"}},
            "next": _NULLABLE_STRING,
        },
        "additionalProperties": False,
    },
    "AvailabilityPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": {"type": "object"}}, "next": {"type": "null"}},
        "additionalProperties": False,
    },
    "LeadsReport": {
        "type": "object",
        "required": ["environment", "total", "byProfile"],
        "properties": {
            "environment": {"enum": ["sandbox", "production"]},
            "total": {"type": "object"},
            "byProfile": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": False,
    },
    "WebhookReceipt": {
        "type": "object",
        "required": ["deliveryId", "state"],
        "properties": {"deliveryId": {"type": "integer"}, "state": _STRING, "problems": _STRINGS},
        "additionalProperties": False,
    },
    "OAuthError": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": _STRING, "error_description": _STRING, "error_uri": _STRING, "state": _STRING},
        "additionalProperties": False,
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": _STRING,
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "minimum": 1},
            "id_token": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"},
            "scope": {"type": "string", "description": "Only when it differs from the scope requested."},
        },
        "additionalProperties": False,
    },
    "UserInfo": {
        "type": "object",
        "required": ["sub"],
        "properties": {"sub": _STRING, "name": _STRING, "email": _STRING, "email_verified": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "AccountInfo": {
        "oneOf": [
            {
                "type": "object",
                "required": ["Status", "RequestId", "Account"],
                "properties": {
                    "Status": {"const": COMPLETED},
                    "RequestId": _STRING,
                    "Account": {
                        "type": "object",
                        "required": ["Id", "Name", "Profiles"],
                        "properties": {
                            "Id": _STRING,
                            "Name": _STRING,
                            "Profiles": {"type": "array", "items": _PROFILE},
                        },
                        "additionalProperties": False,
                    },
                },
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["Status", "RequestId"],
                "properties": {"Status": {"enum": [DECLINED, PROCESSING]}, "RequestId": _STRING},
                "additionalProperties": False,
            },
        ]
    },
    "JWKS": {
        "type": "object",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kty", "kid", "alg", "use"],
                    "properties": {
                        "kty": {"enum": ["RSA", "EC"]},
                        "kid": _STRING,
                        "alg": {"enum": ["RS256", "ES256"]},
                        "use": {"const": "sig"},
                    },
                    # A private member ("d", "p", "q", ...) must never appear.
                    "not": {"anyOf": [{"required": [member]} for member in ("d", "p", "q", "dp", "dq", "qi", "k")]},
                },
            }
        },
        "additionalProperties": False,
    },
    "ProviderMetadata": {
        "type": "object",
        "required": [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ],
        "properties": {
            "issuer": _STRING,
            "authorization_endpoint": _STRING,
            "token_endpoint": _STRING,
            "userinfo_endpoint": _STRING,
            "jwks_uri": _STRING,
            "account_info_endpoint": _STRING,
            "response_types_supported": _STRINGS,
            "response_modes_supported": _STRINGS,
            "grant_types_supported": _STRINGS,
            "subject_types_supported": _STRINGS,
            "id_token_signing_alg_values_supported": _STRINGS,
            "token_endpoint_auth_methods_supported": _STRINGS,
            "code_challenge_methods_supported": _STRINGS,
            "scopes_supported": _STRINGS,
            "claims_supported": _STRINGS,
            "prompt_values_supported": _STRINGS,
            "claims_parameter_supported": {"type": "boolean"},
            "request_parameter_supported": {"type": "boolean"},
            "request_uri_parameter_supported": {"type": "boolean"},
            "authorization_response_iss_parameter_supported": {"type": "boolean"},
        },
    },
}
