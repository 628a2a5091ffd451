"""Playback one segment at a time: a player learns the recording's layout (which segments are
stored, how long each is, what the browser must decode), then fetches the segments it shows
and their waveform. Each request unseals only its own segment, so a viewer starts and seeks on
an hour-long recording as fast as on a short one, and the vault never holds a whole recording
in memory for a playback (docs/console.md).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

import sqlalchemy as sa

from protocol.recording_metadata import RecordingMetadataView
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType
from vault import keystore, peaks, sealed_peaks
from vault.access import (
    StoredParts,
    stored_metadata,
    stored_parts,
    unseal_part,
    unseal_part_and_key,
    unsealing,
)
from vault.completeness import Completeness
from vault.context import VaultContext
from vault.db.tables import segments
from vault.errors import NotFound
from vault.media_fragments import for_browser, span_of

MAX_PEAK_SEGMENTS = 120
"""Segments per waveform request: bounds the work one request asks of the vault."""
FRAGMENT_CACHE_BYTES = 64 * 1024 * 1024
"""Plaintext kept for viewers fetching the same segment again (a seek back, a second tab)."""


@dataclass(frozen=True, slots=True)
class PlaybackLayout:
    recording_id: uuid.UUID
    media_type: MediaType
    stream_type: str
    """What MediaSource.addSourceBuffer takes for this recording's segments."""
    segment_seconds: float
    """Segment n covers [n * segment_seconds, (n + 1) * segment_seconds) of the recording."""
    duration_s: float
    segments: tuple[int, ...]
    """The media segments the vault holds; the others are gaps the markers explain."""
    metadata: RecordingMetadataView | None
    completeness: Completeness
    peaks_key: bytes = field(repr=False, default=b"")
    """Seals this recording's waveform (vault/sealed_peaks.py); kept with the ticket only."""


def layout_of(ctx: VaultContext, recording_id: uuid.UUID) -> PlaybackLayout:
    """Unseals the metadata and the first and last segments only."""
    parts = stored_parts(ctx, recording_id)
    with unsealing(recording_id):
        plaintext, data_key = unseal_part_and_key(ctx, parts, parts.media[0])
        first = span_of(plaintext, parts.media_type)
        last = first
        if len(parts.media) > 1:
            last = span_of(unseal_part(ctx, parts, parts.media[-1]), parts.media_type)
        metadata, whole = stored_metadata(ctx, parts)
    if metadata is not None and metadata.segment_seconds:
        segment_seconds = metadata.segment_seconds
    else:  # an agent too old to say: segment 0 starts at 0, so its end is one length
        segment_seconds = first.end_s / (parts.indices[0] + 1)
    return PlaybackLayout(
        recording_id=recording_id,
        media_type=parts.media_type,
        stream_type=first.stream_type,
        segment_seconds=segment_seconds,
        duration_s=last.end_s,
        segments=tuple(parts.indices),
        metadata=metadata,
        completeness=whole,
        peaks_key=sealed_peaks.peaks_key(data_key),
    )


class SegmentPlayer:
    """Unseals single segments for playback, keeping recent plaintext in a bounded cache."""

    def __init__(self, cache_bytes: int = FRAGMENT_CACHE_BYTES) -> None:
        self._limit = cache_bytes
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[uuid.UUID, int], bytes] = OrderedDict()
        self._held = 0

    def fragment(self, ctx: VaultContext, recording_id: uuid.UUID, index: int) -> bytes:
        """Segment `index` as the browser appends it to its media source."""
        with unsealing(recording_id):
            parts = _one_part(ctx, recording_id, index)
            return for_browser(self._plaintext(ctx, parts), parts.media_type)

    def peaks(
        self, ctx: VaultContext, layout: PlaybackLayout, first: int, count: int
    ) -> list[tuple[int, list[int], list[int]]]:
        """(index, agent lane, caller lane) of each stored segment in [first, first + count):
        opened from their sealed copies, or computed from the segment and sealed."""
        if not 1 <= count <= MAX_PEAK_SEGMENTS:
            raise ValueError(f"ask for 1-{MAX_PEAK_SEGMENTS} segments' waveform, not {count}")
        rid, rate = layout.recording_id, peaks.PEAKS_PER_SECOND
        wanted = [i for i in layout.segments if first <= i < first + count]
        with ctx.engine.connect() as connection:
            kept = sealed_peaks.stored(connection, rid, wanted, rate)
        found, sealed_now = [], []
        for index in wanted:
            lanes = self._opened(layout, index, kept.get(index))
            if lanes is None:
                with unsealing(rid):
                    parts = _one_part(ctx, rid, index)
                    lanes = peaks.of_window(
                        # The waveform reads every segment once: caching them would evict the
                        # segments viewers are watching.
                        self._plaintext(ctx, parts, keep=False),
                        index * layout.segment_seconds,
                        layout.segment_seconds,
                    )
                sealed_now.append(
                    (index, sealed_peaks.seal(layout.peaks_key, rid, index, rate, lanes))
                )
            found.append((index, *lanes))
        sealed_peaks.keep(ctx.engine, rid, rate, sealed_now)
        return found

    @staticmethod
    def _opened(
        layout: PlaybackLayout, index: int, sealed: bytes | None
    ) -> sealed_peaks.Lanes | None:
        if sealed is None:
            return None
        try:
            return sealed_peaks.open_sealed(
                layout.peaks_key, layout.recording_id, index, peaks.PEAKS_PER_SECOND, sealed
            )
        except sealed_peaks.SealedPeaksError:
            return None  # computed and sealed again

    def _plaintext(self, ctx: VaultContext, parts: StoredParts, *, keep: bool = True) -> bytes:
        """The cache is consulted after the key stanza is read, so a shredded recording's
        cached plaintext is never served."""
        key = (parts.recording_id, parts.indices[0])
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = unseal_part(ctx, parts, parts.media[0])
        with self._lock:
            if keep and key not in self._cache and len(data) <= self._limit // 4:
                self._cache[key] = data
                self._held += len(data)
                while self._held > self._limit:
                    self._held -= len(self._cache.popitem(last=False)[1])
        return data


def _one_part(ctx: VaultContext, recording_id: uuid.UUID, index: int) -> StoredParts:
    if index == METADATA_SEGMENT_INDEX:
        raise NotFound(f"recording {recording_id} has no media segment {index}")
    with ctx.engine.connect() as connection:
        row = connection.execute(
            sa.select(segments).where(
                segments.c.recording_id == recording_id, segments.c.segment_index == index
            )
        ).first()
        if row is None:
            raise NotFound(
                f"recording {recording_id} has no media segment {index}: the player skips it"
            )
        stanza = keystore.recording_stanza(connection, recording_id)
    return StoredParts(recording_id, stanza, [row], None)
