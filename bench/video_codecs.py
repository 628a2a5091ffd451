"""Video codec candidates on a scripted business screen, as ratios to libx264 veryfast.

    .venv/bin/python bench/video_codecs.py [--seconds 60] [--fps 5] [--segment-seconds 10]

Starts a private Xvfb (1280x720) with openbox and an xterm in which a script types a customer
form character by character, prints order lines, scrolls and pauses (bench/scripted_desktop.py).
The screen is grabbed with mss at the frame rate and kept lossless in memory (yuv420p); every
candidate then encodes the same frames the way the agent does (agent/capture/encoder.py): in
memory, one self-contained container per segment, frames identical to the previous one skipped
(variable frame rate, pts from the grab time). Per candidate: bytes and CPU seconds per
recorded minute, and SSIM of the decoded luma against the grabs. Prints a Markdown table.

SSIM (bench/ssim.py): Y plane only, 8x8 uniform sliding windows, population (co)variances,
C1 = (0.01*255)^2, C2 = (0.03*255)^2. "mean" weights each encoded frame by how long it stays on
screen (skipped grabs keep showing it); "min" is the worst single encoded frame.
"""

from __future__ import annotations

import argparse
import fractions
import io
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.logging
import mss
import numpy as np
from machine import cpu_model
from scripted_desktop import HEIGHT, WIDTH, scripted_desktop
from ssim import Plane, bgra_to_yuv420p, ssim

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)


@dataclass(frozen=True, slots=True)
class Candidate:
    label: str
    encoder: str
    container: str
    options: dict[str, str] = field(default_factory=dict)


# The baseline is what `ffmpeg -c:v libx264 -preset veryfast` does with no further tuning
# (CRF 23 is ffmpeg's default for libx264). The others are tuned for screen content.
BASELINE = Candidate(
    "H.264 x264 veryfast crf23 (baseline)", "libx264", "mp4", {"preset": "veryfast"}
)
CANDIDATES = [
    BASELINE,
    Candidate(
        "H.264 x264 veryfast stillimage crf30",
        "libx264",
        "mp4",
        {"preset": "veryfast", "tune": "stillimage", "crf": "30"},
    ),
    Candidate(
        "H.264 x264 medium stillimage crf30",
        "libx264",
        "mp4",
        {"preset": "medium", "tune": "stillimage", "crf": "30"},
    ),
    Candidate(
        "VP9 realtime cpu-used 8 screen crf38",
        "libvpx-vp9",
        "webm",
        {
            "deadline": "realtime",
            "cpu-used": "8",
            "crf": "38",
            "b": "0",
            "row-mt": "1",
            "tune-content": "screen",
        },
    ),
    Candidate(
        "VP9 good cpu-used 5 screen crf38",
        "libvpx-vp9",
        "webm",
        {
            "deadline": "good",
            "cpu-used": "5",
            "crf": "38",
            "b": "0",
            "row-mt": "1",
            "tune-content": "screen",
        },
    ),
    # SVT-AV1 4.1 maps preset 12 to 11, so 11 is the fastest there is.
    Candidate(
        "AV1 SVT preset 11 scm=1 crf40",
        "libsvtav1",
        "mp4",
        {"preset": "11", "crf": "40", "svtav1-params": "scm=1"},
    ),
    Candidate(
        "AV1 SVT preset 8 scm=1 crf40",
        "libsvtav1",
        "mp4",
        {"preset": "8", "crf": "40", "svtav1-params": "scm=1"},
    ),
]


@dataclass(slots=True)
class Recording:
    """Lossless grabs: each distinct frame once, and which one every grab slot showed."""

    fps: float
    frames: list[Plane] = field(default_factory=list)  # yuv420p, shape (H * 3 / 2, W)
    slot_frame: list[int] = field(default_factory=list)
    slot_time: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.slot_frame) / self.fps


@dataclass(frozen=True, slots=True)
class Result:
    candidate: Candidate
    total_bytes: int
    cpu_seconds: float
    frames_encoded: int
    frames_skipped: int
    ssim_mean: float
    ssim_min: float


