"""The vault's tables: one schema for SQLite (embedded default) and PostgreSQL.

This is the model the migrations (vault/db/migrations/) must produce; a test checks the two do
not drift, on both databases. Change a table here and add a migration for it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both backends (SQLite keeps no zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the vault database; use UTC-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("roles", sa.String(200), nullable=False),
    sa.Column("team", sa.String(64)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("disabled_at", UtcDateTime),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    # The roles this token is limited to (a sign-in from the agent's tray: the agent role
    # only); None: all of its user's roles.
    sa.Column("roles", sa.String(200)),
)

sign_in_links = sa.Table(
    "sign_in_links",
    metadata,
    # One-time, short-lived sign-ins (vault/sign_in_links.py): only the code's hash is kept.
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("roles", sa.String(200)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)

sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    # "account:NAME" or "source:ADDRESS": throttled separately, shared by every vault process.
    sa.Column("throttle_key", sa.String(120), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", UtcDateTime, nullable=False),
    sa.Column("blocked_until", UtcDateTime, nullable=False),
)

enrol_tokens = sa.Table(
    "enrol_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("agent_user_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)

fleet_tokens = sa.Table(
    "fleet_tokens",
    metadata,
    # One token in IT's policy enrols many machines (vault/fleet_enrolment.py); only its hash
    # is kept.
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("label", sa.String(120), nullable=False),
    sa.Column("max_uses", sa.Integer, nullable=False),
    sa.Column("uses", sa.Integer, nullable=False),
    sa.Column("creates_agents", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("revoked_by", sa.String(64)),
)

enrolment_requests = sa.Table(
    "enrolment_requests",
    metadata,
    # Refused fleet enrolments of unknown agents, for administrators; gone once one succeeds.
    sa.Column("token_id", sa.ForeignKey("fleet_tokens.id"), primary_key=True),
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("hostname", sa.String(255), primary_key=True),
    sa.Column("login", sa.String(256), nullable=False),
    sa.Column("first_at", UtcDateTime, nullable=False),
    sa.Column("last_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("agent_user_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("public_key", sa.String(200), nullable=False),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("enrolled_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("heartbeat_at", UtcDateTime),
    sa.Column("agent_version", sa.String(64)),
    sa.Column("backlog_segments", sa.Integer),
    sa.Column("backlog_bytes", sa.BigInteger),
)

request_nonces = sa.Table(
    "request_nonces",
    metadata,
    sa.Column("device_id", sa.Uuid, primary_key=True),
    sa.Column("nonce", sa.String(32), primary_key=True),
    sa.Column("seen_at", UtcDateTime, nullable=False, index=True),
)

training_sessions = sa.Table(
    "training_sessions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("trainer_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("agent_user_id", sa.ForeignKey("users.id")),
    sa.Column("team", sa.String(64)),
    sa.Column("calls_allowed", sa.Integer, nullable=False),
    sa.Column("calls_used", sa.Integer, nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("notice_text", sa.String(2000), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime),
)

recordings = sa.Table(
    "recordings",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("session_id", sa.ForeignKey("training_sessions.id"), nullable=False),
    sa.Column("device_id", sa.ForeignKey("devices.id"), nullable=False),
    sa.Column("agent_user_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("registered_at", UtcDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # How many media segments the sealed metadata announces (vault/completeness.py).
    sa.Column("media_segments", sa.Integer),
    sa.Column("keep_until", UtcDateTime, nullable=False),
    sa.Column("delete_at", UtcDateTime, nullable=False, index=True),
    sa.Column("hold_reason", sa.String(500)),
    sa.Column("hold_by", sa.String(64)),
    sa.Column("shredded_at", UtcDateTime),
    # The console's list pages newest first, filtered by agent (paging stays index-only).
    sa.Index("recordings_by_start", "started_at", "id"),
    sa.Index("recordings_by_agent", "agent_user_id", "started_at"),
)

recording_keys = sa.Table(
    "recording_keys",
    metadata,
    # The sealed data-key stanza, removed from every stored segment: deleting this row is
    # crypto-shredding, and segment copies in backups can no longer be opened.
    sa.Column("recording_id", sa.ForeignKey("recordings.id"), primary_key=True),
    sa.Column("key_id", sa.LargeBinary(8), nullable=False),
    sa.Column("sealed_key", sa.LargeBinary, nullable=False),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("recording_id", sa.ForeignKey("recordings.id"), primary_key=True),
    sa.Column("segment_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("media_type", sa.Integer, nullable=False),
    sa.Column("blob_key", sa.String(100), nullable=False),
    sa.Column("stored_at", UtcDateTime, nullable=False),
    sa.Column("deleted_at", UtcDateTime),
)

coaching_notes = sa.Table(
    "coaching_notes",
    metadata,
    # A trainer's note at a moment of a recording: personal data about the agent, so it is
    # deleted when the recording is (vault/retention.py), and never copied into the access log.
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("recording_id", sa.ForeignKey("recordings.id"), nullable=False, index=True),
    sa.Column("author_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("at_s", sa.Float, nullable=False),
    sa.Column("text", sa.String(2000), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

segment_peaks = sa.Table(
    "segment_peaks",
    metadata,
    # A segment's waveform is derived from the call, so it is kept only sealed under a key
    # derived from the recording's data key (vault/sealed_peaks.py): destroying the key
    # destroys it; the rows go with the recording too.
    sa.Column("recording_id", sa.ForeignKey("recordings.id"), primary_key=True),
    sa.Column("segment_index", sa.Integer, primary_key=True),
    sa.Column("per_second", sa.Integer, nullable=False),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
)

releases = sa.Table(
    "releases",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("recording_id", sa.ForeignKey("recordings.id"), nullable=False),
    sa.Column("requester_id", sa.ForeignKey("users.id"), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(1000), nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("authoriser_id", sa.ForeignKey("users.id")),
    sa.Column("authorised_at", UtcDateTime),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(100), nullable=False, index=True),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("previous_hash", sa.String(64), nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False),
)
