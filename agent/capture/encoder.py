"""Encoding a recording into segments with PyAV, in memory (invariant 2).

Each segment is a complete file (its own header, its own Opus stream header); timestamps are
seconds since the recording started, so joining segments is a remux without re-encoding
(`vault/assemble.py`). One video encoder serves the whole recording and holds no frame back
(no look-ahead, no B-frames, one thread), so a segment's video is complete the moment its
last frame is encoded, and the recording holds one encoder's memory instead of one per open
segment. It is told which segments open with a keyframe (`protocol/segments/keyframes.py`):
H.264 segments in between begin with frames that refer to the segment before, which saves
most of a still screen's bytes; a player decodes them from the keyframe before. Audio has one
Opus encoder for the whole recording too, whose packets are dealt out to segments by time, so
joined audio has no encoder priming or end padding at the joins (Firefox refuses mid-stream
padding in WebM, and other players would play a 13.5 ms gap). Video frames reach the encoder
in time order, every segment's before the next one's. Audio is the master clock: callers
stamp frames and samples with times from the audio clock. Frames identical to the previous one
are skipped (variable frame rate): a still screen costs almost nothing.
"""

from __future__ import annotations

import fractions
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.frame import PictureType

from agent.capture.codec_names import CodecName
from agent.capture.colour_conversion import BT709, LIMITED_RANGE, ChangedRowsConverter
from agent.capture.mask import Pixels
from protocol.segments.format import MediaType
from protocol.segments.keyframes import opens_with_keyframe

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_RATE = 48_000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)


