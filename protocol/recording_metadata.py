"""What an agent records about a recording besides its media: the metadata segment.

The agent seals it as the recording's last segment (`METADATA_SEGMENT_INDEX`, media type JSON)
when capture stops; docs/format.md specifies it. It explains every gap a reviewer will see:
each pause with what paused it, each span of blacked-out frames with why, how many media
segments there are (so the vault knows when a recording is whole), and the consent decision.
Times are seconds from the start of the recording, on the recording's own (audio) clock.

Version skew: an agent writes `METADATA_VERSION`; a reader takes its own version and the one
before (version 1 had no `version` field), filling what the older one did not record as
unknown (None). A newer version than the reader knows is shown as unknown, with a note to
upgrade the vault, and is never refused: agents may be upgraded before the vault.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from protocol.api.base import Reply
from protocol.recording_vocabulary import BlankReason, ConsentDecision, ConsentMode, PauseSource

METADATA_VERSION: Final = 2
MAX_METADATA_BYTES = 8 * 1024 * 1024
"""An hour of frames alternating between two reasons every frame is under 2 MB."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PauseSpan(_Strict):
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    sources: list[PauseSource]
    """Every source that held the pause at some moment of it."""


class BlankSpan(_Strict):
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    reason: BlankReason
    frames: int = Field(ge=1)


class ConsentRecord(_Strict):
    mode: ConsentMode
    decision: ConsentDecision | None = None
    """None when consent was not required."""
    by: str | None = None
    """Who confirmed (the agent at the desk, on the caller's word)."""
    at: AwareDatetime | None = None


class RecordingMetadata(_Strict):
    """The metadata segment as the agent writes it (this version)."""

    version: Literal[2] = METADATA_VERSION
    recording_id: uuid.UUID
    segment_seconds: float
    media_segments: int = Field(ge=0)
    pauses: list[PauseSpan]
    blanked: list[BlankSpan]
    consent: ConsentRecord
    frames_dropped: int = Field(ge=0)
    frames_left_out: int = Field(ge=0)
    silence_inserted_samples: list[int] = Field(min_length=2, max_length=2)
    """Samples of silence put in for gaps in the microphone and far-end streams."""

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class PauseSpanView(Reply):
    start_s: float
    end_s: float
    sources: list[PauseSource] | None
    """None: recorded by an agent that did not say what paused it."""


class BlankCount(Reply):
    reason: str
    frames: int


class RecordingMetadataView(Reply):
    """The metadata of a recording of any version the vault reads; None means unknown."""

    version: int
    note: str | None
    """Set when something is unknown, saying why."""
    media_segments: int | None
    segment_seconds: float | None
    pauses: list[PauseSpanView] | None
    blanked: list[BlankSpan] | None
    """None: an older agent kept only counts (see blank_counts)."""
    blank_counts: list[BlankCount] | None
    consent: ConsentRecord | None
    frames_dropped: int | None
    frames_left_out: int | None


class MetadataError(ValueError):
    """The metadata segment is not metadata of a version this build reads."""


def parse_metadata(data: bytes) -> RecordingMetadataView:
    """Read a metadata segment's plaintext of this version or the one before.

    Raises MetadataError for something that is not metadata at all, or is a known version
    with wrong fields; a newer version comes back as unknown, with a note.
    """
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataError(
            f"recording metadata is {len(data)} bytes, more than {MAX_METADATA_BYTES}"
        )
    try:
        document: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"recording metadata is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MetadataError("recording metadata is not a JSON object")
    version = document.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MetadataError(f"recording metadata version {version!r} is not a version number")
    try:
        if version == 1:
            return _view_of_version_1(_Version1.model_validate(document))
        if version == METADATA_VERSION:
            return view_of(RecordingMetadata.model_validate(document))
    except ValidationError as exc:
        raise MetadataError(
            f"recording metadata version {version} does not fit its format: {_first(exc)}"
        ) from None
    return RecordingMetadataView(
        version=version,
        note=(
            f"written by a newer agent (metadata version {version}; this vault reads up to"
            f" {METADATA_VERSION}): upgrade the vault to see pauses, blacked-out frames and"
            " consent"
        ),
        media_segments=None,
        segment_seconds=None,
        pauses=None,
        blanked=None,
        blank_counts=None,
        consent=None,
        frames_dropped=None,
        frames_left_out=None,
    )


def view_of(metadata: RecordingMetadata) -> RecordingMetadataView:
    counts: dict[str, int] = {}
    for span in metadata.blanked:
        counts[span.reason.value] = counts.get(span.reason.value, 0) + span.frames
    return RecordingMetadataView(
        version=metadata.version,
        note=None,
        media_segments=metadata.media_segments,
        segment_seconds=metadata.segment_seconds,
        pauses=[
            PauseSpanView(start_s=p.start_s, end_s=p.end_s, sources=p.sources)
            for p in metadata.pauses
        ],
        blanked=list(metadata.blanked),
        blank_counts=[BlankCount(reason=r, frames=n) for r, n in sorted(counts.items())],
        consent=metadata.consent,
        frames_dropped=metadata.frames_dropped,
        frames_left_out=metadata.frames_left_out,
    )


class _Version1(BaseModel):
    """What agents of release 0.1 wrote: counts of blank frames by a sentence, pauses without
    their source, nothing about consent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    recording_id: uuid.UUID
    segment_seconds: float
    segments: int = Field(ge=0)
    pauses: list[tuple[float, float]]
    blank_reasons: dict[str, int]
    frames_dropped: int = Field(ge=0)
    frames_left_out: int = Field(ge=0)


def _view_of_version_1(old: _Version1) -> RecordingMetadataView:
    return RecordingMetadataView(
        version=1,
        note=(
            "written by an agent of release 0.1 (metadata version 1): what paused it, when"
            " frames were blacked out, and the consent decision are unknown"
        ),
        media_segments=old.segments,
        segment_seconds=old.segment_seconds,
        pauses=[PauseSpanView(start_s=start, end_s=end, sources=None) for start, end in old.pauses],
        blanked=None,
        blank_counts=[
            BlankCount(reason=reason, frames=frames)
            for reason, frames in sorted(old.blank_reasons.items())
        ],
        consent=None,
        frames_dropped=old.frames_dropped,
        frames_left_out=old.frames_left_out,
    )


def _first(exc: ValidationError) -> str:
    problem = exc.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}"
