"""Encoding a recording into self-contained segments with PyAV, in memory (invariant 2).

Each segment is a complete file (its own header, a keyframe first, its own Opus stream header)
that decodes on its own; timestamps are seconds since the recording started, so joining
segments is a remux without re-encoding (`vault/assemble.py`). Video is encoded per segment
(each starts with a keyframe); audio by one Opus encoder for the whole recording whose
packets are dealt out to segments by time, so joined audio has no encoder priming or end
padding at the joins (Firefox refuses mid-stream padding in WebM, and other players would
play a 13.5 ms gap). Audio is the master clock: callers stamp
frames and samples with times from the audio clock. Frames identical to the previous one are
skipped (variable frame rate): a still screen costs almost nothing.
"""

from __future__ import annotations

import fractions
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from agent.capture.codec_names import CodecName
from agent.capture.mask import Pixels
from protocol.segments.format import MediaType

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_RATE = 48_000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
BT709 = 1  # FFmpeg's AVCOL_SPC/PRI/TRC code for ITU-R BT.709
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG: 16-235, what every browser expects


@dataclass(frozen=True, slots=True)
class VideoCodec:
    encoder: str
    container: str
    media_type: MediaType
    options: dict[str, str] = field(default_factory=dict)


VP9_REALTIME = VideoCodec(
    "libvpx-vp9",
    "webm",
    MediaType.MATROSKA,
    # No look-ahead: it held about 130 MB more per open 720p encoder, for no gain at realtime.
    {
        "crf": "38",
        "b:v": "0",
        "deadline": "realtime",
        "cpu-used": "8",
        "row-mt": "1",
        "lag-in-frames": "0",
    },
)
# No B-frames: they reorder frames across the end of a segment, which the remux join then
# has to untangle; screen content gains little from them.
H264_VERYFAST = VideoCodec(
    "libx264",
    "mp4",
    MediaType.MP4,
    {"crf": "30", "preset": "veryfast", "tune": "stillimage", "bf": "0"},
)


CODECS: dict[CodecName, VideoCodec] = {CodecName.H264: H264_VERYFAST, CodecName.VP9: VP9_REALTIME}
"""Every codec name policy can choose, and its encoder."""


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    codec: VideoCodec = H264_VERYFAST  # chosen by measurement: docs/benchmarks.md
    width: int = 1280
    height: int = 720
    segment_seconds: float = 10.0
    audio_bitrate: int = 32_000

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(
                f"frame size must be positive and even (yuv420p), got {self.width}x{self.height}"
            )
        if self.segment_seconds <= 0:
            raise ValueError(f"segment length must be positive, got {self.segment_seconds}")


