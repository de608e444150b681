"""Every table. Secrets are hashed, or encrypted where they must be read back; never plain."""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oidc_provider.core import clock
from oidc_provider.core.encryption import decrypt
from oidc_provider.core.extensions import Model, db
from oidc_provider.core.hashing import digest_matches


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every database (SQLite would hand back naive ones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None:
            return value.replace(tzinfo=UTC)
        return value


def detached(model, row):
    """An instance of ``model`` from the columns of its table that a Core ``row`` holds, in
    no session. The hot paths (the code exchange, account-info) read with prebuilt Core
    statements, which cost a third of the ORM's CPU each, and hand these to Authlib and the
    claims; they are values to read, never to add to a session."""
    mapping = row._mapping
    return model(**{column.key: mapping[column] for column in model.__table__.columns if column in mapping})


def column_parameters(table: Table, columns: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
    """A bound parameter for each of ``table``'s ``columns``, named ``prefix`` + the column and
    typed as the column is (so that JSON and UTC times are converted as the ORM would), for
    the hot paths' prebuilt statements that write several tables at once."""
    return {column: bindparam(prefix + column, type_=table.c[column].type) for column in columns}


#: How a pairing was made (``Pairing.mechanism``).
OPENID, CUSTOM = "openid", "custom"


def _new_subject() -> str:
    return str(uuid.uuid4())


class Client(Model):
    """A relying party: in practice ServiceTitan, once per environment."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    # SHA-256 of the secret; for HS256 clients, whose secret is also the id_token signing
    # key (OpenID Connect Core 10.1), the secret is encrypted instead.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # After a rotation with a grace period, the old secret works until this time.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(String(255), default="openid")
    id_token_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    account_info_claim: Mapped[bool] = mapped_column(Boolean, default=False)
    async_pairing: Mapped[bool] = mapped_column(Boolean, default=False)
    remember_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    default_response_mode: Mapped[str] = mapped_column(String(16), default="form_post")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # What ServiceTitan's Leads Integration Manager holds for this registration.
    servicetitan_environment: Mapped[str | None] = mapped_column(String(16))  # "sandbox" or "production"
    multi_account_support: Mapped[bool] = mapped_column(Boolean, default=False)
    # Loaded only when read: every token request loads its client, never its logo.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_content_type: Mapped[str | None] = mapped_column(String(32))

    # Authlib's ClientMixin, answered from our columns.
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # OpenID Connect makes redirect_uri REQUIRED: never guess one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """Scopes beyond the registration are dropped, not refused (ServiceTitan's admin
        types the scopes by hand; a typo must not break every pairing)."""
        registered = set(self.scope.split())
        requested = (scope or "").split()
        return " ".join(dict.fromkeys(s for s in requested if s in registered))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == "client_secret_basic_or_post"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"

    @property
    def client_metadata(self) -> dict:
        # Authlib's UserInfoEndpoint looks here for userinfo_signed_response_alg; our
        # userinfo answers are plain JSON.
        return {}

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.id_token_alg

    def matching_secret(self, presented: str) -> str | None:
        """The stored secret that ``presented`` matches (current, or previous within its
        grace period), compared in constant time; ``None`` when none does."""
        candidates = [(self.secret_hash, self.secret_encrypted)]
        if self.previous_secret_expires_at and clock.now() < self.previous_secret_expires_at:
            candidates.append((self.previous_secret_hash, self.previous_secret_encrypted))
        for digest, encrypted in candidates:
            if encrypted is not None:
                if hmac.compare_digest(decrypt(encrypted).encode(), presented.encode()):
                    return presented
            elif digest_matches(digest, presented):
                return presented
        return None

    def check_client_secret(self, client_secret: str) -> bool:
        return self.matching_secret(client_secret) is not None


class ApiClient(Model):
    """A partner API client: the partner's own systems (its booking platform), calling
    ``/api/v1`` with OAuth 2.0 client credentials. Never a relying party: it has no redirect
    URI and cannot use the authorization code grant."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the secret, which is 256 random bits (core/hashing.py).
    secret_hash: Mapped[str] = mapped_column(String(64))
    # After a rotation with a grace period, the old secret works until this time.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # A revoked client authenticates no more, and its tokens stop working at once.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Authlib's ClientMixin, answered from our columns.
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # The client credentials grant refuses scopes beyond the client's before this.
        return scope or self.scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == "client_secret_basic_or_post"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def check_client_secret(self, client_secret: str) -> bool:
        """The current secret, or the previous one within its grace period; constant time."""
        if self.revoked_at is not None:
            return False
        current = digest_matches(self.secret_hash, client_secret)
        in_grace = self.previous_secret_expires_at is not None and clock.now() < self.previous_secret_expires_at
        previous = in_grace and digest_matches(self.previous_secret_hash, client_secret)
        return current or previous


class ApiAccessToken(Model):
    """An opaque bearer token of a partner API client, stored only as its SHA-256."""

    __tablename__ = "api_access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_client_pk: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


user_accounts = Table(
    "user_accounts",
    db.metadata,
    Column("user_id", ForeignKey("tenant_users.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
)


class Account(Model):
    """A partner-side business account that a tenant pairs with ServiceTitan."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # An account that is not eligible is answered DECLINED.
    eligible: Mapped[bool] = mapped_column(Boolean, default=True)
    profiles: Mapped[list[Profile]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="Profile.position"
    )


class Profile(Model):
    """A location, listing or brand of an account; bookings name it."""

    __tablename__ = "profiles"

    # Unique across all accounts: ServiceTitan refuses duplicates (DuplicateProfile, 15304).
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, default=0)
    account: Mapped[Account] = relationship(back_populates="profiles")


class TenantUser(UserMixin, Model):
    """A person who signs in on our pages to pair one of their accounts."""

    __tablename__ = "tenant_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Opaque and stable: the id_token's "sub", never the email.
    subject: Mapped[str] = mapped_column(String(36), unique=True, default=_new_subject)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Raised at sign-out and when the password changes: a session cookie holds the version
    # it was made with, and any copy of it made before is refused (web/sessions.py).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    accounts: Mapped[list[Account]] = relationship(secondary=user_accounts, order_by="Account.name")

    def get_id(self) -> str:
        return f"tenant:{self.id}"


#: What the token paths read of a tenant user with a code or a token: never the password hash.
TENANT_USER_CLAIM_COLUMNS = tuple(TenantUser.__table__.c[name] for name in ("id", "subject", "email", "name"))


class Admin(UserMixin, Model):
    """A partner admin. Never a tenant user: the two live in separate tables."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # A disabled admin cannot sign in, and their sessions end at once.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # As TenantUser.session_version: raised at sign-out, on disabling, on a new password.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def get_id(self) -> str:
        return f"admin:{self.id}"


class Consent(Model):
    """A user's remembered consent to a client, with the account chosen last."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_users.id", ondelete="CASCADE"))
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthorizationCode(Model):
    """A single-use code, bound to everything the token request must repeat or prove."""

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_users.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(255))
    requested_scope: Mapped[str] = mapped_column(String(255))
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    auth_time: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[TenantUser] = relationship()
    account: Mapped[Account] = relationship()

    # Authlib's AuthorizationCodeMixin.
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class AccessToken(Model):
    """An opaque bearer token, stored only as its SHA-256."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_users.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id", ondelete="SET NULL"), index=True
    )
    scope: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    user: Mapped[TenantUser] = relationship()
    account: Mapped[Account] = relationship()
    # The pairing this token created, which ServiceTitan's account-info call binds.
    pairing: Mapped[Pairing | None] = relationship(viewonly=True)

    # Authlib's TokenMixin.
    def check_client(self, client: Client) -> bool:
        return self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return clock.now() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self) -> TenantUser:
        return self.user

    def get_client(self) -> Client:
        return self.client


class Pairing(Model):
    """One account paired with one ServiceTitan tenant, by either mechanism: OpenID Connect
    (``openid``: through one access token of a client) or Custom pairing (``custom``: our
    page answered ServiceTitan's request id through the outbox)."""

    __tablename__ = "pairings"
    __table_args__ = (
        UniqueConstraint("client_pk", "request_id"),
        # A Custom request id is answered once per environment (OpenID Connect ones are
        # bound per client, above).
        Index(
            "uq_pairings_custom_request",
            "environment",
            "request_id",
            unique=True,
            sqlite_where=text("mechanism = 'custom'"),
            postgresql_where=text("mechanism = 'custom'"),
        ),
        Index("ix_pairings_account_environment", "account_id", "environment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mechanism: Mapped[str] = mapped_column(String(16), default=OPENID, server_default=OPENID)
    environment: Mapped[str] = mapped_column(String(16))  # "sandbox" or "production"
    # OpenID Connect pairings only.
    client_pk: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_users.id", ondelete="CASCADE"), index=True)
    # None only for a Custom pairing the tenant has not answered yet, or declined.
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    access_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("access_tokens.id", ondelete="SET NULL"), unique=True
    )
    # ServiceTitan's. OpenID Connect: set by its account-info call; absent when the
    # id_token's accountInfo claim already finished the pairing. Indexed on its own: admins
    # search by it.
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # PROCESSING, COMPLETED, DECLINED (ServiceTitan's), or UNPAIRED (ours alone).
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # An admin's decision on an asynchronous pairing.
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(254))
    # Why an UNPAIRED pairing ended: "superseded" (the account was paired again) or
    # "unpaired" (ended by an admin or an API client, named in ``unpaired_by``).
    unpaired_reason: Mapped[str | None] = mapped_column(String(16))
    unpaired_by: Mapped[str | None] = mapped_column(String(254))

    client: Mapped[Client | None] = relationship()
    user: Mapped[TenantUser] = relationship()
    account: Mapped[Account | None] = relationship()


class SigningKey(Model):
    """An asymmetric id_token signing key; the private half is encrypted at rest."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8), index=True)
    private_jwk_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activates_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Model):
    """An admin action, a pairing or a security event: one log for all of them."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(254), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # An event that repeats (a refused webhook delivery) is one row per ``repeat_key`` (kind,
    # source, reason and interval) counting its occurrences; every other event is one row.
    count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    repeat_key: Mapped[str | None] = mapped_column(String(255), unique=True)


class ServiceTitanEnvironment(Model):
    """ServiceTitan's side of one environment: where its Leads API is, and the API client
    credentials ServiceTitan issued to us there."""

    __tablename__ = "servicetitan_environments"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)  # "sandbox" or "production"
    identity_url: Mapped[str | None] = mapped_column(String(2048))
    api_url: Mapped[str | None] = mapped_column(String(2048))
    client_id: Mapped[str | None] = mapped_column(String(255))
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class JobType(Model):
    """A partner job type mapped to a ServiceTitan category; a category the partner does
    not serve is kept with an empty key, as ServiceTitan's CSV template has it."""

    __tablename__ = "job_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(128), index=True)
    partner_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ExtraDetailParameter(Model):
    """A key a booking's extraDetails may carry, with the name ServiceTitan displays."""

    __tablename__ = "extra_detail_parameters"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    # Lower-cased key: ServiceTitan refuses case-insensitive duplicates (11304).
    key_folded: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, default=0)


