"""Why a stretch of a recording is silent or black, as markers on the player's timeline.

A trainer must be able to tell apart a pause for card data, a business window covered by
another window, one that was not visible at all, and a part that never reached the vault; this
turns the recording's sealed metadata and its completeness into one sorted list that says so.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from protocol.recording_metadata import RecordingMetadataView
from protocol.recording_vocabulary import BlankReason, PauseSource
from protocol.segments.keyframes import KEYFRAME_EVERY_SEGMENTS


class MarkerKind(enum.StrEnum):
    PAUSED = "paused"
    COVERED = "covered"
    NOT_VISIBLE = "not-visible"
    WITHHELD = "withheld"
    """Frames stored black on purpose that are neither covered nor invisible (payment
    window, something moving during the grab)."""
    MISSING = "missing"
    """Not received by the vault: an incomplete recording."""


@dataclass(frozen=True, slots=True)
class GapMarker:
    kind: MarkerKind
    start_s: float
    end_s: float
    label: str


_PAUSED_BY = {
    PauseSource.TRAY: "the tray menu",
    PauseSource.HOTKEY: "the hotkey",
    PauseSource.COMMAND_LINE: "the command line",
    PauseSource.PAYMENT_WINDOW: "a payment window",
}

_BLANKED = {
    BlankReason.COVERED: (MarkerKind.COVERED, "Screen partly black: another window covered it"),
    BlankReason.MINIMISED: (MarkerKind.NOT_VISIBLE, "Screen black: business window minimised"),
    BlankReason.HIDDEN: (MarkerKind.NOT_VISIBLE, "Screen black: business window hidden"),
    BlankReason.MISSING: (MarkerKind.NOT_VISIBLE, "Screen black: business window not open"),
    BlankReason.OFF_SCREEN: (MarkerKind.NOT_VISIBLE, "Screen black: business window off screen"),
    BlankReason.MOVED: (MarkerKind.WITHHELD, "Screen black: windows moving during capture"),
    BlankReason.PAYMENT_WINDOW: (MarkerKind.WITHHELD, "Screen black: payment window"),
}


def pause_label(sources: Sequence[PauseSource] | None) -> str:
    if sources is None:
        return "Paused for card data (the agent's version did not say by what)"
    named = [_PAUSED_BY[source] for source in sources] or ["an unnamed source"]
    return f"Paused for card data, by {' and '.join(named)}: no screen or sound kept"


def gap_markers(
    metadata: RecordingMetadataView | None,
    missing_segments: Sequence[int],
    *,
    default_segment_s: float,
) -> list[GapMarker]:
    markers: list[GapMarker] = []
    if metadata is not None:
        for pause in metadata.pauses or []:
            markers.append(
                GapMarker(MarkerKind.PAUSED, pause.start_s, pause.end_s, pause_label(pause.sources))
            )
        for span in metadata.blanked or []:
            kind, label = _BLANKED[span.reason]
            markers.append(GapMarker(kind, span.start_s, span.end_s, label))
    segment_s = (metadata.segment_seconds if metadata else None) or default_segment_s
    segments = metadata.media_segments if metadata else None
    for index in missing_segments:
        # The rest of its keyframe group may refer back to it, so players skip that too.
        group_end = (index // KEYFRAME_EVERY_SEGMENTS + 1) * KEYFRAME_EVERY_SEGMENTS
        group_end = min(group_end, segments or group_end)
        label = f"Not received: media segment {index} never reached the vault"
        if group_end > index + 1:
            label += f"; segments {index + 1} to {group_end - 1} cannot play without it"
        markers.append(
            GapMarker(MarkerKind.MISSING, index * segment_s, group_end * segment_s, label)
        )
    return sorted(markers, key=lambda m: (m.start_s, m.end_s, m.kind.value))