class OptionRejectedError(RuntimeError):
    pass


# --- Grabbing ---------------------------------------------------------------------------


def grab(display: str, seconds: float, fps: float) -> Recording:
    recording = Recording(fps)
    region = {"left": 0, "top": 0, "width": WIDTH, "height": HEIGHT}
    previous: bytes | None = None
    with mss.MSS(display=display) as screen:
        start = time.monotonic()
        for slot in range(round(seconds * fps)):
            time.sleep(max(0.0, start + slot / fps - time.monotonic()))
            taken_at = time.monotonic() - start
            shot = screen.grab(region)
            raw = bytes(shot.raw)
            if raw != previous:
                bgra = np.frombuffer(raw, dtype=np.uint8).reshape(HEIGHT, WIDTH, 4)
                recording.frames.append(bgra_to_yuv420p(bgra))
                previous = raw
            recording.slot_frame.append(len(recording.frames) - 1)
            recording.slot_time.append(taken_at)
    return recording


# --- Encoding and measuring ------------------------------------------------------------------


def check_option_names(candidate: Candidate) -> None:
    # PyAV ignores option names the encoder does not know; refuse them instead so a typo
    # cannot silently measure the default settings.
    supported = av.codec.CodecContext.create(candidate.encoder, "w").supported_options
    known = {option.name for option in (*supported.generic, *supported.private)}
    unknown = sorted(set(candidate.options) - known)
    if unknown:
        raise OptionRejectedError(f"{candidate.encoder} has no option {', '.join(unknown)}")


def encode_segment(
    candidate: Candidate, recording: Recording, slots: list[int]
) -> tuple[bytes, list[int]]:
    """One self-contained container; returns its bytes and the slots actually encoded."""
    buffer = io.BytesIO()
    encoded: list[int] = []
    with av.open(buffer, mode="w", format=candidate.container) as output:
        stream = output.add_stream(
            candidate.encoder, rate=round(recording.fps), options=dict(candidate.options)
        )
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.time_base = VIDEO_TIME_BASE
        stream.codec_context.time_base = VIDEO_TIME_BASE
        stream.gop_size = round(recording.fps * 10)  # keyint 10 s, one keyframe per segment
        previous_frame = -1
        for slot in slots:
            frame_index = recording.slot_frame[slot]
            # The first frame of a segment is always encoded: the segment decodes from it.
            if frame_index == previous_frame:
                continue
            previous_frame = frame_index
            frame = av.VideoFrame.from_ndarray(recording.frames[frame_index], format="yuv420p")
            frame.pts = round(recording.slot_time[slot] / VIDEO_TIME_BASE)
            frame.time_base = VIDEO_TIME_BASE
            output.mux(stream.encode(frame))
            encoded.append(slot)
        output.mux(stream.encode(None))
    return buffer.getvalue(), encoded


def decoded_luma(data: bytes) -> list[Plane]:
    with av.open(io.BytesIO(data), mode="r") as container:
        return [
            np.asarray(frame.to_ndarray(format="yuv420p")[:HEIGHT], dtype=np.uint8)
            for frame in container.decode(video=0)
        ]


