"""Bodies between people's programs (the console, `callreel-vault` commands) and the vault."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, Field, RootModel

from protocol.api.base import Reply, Request
from protocol.api.vocabulary import DeviceStatus, NoticeText, Purpose, StoredRecordingState
from protocol.recording_metadata import RecordingMetadataView


class Health(Reply):
    status: Literal["ok"] = "ok"
    version: str


class Login(Request):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SignedIn(Reply):
    token: str
    """Also set as the console's cookie."""


class Me(Reply):
    username: str
    roles: list[str]
    team: str | None


class TokenView(Reply):
    id: str
    """A prefix of the token's hash: names it in lists, revocations and the access log."""
    label: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    current: bool
    """The token this request was made with."""


class TokenList(RootModel[list[TokenView]]):
    pass


class TokenRevoked(Reply):
    id: str


class SignedOut(Reply):
    pass


class UserStatus(Reply):
    username: str
    disabled: bool
    tokens_ended: int


class NewUser(Request):
    username: str = Field(min_length=1, max_length=64)
    roles: list[str] = Field(min_length=1, max_length=6)
    password: str | None = Field(default=None, max_length=1024)
    team: str | None = Field(default=None, min_length=1, max_length=64)


class UserAdded(Reply):
    username: str


class EnrolTokenRequest(Request):
    agent: str = Field(min_length=1, max_length=64)


class EnrolToken(Reply):
    token: str
    agent: str


class NewFleetToken(Request):
    """One token in IT's policy that enrols many machines of one team (docs/deploy.md)."""

    team: str = Field(min_length=1, max_length=64)
    uses: int = Field(ge=1, le=100_000)
    """How many machine-and-user enrolments it allows."""
    days: int = Field(ge=1, le=366)
    """How long it can be used."""
    creates_agents: bool = False
    """Whether an unknown login name gets a new agent account in the team, instead of a
    pending request for an administrator."""
    label: str = Field(default="", max_length=120)


class FleetTokenView(Reply):
    id: uuid.UUID
    team: str
    label: str
    uses: int
    max_uses: int
    creates_agents: bool
    created_by: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    revoked_at: AwareDatetime | None
    usable: bool


class FleetTokenCreated(Reply):
    token: str
    """Shown once: put it in the policy's enrolment_token; only its hash is kept."""
    fleet_token: FleetTokenView


class FleetTokenList(RootModel[list[FleetTokenView]]):
    pass


class FleetTokenRevoked(Reply):
    id: uuid.UUID
    status: Literal["revoked"] = "revoked"


class PendingEnrolmentView(Reply):
    """A login a valid fleet token could not enrol: no agent account of that name yet."""

    account: str
    login: str
    hostname: str
    team: str
    fleet_token: uuid.UUID
    first_at: AwareDatetime
    last_at: AwareDatetime
    attempts: int


class PendingEnrolmentList(RootModel[list[PendingEnrolmentView]]):
    pass


class DeviceHealth(Reply):
    device_id: uuid.UUID
    agent: str
    hostname: str
    agent_version: str | None
    heartbeat_at: AwareDatetime | None
    backlog_segments: int | None
    backlog_bytes: int | None
    status: DeviceStatus


class DeviceHealthList(RootModel[list[DeviceHealth]]):
    pass


class DeviceRevoked(Reply):
    device_id: uuid.UUID
    status: Literal["revoked"] = "revoked"


class NewSession(Request):
    purpose: Purpose
    calls: int = Field(ge=1, le=100)
    expires_at: AwareDatetime
    notice_text: NoticeText
    agent: str | None = Field(default=None, min_length=1, max_length=64)
    team: str | None = Field(default=None, min_length=1, max_length=64)


class SessionStarted(Reply):
    session_id: uuid.UUID


class SessionEnded(Reply):
    session_id: uuid.UUID
    status: Literal["ended"] = "ended"


class RecordingView(Reply):
    id: uuid.UUID
    agent: str
    session_id: uuid.UUID
    device_id: uuid.UUID
    purpose: Purpose
    state: StoredRecordingState
    started_at: AwareDatetime
    keep_until: AwareDatetime
    delete_at: AwareDatetime
    legal_hold: str | None
    media_segments: int | None
    """How many media segments the agent's sealed metadata announces; None until it arrives."""
    missing_segments: list[int]
    """Media segments known to be missing (docs/vault.md, "Whole recordings")."""


class RecordingList(RootModel[list[RecordingView]]):
    pass


