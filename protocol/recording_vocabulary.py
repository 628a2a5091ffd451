"""The words of a recording's metadata (pauses, blanked frames, consent), apart from its
pydantic models (protocol/recording_metadata.py): the agent's settings and session rules use
them without loading pydantic, so that `callreel-agent settings` and the parser of every
command start light."""

from __future__ import annotations

import enum


class PauseSource(enum.Enum):
    """What paused a recording (R6)."""

    TRAY = "tray"
    HOTKEY = "hotkey"
    COMMAND_LINE = "command_line"
    PAYMENT_WINDOW = "payment_window"
    """Automatic: the business window's title matched the payment pattern."""


class BlankReason(enum.StrEnum):
    """Why frames of the business window were stored black, wholly or in part (R7)."""

    COVERED = "covered"
    """Another window (or a menu) lay over part of it: that part is black."""
    MINIMISED = "minimised"
    HIDDEN = "hidden"
    """Unmapped without being minimised (another workspace, withdrawn)."""
    MISSING = "missing"
    """No window matched the whitelist (closed, not started)."""
    OFF_SCREEN = "off_screen"
    MOVED = "moved"
    """Something moved while the frame was grabbed, so it might hold another window's pixels."""
    PAYMENT_WINDOW = "payment_window"
    """Its title matched the payment pattern."""


class ConsentMode(enum.StrEnum):
    NOT_REQUIRED = "not_required"
    REQUIRED = "required"
    """The agent had to confirm the caller agreed before the recording could be kept (R5)."""


class ConsentDecision(enum.StrEnum):
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    """Nobody confirmed before the deadline, or before capture stopped, whichever came first."""
