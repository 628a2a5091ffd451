"""Request bodies of the vault API (responses are plain JSON objects documented per route)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vault.purposes import Purpose


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Enrolment(Strict):
    token: str = Field(min_length=1, max_length=100)
    public_key: str = Field(min_length=1, max_length=200)
    hostname: str = Field(min_length=1, max_length=255)


class RecordingRegistration(Strict):
    recording_id: uuid.UUID
    session_id: uuid.UUID
    started_at: datetime


class RecordingEnd(Strict):
    state: str = Field(pattern="^(complete|interrupted)$")


class Heartbeat(Strict):
    agent_version: str = Field(min_length=1, max_length=64)
    backlog_segments: int = Field(ge=0, le=10**9)
    backlog_bytes: int = Field(ge=0, le=10**15)


class Login(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class NewUser(Strict):
    username: str = Field(min_length=1, max_length=64)
    roles: list[str] = Field(min_length=1, max_length=6)
    password: str | None = Field(default=None, max_length=1024)
    team: str | None = Field(default=None, min_length=1, max_length=64)


class EnrolTokenRequest(Strict):
    agent: str = Field(min_length=1, max_length=64)


class NewSession(Strict):
    purpose: Purpose
    calls: int = Field(ge=1, le=100)
    expires_at: datetime
    notice_text: str = Field(min_length=1, max_length=2000)
    agent: str | None = Field(default=None, min_length=1, max_length=64)
    team: str | None = Field(default=None, min_length=1, max_length=64)


class Access(Strict):
    purpose: Purpose


class ReleaseRequest(Strict):
    purpose: Purpose
    recipient: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class Reason(Strict):
    reason: str = Field(min_length=1, max_length=500)


class ErrorBody(BaseModel):
    """Every refusal: a stable code for programs and a message for people."""

    error: str
    message: str
