"""Words both products use in their bodies: recording purposes and states."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import Field

MAX_NOTICE_CHARS = 2000
NoticeText = Annotated[str, Field(min_length=1, max_length=MAX_NOTICE_CHARS)]
"""A trainer's own words on the agent's call notice; shown as plain text, never markup."""


class Purpose(enum.StrEnum):
    """Why a recording is made, and why it may be opened (R15)."""

    QUALITY = "quality"
    TRAINING = "training"
    DISPUTE = "dispute"
    ABUSE = "abuse"
    AGREEMENT_VERIFICATION = "agreement-verification"


class RecordingEnd(enum.StrEnum):
    """How an agent reports a recording ended."""

    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    """Capture failed, the session ended mid-call, or the agent was killed."""


class DeviceStatus(enum.StrEnum):
    OK = "ok"
    SILENT = "silent"
    """No heartbeat for a while."""
    BEHIND = "behind"
    """Its upload backlog keeps growing."""


class StoredRecordingState(enum.StrEnum):
    """A recording's state at the vault."""

    OPEN = "open"
    """Registered; segments are arriving."""
    COMPLETE = "complete"
    """Its metadata and every media segment it announces are stored (vault/completeness.py)."""
    INCOMPLETE = "incomplete"
    """The agent finished it, but segments are missing: lists name which."""
    INTERRUPTED = "interrupted"
    SHREDDED = "shredded"
    """Its key is destroyed: nothing of it can be opened again."""
