"""Bodies between an enrolled agent machine and the vault (`/api/v1/agent/...`).

The vault uses these as its routes' request and response models, so `/openapi.json` describes
them; the agent's client parses the vault's answers with the same classes.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Literal

from pydantic import AwareDatetime, Field, RootModel

from protocol.api.base import Reply, Request
from protocol.api.vocabulary import NoticeText, Purpose, RecordingEnd


class EnrolmentRequest(Request):
    """An agent machine presents IT's token (a one-time token for one agent, or a fleet
    token from policy) and its new device public key."""

    token: str = Field(min_length=1, max_length=100)
    public_key: str = Field(min_length=1, max_length=200)
    hostname: str = Field(min_length=1, max_length=255)
    login: str | None = Field(default=None, min_length=1, max_length=256)
    """The OS login name (`CORP\\alice`), which a fleet token maps to an agent account."""


class EnrolmentGranted(Reply):
    device_id: uuid.UUID
    agent: str
    """The agent user this machine records."""
    vault_recipient: str
    """The vault's public key (`callreel-recipient-1:...`) every recording is sealed to."""


class TrainingSessionView(Reply):
    """A training session as the vault describes it, to agents (theirs) and to trainers."""

    id: uuid.UUID
    trainer: str
    agent: str | None
    team: str | None
    purpose: Purpose
    calls_allowed: int
    calls_left: int
    notice_text: NoticeText
    created_at: AwareDatetime
    expires_at: AwareDatetime
    ended_at: AwareDatetime | None
    active: bool
    """Not ended, not expired and calls left."""
    keep_days: int
    """How long a recording made under it is kept locked, shown on the agent's notice."""
    delete_days: int


class TrainingSessionList(RootModel[list[TrainingSessionView]]):
    pass


def sessions_etag(sessions: TrainingSessionList) -> str:
    """The entity tag of a session list: the agent sends it back (If-None-Match) to wait for
    a change (GET /api/v1/agent/sessions?wait=)."""
    digest = hashlib.sha256(sessions.model_dump_json().encode()).hexdigest()
    return f'"{digest[:32]}"'


class RecordingRegistration(Request):
    recording_id: uuid.UUID
    session_id: uuid.UUID
    started_at: AwareDatetime


class RecordingRegistered(Reply):
    recording_id: uuid.UUID
    status: Literal["registered"] = "registered"


class RecordingEndReport(Request):
    state: RecordingEnd


class RecordingEnded(Reply):
    recording_id: uuid.UUID
    state: RecordingEnd


class SegmentStored(Reply):
    recording_id: uuid.UUID
    segment_index: int
    sha256: str


class Heartbeat(Request):
    agent_version: str = Field(min_length=1, max_length=64)
    backlog_segments: int = Field(ge=0, le=10**9)
    backlog_bytes: int = Field(ge=0, le=10**15)


class HeartbeatReceived(Reply):
    status: Literal["ok"] = "ok"
    vault_recipient: str | None = None
    """The key new recordings are to be sealed to: after the vault's key is rotated, agents
    learn the new one here, without re-enrolment (None from vaults before rotation existed)."""
    vault_tls_pins: list[str] | None = None
    """The TLS keys agents are to trust, by pin (protocol/tls_pins.py): the one the vault
    serves and, once prepared, its next (`callreel-vault tls prepare-rotation`), so that agents
    keep working when it switches. None from vaults before TLS key rotation existed."""


class AccessRecord(Reply):
    """One access to one of an agent's recordings, as the agent may see it (R14)."""

    recording_id: str
    at: AwareDatetime
    who: str
    action: str
    purpose: str | None


class AccessHistory(RootModel[list[AccessRecord]]):
    pass


class ConsoleLink(Reply):
    """A one-time sign-in to the console as the device's agent (the agent role only)."""

    path: str
    """Appended to the vault's address; works once, until `expires_at`."""
    expires_at: AwareDatetime