class WebhookSigningKey(Model):
    """The "Webhook Message Signing Key" ServiceTitan sends verbatim with each delivery.
    Encrypted, because an admin must be able to copy it into ServiceTitan's screen; two
    are valid at once while one is rotated."""

    __tablename__ = "webhook_signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Each ServiceTitan environment is an integration of its own, with its own key set.
    environment: Mapped[str] = mapped_column(String(16), default="production", server_default="production")
    key_encrypted: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # "generated" or "pasted"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Model):
    """A call to ServiceTitan's Leads API, written in the transaction that decided it and
    sent later by an outbox worker (``servicetitan/outbox.py``), so that nothing is lost
    while ServiceTitan or the network is down. Calls that share an ``ordering_key`` (one
    pairing request id) go out in ``id`` order."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "account_status" or "booking"
    environment: Mapped[str] = mapped_column(String(16))  # "sandbox" or "production"
    ordering_key: Mapped[str] = mapped_column(String(200), index=True)
    # The JSON body as ServiceTitan receives it. A booking's holds personal data: show a
    # summary to admins and never log it.
    payload: Mapped[dict] = mapped_column(JSON)
    # Bookings only; replaced when an admin resends after a refusal (ServiceTitan: "You
    # must create a new token before you retry this request").
    idempotency_token: Mapped[str | None] = mapped_column(String(128), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    # A worker's claim: no other worker sends the message before ``claimed_until``.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An earlier attempt may have reached ServiceTitan without us hearing the answer: a
    # "duplicate" refusal on a retry then proves delivery.
    outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last failure: ServiceTitan's error (code, name, message, status, stTraceId,
    # errors) or a transport problem.
    last_error: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    attempt_log: Mapped[list[OutboxAttempt]] = relationship(
        order_by="OutboxAttempt.id", cascade="all, delete-orphan", passive_deletes=True
    )


class OutboxAttempt(Model):
    """One attempt to send an outbox message, and what came back: an admin reads each of
    ServiceTitan's answers, not only the last."""

    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Bookings: the token this attempt carried (a resend changes it).
    idempotency_token: Mapped[str | None] = mapped_column(String(128))
    # The message's state after the attempt: "delivered", "failed" or "pending" (a retry).
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[dict | None] = mapped_column(JSON)