def fit_frame(pixels: Pixels, width: int, height: int) -> Pixels:
    """Scale a BGRA frame to fit `width` x `height`, keeping its shape, padded with black."""
    source_height, source_width = pixels.shape[:2]
    if (source_width, source_height) == (width, height):
        return pixels
    scale = min(width / source_width, height / source_height)
    fitted_width = max(2, int(source_width * scale) // 2 * 2)
    fitted_height = max(2, int(source_height * scale) // 2 * 2)
    scaled = (
        av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="bgra")
        .reformat(width=fitted_width, height=fitted_height)
        .to_ndarray()
    )
    canvas = np.zeros((height, width, 4), dtype=np.uint8)
    canvas[:fitted_height, :fitted_width] = scaled
    return canvas


class SegmentWriter:
    """One segment: a video and an Opus audio stream muxed into an in-memory container."""

    def __init__(
        self,
        settings: EncoderSettings,
        index: int,
        audio_template: av.AudioStream,
        converter: VideoReformatter | None = None,
    ) -> None:
        self.index = index
        # The colour conversion's context, kept from frame to frame (and segment to segment):
        # a converter per frame set up libswscale's tables again for every one.
        self._converter = converter or VideoReformatter()
        self.start = index * settings.segment_seconds
        self.end = self.start + settings.segment_seconds
        self._settings = settings
        self._buffer = io.BytesIO()
        self._output = av.open(self._buffer, mode="w", format=settings.codec.container)
        video = self._output.add_stream(settings.codec.encoder)
        assert isinstance(video, av.VideoStream)  # noqa: S101 - narrows PyAV's union
        video.width, video.height, video.pix_fmt = settings.width, settings.height, "yuv420p"
        # The encoder's own time base, not only the stream's: PyAV rescales frame timestamps
        # into it, and a frame-rate time base (1/5) would round each grab time by up to 100 ms.
        video.codec_context.time_base = VIDEO_TIME_BASE
        video.time_base = VIDEO_TIME_BASE
        # Say which matrix the pixels were converted with: untagged, Firefox assumes BT.709
        # and Chromium BT.601, and one of them would show every colour shifted.
        context = video.codec_context
        context.colorspace = context.color_primaries = context.color_trc = BT709
        context.color_range = LIMITED_RANGE
        video.options = dict(settings.codec.options)
        audio = self._output.add_stream_from_template(audio_template)
        self._video, self._audio = video, audio
        self._last_frame: Pixels | None = None
        self._skipped_until: float | None = None
        self.frames_encoded = 0
        self.frames_skipped = 0
        self.audio_packets = 0

    @property
    def last_frame(self) -> Pixels | None:
        return self._last_frame

    def add_frame(self, pixels: Pixels, at: float) -> None:
        fitted = fit_frame(pixels, self._settings.width, self._settings.height)
        # The first frame is always encoded: it is the keyframe the segment decodes from.
        if self._last_frame is not None and np.array_equal(fitted, self._last_frame):
            self.frames_skipped += 1
            self._skipped_until = at
            return
        self._last_frame = fitted
        self._skipped_until = None
        self._encode(fitted, at)

    def _encode(self, fitted: Pixels, at: float) -> None:
        # Wrapped, not copied: the conversion below reads it once into a frame of its own.
        bgra = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(fitted), format="bgra")
        frame = self._converter.reformat(
            bgra,
            format="yuv420p",
            dst_colorspace=BT709,
            dst_color_range=LIMITED_RANGE,
            dst_color_trc=BT709,
            dst_color_primaries=BT709,
            # One thread: a 720p conversion is shorter than handing it out to a pool.
            threads=1,
        )
        frame.pts = round(at / VIDEO_TIME_BASE)
        frame.time_base = VIDEO_TIME_BASE
        for packet in self._video.encode(frame):
            self._output.mux(packet)
        self.frames_encoded += 1

    def add_audio_packet(self, packet: av.Packet[av.AudioStream]) -> None:
        self.audio_packets += 1
        packet.stream = self._audio
        self._output.mux(packet)

    def close(self, still: Pixels | None = None) -> bytes:
        """Finish the file. A segment no grab reached (the grabber stalled) shows `still`,
        the latest picture, or black: every segment keeps its video stream (MP4 would drop
        an empty track, and the segments would no longer join)."""
        if self.frames_encoded == 0:
            blank = np.zeros((self._settings.height, self._settings.width, 4), dtype=np.uint8)
            self._last_frame = blank if still is None else still
            self._encode(self._last_frame, self.start)
        elif self._last_frame is not None and self._skipped_until is not None:
            # Repeat the still picture at the last grab, so the video runs to the end of the
            # segment (to the hang-up in the last one) instead of stopping at its last change.
            self._encode(self._last_frame, self._skipped_until)
            self.frames_skipped -= 1  # that grab is encoded after all
        for packet in self._video.encode(None):
            self._output.mux(packet)
        self._output.close()
        return self._buffer.getvalue()