class Access(Request):
    """Why the recording is opened (R15): it must be compatible with its recorded purpose."""

    purpose: Purpose


class PlaybackTicket(Reply):
    url: str
    """The whole recording joined, with byte ranges, for players that take one file
    (short-lived, for this user only). It is unsealed and joined on the first request: long
    recordings start faster one segment at a time (`segment_url`)."""
    content_type: str
    segment_url: str
    """Append a segment's number: that segment alone, ready for a browser's MediaSource (MP4
    as fragmented MP4, WebM as it is), carrying its times from the recording's start."""
    peaks_url: str
    """The waveform of the segments from `first` (a query parameter) on, `count` at a time."""
    stream_type: str
    """What MediaSource.addSourceBuffer takes for the segments, codecs included."""
    segment_seconds: float
    """Segment n covers [n * segment_seconds, (n + 1) * segment_seconds) of the recording."""
    segments: list[int]
    """The media segments stored; any other number up to the last is a gap."""
    keyframe_every_segments: int
    """Segments whose number is a multiple of this open with a video keyframe; any other may
    decode only after the segments before it back to such a one (protocol/segments/keyframes.py)."""
    duration_s: float
    metadata: RecordingMetadataView | None
    """What the agent recorded about gaps (pauses, blacked-out frames, consent); None when the
    recording's metadata segment has not arrived."""
    complete: bool
    """Every media segment the metadata announces is in what plays; if not, `incomplete` says
    what is missing."""
    incomplete: str | None


class Reason(Request):
    reason: str = Field(min_length=1, max_length=500)


class LegalHold(Reply):
    recording_id: uuid.UUID
    legal_hold: str
    """The reason it is held; empty once lifted."""


class RecordingDeleted(Reply):
    recording_id: uuid.UUID
    state: Literal["shredded"] = "shredded"
    segments_locked: int
    """Segments that Object Lock keeps until their keep date (unreadable: the key is gone)."""


class RetentionReport(Reply):
    shredded: list[str]
    held: list[str]
    segments_locked: int


class ReleaseRequest(Request):
    purpose: Purpose
    recipient: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class ReleaseStatus(Reply):
    release_id: uuid.UUID
    status: Literal["requested", "authorised"]


class ReleaseView(Reply):
    id: uuid.UUID
    recording_id: uuid.UUID
    recorded_at: AwareDatetime
    purpose: Purpose
    requester: str
    recipient: str
    reason: str
    requested_at: AwareDatetime
    authoriser: str | None
    authorised_at: AwareDatetime | None


class ReleaseList(RootModel[list[ReleaseView]]):
    pass


class AuditDetails(Reply):
    """Every detail an access-log record can carry; each action fills the ones it needs."""

    purpose: str | None = None
    reason: str | None = None
    release: str | None = None
    recipient: str | None = None
    calls: str | None = None
    agent: str | None = None
    team: str | None = None
    roles: str | None = None
    recordings: str | None = None
    token: str | None = None
    """A token's id (a prefix of its hash), never the token."""
    label: str | None = None
    hostname: str | None = None
    login: str | None = None
    """The OS login a machine enrolled with (fleet enrolment)."""


class AuditRecordView(Reply):
    sequence: int
    at: AwareDatetime
    actor: str
    action: str
    subject: str
    details: AuditDetails
    record_hash: str


class AuditRecordList(RootModel[list[AuditRecordView]]):
    pass


class AuditVerification(Reply):
    records: int
    intact: bool
    head: str | None
    problem: str | None


MAX_NOTE_CHARS = 2000
MAX_RECORDING_SECONDS = 24 * 3600
"""No recording is longer than a day: a note's moment past it is a mistake."""


class NewNote(Request):
    """A coaching note at a moment of a recording."""

    at_s: float = Field(ge=0, le=MAX_RECORDING_SECONDS)
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class NoteView(Reply):
    id: uuid.UUID
    recording_id: uuid.UUID
    author: str
    at_s: float
    text: str
    created_at: AwareDatetime


class NoteList(RootModel[list[NoteView]]):
    pass


class SegmentPeaks(Reply):
    """One segment's waveform: the loudest sample of each 1/per_second s of the segment, 0-255,
    per lane."""

    index: int
    start_s: float
    agent: list[int]
    """The agent's microphone (the left channel)."""
    caller: list[int]
    """The caller (the right channel)."""


class AudioPeaks(Reply):
    """A playback's waveform, a run of segments at a time; segments not stored are left out."""

    per_second: int
    segments: list[SegmentPeaks]