class Booking(Model):
    """A booking handed to ServiceTitan; its outbox message carries the payload, the
    idempotency token and the outcome."""

    __tablename__ = "bookings"
    # The console lists one environment's bookings newest first (``web/admin/listings``).
    __table_args__ = (Index("ix_bookings_environment_id", "environment", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_booking_id: Mapped[str] = mapped_column(String(128), unique=True)
    environment: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(128), index=True)
    profile_id: Mapped[str] = mapped_column(String(128))
    service_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), unique=True)

    message: Mapped[OutboxMessage] = relationship()


class WebhookDelivery(Model):
    """One authenticated delivery from ServiceTitan, kept raw before it is judged:
    ServiceTitan does not retry, so whatever we answer 200 must be here. The body is
    bytes, not text: a JSON body may carry "\\u0000", which PostgreSQL text cannot hold."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), index=True)  # "accounts", "leads/accepted", ...
    # The environment whose URL (and key) it came in at: "sandbox" or "production".
    environment: Mapped[str] = mapped_column(String(16), default="production", server_default="production")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    headers: Mapped[dict] = mapped_column(JSON)  # as received, minus the signing key
    body: Mapped[bytes] = mapped_column(LargeBinary)
    # "received" until judged; then "stored", "invalid", "not_json", "duplicate" or
    # "unknown_booking" (the last three are kept for an admin to look at).
    state: Mapped[str] = mapped_column(String(16), default="received", index=True)
    problems: Mapped[list] = mapped_column(JSON, default=list)


class LeadStatusUpdate(Model):
    """A valid lead status update, once per statusUpdateId whatever ServiceTitan repeats."""

    __tablename__ = "lead_status_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    status_update_id: Mapped[str] = mapped_column(String(200), unique=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    # Its delivery's; it is linked only to a booking sent to the same environment.
    environment: Mapped[str] = mapped_column(String(16), default="production", server_default="production")
    partner_booking_id: Mapped[str] = mapped_column(String(200), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))  # None: unknown
    account_id: Mapped[str] = mapped_column(String(200))
    profile_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))  # Accepted, Declined, AppointmentScheduled, Invoiced
    event_timestamp: Mapped[int] = mapped_column(Integer)  # Unix seconds, ServiceTitan's "timestamp"
    event_data: Mapped[dict] = mapped_column(JSON)


class AvailabilitySnapshot(Model):
    """Availability as ServiceTitan last pushed it for one account, profile and service.
    The payload is undocumented: kept as received, keyed by whatever ids it names."""

    __tablename__ = "availability_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(16), default="production", server_default="production")
    account_id: Mapped[str] = mapped_column(String(200), default="")
    profile_id: Mapped[str] = mapped_column(String(200), default="")
    service_id: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    payload: Mapped[dict] = mapped_column(JSON)


class Event(Model):
    """One entry of the partner's event feed (``/api/v1/events``) and push: a booking's
    outcome, a lead update, a pairing change, a delivery from ServiceTitan. ``id`` is the
    feed's order: on PostgreSQL, ids are taken in commit order (servicetitan/events.py)."""

    __tablename__ = "events"
    # SQLite would reuse the id of a deleted last row; a consumer that resumes after it
    # would miss the next event.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    data: Mapped[dict] = mapped_column(JSON)