def measure(candidate: Candidate, recording: Recording, segment_seconds: float) -> Result:
    check_option_names(candidate)
    slots_per_segment = max(1, round(segment_seconds * recording.fps))
    all_slots = list(range(len(recording.slot_frame)))
    segments: list[tuple[bytes, list[int]]] = []
    # FFmpeg logging is off in PyAV by default; Capture only sees messages while it is on.
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture(local=False) as logs:
            started = time.process_time()
            for first in range(0, len(all_slots), slots_per_segment):
                slots = all_slots[first : first + slots_per_segment]
                segments.append(encode_segment(candidate, recording, slots))
            cpu_seconds = time.process_time() - started
    finally:
        av.logging.set_level(None)
    # Encoders parse "*-params" strings themselves and only log what they did not understand.
    rejected = [message for _level, _name, message in logs if "Error parsing option" in message]
    if rejected:
        raise OptionRejectedError(" ".join(message.strip() for message in rejected))

    weighted_sum, weight_total, worst = 0.0, 0, 1.0
    frames_encoded = 0
    for data, encoded_slots in segments:
        pictures = decoded_luma(data)
        if len(pictures) != len(encoded_slots):
            raise RuntimeError(
                f"{candidate.label}: {len(encoded_slots)} frames encoded, {len(pictures)} decoded"
            )
        ends = [*encoded_slots[1:], encoded_slots[0] + slots_per_segment]
        for slot, end, picture in zip(encoded_slots, ends, pictures, strict=True):
            shown_slots = min(end, len(recording.slot_frame)) - slot
            reference = recording.frames[recording.slot_frame[slot]][:HEIGHT]
            score = ssim(reference, picture)
            weighted_sum += score * shown_slots
            weight_total += shown_slots
            worst = min(worst, score)
        frames_encoded += len(encoded_slots)
    return Result(
        candidate=candidate,
        total_bytes=sum(len(data) for data, _ in segments),
        cpu_seconds=cpu_seconds,
        frames_encoded=frames_encoded,
        frames_skipped=len(recording.slot_frame) - frames_encoded,
        ssim_mean=weighted_sum / weight_total,
        ssim_min=worst,
    )


# --- Report ----------------------------------------------------------------------------------


def table(results: list[Result], rejected: list[tuple[Candidate, str]], minutes: float) -> str:
    baseline = results[0]
    assert baseline.candidate is BASELINE
    base_bytes = baseline.total_bytes / minutes
    base_cpu = baseline.cpu_seconds / minutes
    lines = [
        "| candidate | container | encoded / skipped frames | KB per min | x baseline "
        "| CPU s per min | x baseline | SSIM mean | SSIM min |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        per_minute = result.total_bytes / minutes
        cpu = result.cpu_seconds / minutes
        lines.append(
            f"| {result.candidate.label} | {result.candidate.container} "
            f"| {result.frames_encoded} / {result.frames_skipped} "
            f"| {per_minute / 1000:.0f} | {per_minute / base_bytes:.2f} "
            f"| {cpu:.2f} | {cpu / base_cpu:.2f} "
            f"| {result.ssim_mean:.4f} | {result.ssim_min:.4f} |"
        )
    for candidate, reason in rejected:
        lines.append(f"| {candidate.label} | rejected: {reason} | | | | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    args = parser.parse_args()
    # SVT-AV1 prints its configuration banner on every encoder open; warnings and errors stay.
    os.environ.setdefault("SVT_LOG", "2")

    with (
        tempfile.TemporaryDirectory(prefix="callreel-bench-codecs-") as home,
        scripted_desktop(Path(home), script_seconds=args.seconds + 30, fullscreen=False) as desk,
    ):
        time.sleep(1.0)  # the script's first screen is drawn
        recording = grab(desk.display, args.seconds, args.fps)

    minutes = recording.seconds / 60
    results: list[Result] = []
    rejected: list[tuple[Candidate, str]] = []
    for candidate in CANDIDATES:
        print(f"encoding: {candidate.label}", file=sys.stderr, flush=True)
        try:
            results.append(measure(candidate, recording, args.segment_seconds))
        except (OptionRejectedError, av.FFmpegError) as error:
            if candidate is BASELINE:
                raise
            rejected.append((candidate, str(error)))

    unchanged = len(recording.slot_frame) - len(recording.frames)
    print(
        f"{recording.seconds:.0f} s at {args.fps:g} fps, {WIDTH}x{HEIGHT}, "
        f"{len(recording.slot_frame)} grabs, {len(recording.frames)} distinct "
        f"({unchanged} identical to the previous grab), "
        f"segments of {args.segment_seconds:g} s (first frame of each always encoded)"
    )
    print(
        f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}; "
        f"Python {platform.python_version()}, PyAV {av.__version__}"
    )
    print()
    print(table(results, rejected, minutes))


if __name__ == "__main__":
    main()