class RecordingAudioEncoder:
    """One Opus encoder for the whole recording; its packets go to whichever segment."""

    def __init__(self, settings: EncoderSettings) -> None:
        # A stream of a throwaway container: its parameters (with the Opus header) are the
        # template every segment's audio stream is made from.
        self._holder = av.open(io.BytesIO(), mode="w", format=settings.codec.container)
        stream = self._holder.add_stream("libopus", rate=AUDIO_RATE)
        assert isinstance(stream, av.AudioStream)  # noqa: S101 - narrows PyAV's union
        stream.layout = "stereo"
        stream.bit_rate = settings.audio_bitrate
        self._holder.start_encoding()  # opens the encoder, which fills in the Opus header
        self.stream = stream

    def encode(self, samples: np.ndarray, at: float) -> list[av.Packet[av.AudioStream]]:
        """Stereo int16 samples (n, 2) whose first sample is at `at` seconds."""
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = round(at * AUDIO_RATE)
        frame.time_base = AUDIO_TIME_BASE
        return list(self.stream.encode(frame))

    def flush(self) -> list[av.Packet[av.AudioStream]]:
        packets = list(self.stream.encode(None))
        self._holder.close()
        return packets


@dataclass(frozen=True, slots=True)
class EncodedSegment:
    index: int
    start: float
    end: float
    data: bytes
    media_type: MediaType
    frames_encoded: int
    frames_skipped: int


class Segmenter:
    """Routes frames and audio to segments by time and hands out each finished segment.

    Audio arrives later than video (see audio.py), so a segment is finished only once encoded
    audio has reached its end; until then up to two segments are open at once.
    """

    def __init__(
        self, settings: EncoderSettings, on_segment: Callable[[EncodedSegment], None]
    ) -> None:
        self._settings = settings
        self._on_segment = on_segment
        self._open: dict[int, SegmentWriter] = {}
        self._next_to_emit = 0
        self._audio = RecordingAudioEncoder(settings)
        self._converter = VideoReformatter()
        self._still: Pixels | None = None
        self.frames_left_out = 0

    def _index(self, at: float) -> int:
        return max(0, int(at // self._settings.segment_seconds))

    def _writer(self, index: int) -> SegmentWriter | None:
        if index < self._next_to_emit:
            return None  # that segment is already finished; late data is dropped
        if index not in self._open:
            self._open[index] = SegmentWriter(
                self._settings, index, self._audio.stream, self._converter
            )
        return self._open[index]

    def add_frame(self, pixels: Pixels, at: float) -> None:
        writer = self._writer(self._index(at))
        if writer is not None:
            writer.add_frame(pixels, at)
            self._still = writer.last_frame

    def add_audio(self, samples: np.ndarray, at: float) -> None:
        """Contiguous stereo samples from `at` (each call continues where the last ended)."""
        if len(samples):
            self._deal(self._audio.encode(samples, at))

    def finish(self) -> None:
        """Close every open segment (the recording ended)."""
        self._deal(self._audio.flush())
        last = max(self._open, default=None)
        if last is not None and last > 0 and not self._open[last].audio_packets:
            # Grabs from the last few milliseconds after the final audio packet began: a
            # segment of its own would lack the audio stream and no longer join (MP4 drops
            # empty tracks), so they are left out; the recording ends with its audio.
            dropped = self._open.pop(last)
            self.frames_left_out += dropped.frames_encoded + dropped.frames_skipped
            dropped.close(self._still)
        self._emit_finished(upto=float("inf"))

    def _deal(self, packets: list[av.Packet[av.AudioStream]]) -> None:
        """Give each audio packet to the segment its start falls in; finish the earlier ones."""
        for packet in packets:
            if packet.pts is None or packet.time_base is None:
                continue
            at = float(packet.pts * packet.time_base)
            writer = self._writer(self._index(at))
            if writer is not None:
                writer.add_audio_packet(packet)
            # The encoder hands out packets in time order: everything before this one is in.
            self._emit_finished(upto=at)

    def _emit_finished(self, upto: float) -> None:
        for index in sorted(self._open):
            writer = self._open[index]
            if writer.end > upto + 1e-9:
                break
            del self._open[index]
            self._next_to_emit = index + 1
            self._on_segment(
                EncodedSegment(
                    index,
                    writer.start,
                    writer.end,
                    writer.close(self._still),
                    self._settings.codec.media_type,
                    writer.frames_encoded,
                    writer.frames_skipped,
                )
            )