@dataclass(frozen=True, slots=True)
class VideoCodec:
    encoder: str
    container: str
    media_type: MediaType
    options: dict[str, str] = field(default_factory=dict)
    keyframe_every_segment: bool = False
    """Open every segment with a keyframe, not only those protocol/segments/keyframes.py names."""


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
    # A browser takes a WebM segment only with its own header, after which it decodes from a
    # keyframe again; the player strips that header from MP4 segments only.
    keyframe_every_segment=True,
)
# Options that hold no frame back, as the one encoder per recording needs (see above):
# `zerolatency` (no look-ahead, no frame threads: x264 then returns each frame's packet at
# once) and no B-frames (they would also reorder frames across the end of a segment). One
# thread, so that the stream does not depend on the desktop's cores; two slice threads made a
# few more bytes and saved no CPU in the whole pipeline (bench/encoder_options.py and
# bench/capture.py, docs/benchmarks.md). CRF 26: with a keyframe only every sixth segment the
# picture rests on P-frames, which x264 codes coarser than keyframes (ipratio); at CRF 28 the
# mean SSIM at every tick fell to 0.995 (bench/encoder_options.py). "forced-idr": the keyframe
# a segment opens with is an IDR frame, which nothing later refers across. "g": no keyframe of
# x264's own every 250 frames; the segmenter asks for them (protocol/segments/keyframes.py).
H264_VERYFAST = VideoCodec(
    "libx264",
    "mp4",
    MediaType.MP4,
    {
        "crf": "26",
        "preset": "veryfast",
        "tune": "stillimage,zerolatency",
        "bf": "0",
        "threads": "1",
        "forced-idr": "1",
        "g": "1000000",
    },
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


class RecordingVideoEncoder:
    """One video encoder for the whole recording; its packets go to the segment being written.

    Each frame's packet comes back from the call that encodes it: an encoder that held a frame
    back (options with look-ahead or B-frames) would put one segment's picture in another, so
    that is refused as an error."""

    def __init__(self, settings: EncoderSettings) -> None:
        # A stream of a throwaway container, as for audio: the segments' video streams are
        # made from it, with its parameters (the SPS and PPS an MP4 keeps in its header).
        self._holder = av.open(io.BytesIO(), mode="w", format=settings.codec.container)
        stream = self._holder.add_stream(settings.codec.encoder)
        assert isinstance(stream, av.VideoStream)  # noqa: S101 - narrows PyAV's union
        stream.width, stream.height, stream.pix_fmt = settings.width, settings.height, "yuv420p"
        # The encoder's own time base, not only the stream's: PyAV rescales frame timestamps
        # into it, and a frame-rate time base (1/5) would round each grab time by up to 100 ms.
        stream.codec_context.time_base = VIDEO_TIME_BASE
        stream.time_base = VIDEO_TIME_BASE
        # Say which matrix the pixels were converted with: untagged, Firefox assumes BT.709
        # and Chromium BT.601, and one of them would show every colour shifted.
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = BT709
        context.color_range = LIMITED_RANGE
        stream.options = dict(settings.codec.options)
        self._holder.start_encoding()  # opens the encoder, which fills in the parameters
        self.stream = stream
        self._converter = ChangedRowsConverter()
        self._last_at: float | None = None

    def encode(self, fitted: Pixels, at: float, *, keyframe: bool) -> av.Packet[av.VideoStream]:
        """The packet of one BGRA frame of the encoder's size, shown from `at` seconds."""
        if self._last_at is not None and at <= self._last_at:
            raise ValueError(f"video frame at {at:.3f} s after one at {self._last_at:.3f} s")
        self._last_at = at
        frame = self._converter.convert(fitted)
        frame.pts = round(at / VIDEO_TIME_BASE)
        frame.time_base = VIDEO_TIME_BASE
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        packets = self.stream.encode(frame)
        if len(packets) != 1 or (keyframe and not packets[0].is_keyframe):
            raise RuntimeError(
                f"the {self.stream.codec_context.name} encoder gave {len(packets)} packets for"
                f" one frame{' and no keyframe' if keyframe and packets else ''}: its options"
                " must hold no frame back (no look-ahead, no B-frames) and obey keyframes"
            )
        return packets[0]

    def repeats_last(self, fitted: Pixels) -> bool:
        """Whether `fitted` is, pixel for pixel, the frame encoded last."""
        return self._converter.repeats_last(fitted)

    def close(self) -> None:
        self.stream.encode(None)  # holds nothing back, so nothing is left to drain
        self._holder.close()


class SegmentWriter:
    """One segment: a video and an Opus audio stream muxed into an in-memory container."""

    def __init__(
        self,
        settings: EncoderSettings,
        index: int,
        video_encoder: RecordingVideoEncoder,
        audio_template: av.AudioStream,
        *,
        keyframe_first: bool,
    ) -> None:
        self.index = index
        self._keyframe_first = keyframe_first
        self.start = index * settings.segment_seconds
        self.end = self.start + settings.segment_seconds
        self._settings = settings
        self._encoder = video_encoder
        self._buffer = io.BytesIO()
        self._output = av.open(self._buffer, mode="w", format=settings.codec.container)
        self._video = self._output.add_stream_from_template(video_encoder.stream)
        self._audio = self._output.add_stream_from_template(audio_template)
        self._last_frame: Pixels | None = None
        self._skipped_until: float | None = None
        self.video_done = False
        self.frames_encoded = 0
        self.frames_skipped = 0
        self.audio_packets = 0

    @property
    def last_frame(self) -> Pixels | None:
        return self._last_frame

    def add_frame(self, pixels: Pixels, at: float) -> None:
        fitted = fit_frame(pixels, self._settings.width, self._settings.height)
        # The first frame is always encoded (an MP4 segment without a frame would drop its
        # video track). The grabber hands the same frame back while the window is still: no
        # need to compare it.
        last = self._last_frame
        if last is not None and (fitted is last or self._encoder.repeats_last(fitted)):
            self.frames_skipped += 1
            self._skipped_until = at
            return
        self._last_frame = fitted
        self._skipped_until = None
        self._encode(fitted, at)

    def _encode(self, fitted: Pixels, at: float) -> None:
        packet = self._encoder.encode(
            fitted, at, keyframe=self._keyframe_first and self.frames_encoded == 0
        )
        packet.stream = self._video
        self._output.mux(packet)
        self.frames_encoded += 1

    def finish_video(self, still: Pixels | None = None) -> None:
        """The segment's last picture. A segment no grab reached (the grabber stalled) shows
        `still`, the latest picture, or black: every segment keeps its video stream (MP4
        would drop an empty track, and the segments would no longer join)."""
        if self.video_done:
            return
        self.video_done = True
        if self.frames_encoded == 0:
            blank = np.zeros((self._settings.height, self._settings.width, 4), dtype=np.uint8)
            self._last_frame = blank if still is None else still
            self._encode(self._last_frame, self.start)
        elif self._last_frame is not None and self._skipped_until is not None:
            # Repeat the still picture at the last grab, so the video runs to the end of the
            # segment (to the hang-up in the last one) instead of stopping at its last change.
            self._encode(self._last_frame, self._skipped_until)
            self.frames_skipped -= 1  # that grab is encoded after all

    def add_audio_packet(self, packet: av.Packet[av.AudioStream]) -> None:
        self.audio_packets += 1
        packet.stream = self._audio
        self._output.mux(packet)

    def close(self, still: Pixels | None = None) -> bytes:
        """Finish the file (and its video, if `finish_video` was not called yet)."""
        self.finish_video(still)
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
        self._video = RecordingVideoEncoder(settings)
        self._still: Pixels | None = None
        self.frames_left_out = 0

    def _index(self, at: float) -> int:
        return max(0, int(at // self._settings.segment_seconds))

    def _writer(self, index: int) -> SegmentWriter | None:
        if index < self._next_to_emit:
            return None  # that segment is already finished; late data is dropped
        if index not in self._open:
            self._open[index] = SegmentWriter(
                self._settings,
                index,
                self._video,
                self._audio.stream,
                keyframe_first=self._settings.codec.keyframe_every_segment
                or opens_with_keyframe(index, self._settings.segment_seconds),
            )
        return self._open[index]

    def add_frame(self, pixels: Pixels, at: float) -> None:
        index = self._index(at)
        writer = self._writer(index)
        if writer is None or writer.video_done:
            return  # late: that segment's video is finished
        self._finish_video_before(index)
        writer.add_frame(pixels, at)
        self._still = writer.last_frame

    def _finish_video_before(self, index: int) -> None:
        """Every earlier segment's video ends before this one's starts (the encoder is one):
        a segment no grab reached gets its still picture now, in its place in time."""
        for earlier in range(self._next_to_emit, index):
            writer = self._writer(earlier)
            if writer is not None and not writer.video_done:
                writer.finish_video(self._still)
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
        self._video.close()

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
            data = writer.close(self._still)
            self._still = writer.last_frame
            self._on_segment(
                EncodedSegment(
                    index,
                    writer.start,
                    writer.end,
                    data,
                    self._settings.codec.media_type,
                    writer.frames_encoded,
                    writer.frames_skipped,
                )
            )
