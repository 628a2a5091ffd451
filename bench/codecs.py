"""Video codec candidates on a scripted business screen, as ratios to libx264 veryfast.

    .venv/bin/python bench/codecs.py [--seconds 60] [--fps 5] [--segment-seconds 10]

Starts a private Xvfb (1280x720) with openbox and an xterm in which a script types a customer
form character by character, prints order lines, scrolls and pauses. The screen is grabbed with
mss at the frame rate and kept lossless in memory (yuv420p); every candidate then encodes the
same frames the way the agent does (agent/capture/encoder.py): in memory, one self-contained
container per segment, frames identical to the previous one skipped (variable frame rate, pts
from the grab time). Per candidate: bytes and CPU seconds per recorded minute, and SSIM of the
decoded luma against the grabs. Prints a Markdown table.

SSIM: Y plane only, 8x8 uniform sliding windows, population (co)variances, C1 = (0.01*255)^2,
C2 = (0.03*255)^2. "mean" weights each encoded frame by how long it stays on screen (skipped
grabs keep showing it); "min" is the worst single encoded frame.
"""

from __future__ import annotations

import argparse
import contextlib
import fractions
import io
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.logging
import mss
import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT = 1280, 720
VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
Plane = npt.NDArray[np.uint8]

# Runs inside the xterm. A fixed seed keeps the typing rhythm the same from run to run, so two
# runs differ only by grab timing. One customer (form, order lines, scrolling history, pauses)
# takes about a minute. Rows are laid out for a 208x51 terminal.
SCREEN_SCRIPT = r"""
import random, sys, time
rng = random.Random(4711)
deadline = time.monotonic() + float(sys.argv[1])
out = sys.stdout
def put(text):
    out.write(text)
    out.flush()
def at(row, col, text=""):
    put(f"\x1b[{row};{col}H{text}")
def idle(seconds):
    time.sleep(min(seconds, max(0.0, deadline - time.monotonic())))
FIELDS = ["Customer name", "Account number", "Phone", "E-mail", "Street", "Postcode / City",
          "Reason for call", "Notes"]
CUSTOMERS = [
    ["Margarethe Vandenberghe", "ACC-2024-0081734", "+32 2 555 01 87",
     "m.vandenberghe@example.be", "Rue de la Loi 155", "1040 Etterbeek",
     "Invoice 88213 charged twice", "Refund second charge, confirm by e-mail"],
    ["Jonathan O'Sullivan", "ACC-2023-1177420", "+353 1 555 0199",
     "jon.osullivan@example.ie", "14 Harcourt Street", "D02 Dublin 2",
     "Change delivery address", "Next order to office, weekdays only"],
]
PRODUCTS = ["Desk lamp, LED, matte black", "Office chair, mesh, adjustable arms",
            "Monitor arm, dual, clamp", "Printer paper A4 80g (5 x 500)",
            "Headset, USB-C, noise cancelling", "Whiteboard markers (12)",
            "Laptop stand, aluminium", "Cable tray, under-desk, 120 cm"]
def form(customer):
    put("\x1b[2J\x1b[H\x1b[7m" + " ORDER DESK  |  New contact  |  Agent 4711  |  Queue: Billing"
        .ljust(206) + "\x1b[0m")
    at(3, 3, "+" + "-" * 100 + "+")
    for index, label in enumerate(FIELDS):
        at(5 + 2 * index, 5, f"{label:>16}: " + "_" * 60)
    at(21, 3, "+" + "-" * 100 + "+")
    at(3, 110, "History: 14 orders, 2 open tickets, last contact 2024-11-02")
    idle(2.0)
    for index, value in enumerate(customer):
        at(5 + 2 * index, 23)
        for char in value:
            put(char)
            idle(rng.uniform(0.06, 0.22))
        idle(rng.uniform(0.5, 1.5))
    idle(5.0)
def orders(count, start_row):
    at(start_row, 3, f"{'Line':>4}  {'SKU':<10}  {'Description':<40} {'Qty':>4} "
       f"{'Unit':>9} {'Total':>10}  Status")
    for line in range(1, count + 1):
        quantity = rng.randint(1, 12)
        unit = rng.randint(199, 24999) / 100
        at(start_row + line, 3, f"{line:>4}  SKU-{rng.randint(10000, 99999)}  "
           f"{rng.choice(PRODUCTS):<40} {quantity:>4} {unit:>9.2f} {quantity * unit:>10.2f}  "
           f"{rng.choice(['shipped', 'open', 'back-order', 'invoiced'])}")
    idle(6.0)
def scroll(count):
    at(51, 1)
    for line in range(count):
        put(f"\n  2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}  "
            f"order {rng.randint(100000, 999999)}  {rng.choice(PRODUCTS):<40} "
            f"{rng.randint(1, 999):>6}.{rng.randint(0, 99):02d} EUR  ticket {line}")
        idle(0.25)
    idle(6.0)
while time.monotonic() < deadline:
    for customer in CUSTOMERS:
        form(customer)
        orders(24, 23)
        scroll(30)
time.sleep(3600)
"""


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


# --- The scripted desktop -------------------------------------------------------------------


def free_display_number() -> int:
    for _ in range(200):
        number = random.randint(200, 999)
        if not (
            Path(f"/tmp/.X11-unix/X{number}").exists()  # noqa: S108 - X11's fixed socket dir
            or Path(f"/tmp/.X{number}-lock").exists()  # noqa: S108 - X11's fixed lock path
        ):
            return number
    raise RuntimeError("no free X display number between 200 and 999")


def wait_for_x_socket(number: int, server: subprocess.Popen[bytes], timeout: float) -> None:
    # A plain connect, not -displayfd: it proves the server accepts clients, which is what the
    # window manager and mss need next.
    path = f"/tmp/.X11-unix/X{number}"  # noqa: S108 - X11's fixed socket dir
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Xvfb :{number} exited with status {server.returncode}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
            except OSError:
                time.sleep(0.05)
                continue
            return
    raise RuntimeError(f"Xvfb :{number} did not accept connections within {timeout} s")


def executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found; install the Debian package that provides it")
    return found


@contextlib.contextmanager
def scripted_desktop(script_seconds: float) -> Iterator[str]:
    """Yield the X display name of a private desktop showing the scripted xterm."""
    processes: list[subprocess.Popen[bytes]] = []
    number = free_display_number()
    display = f":{number}"
    env = {**os.environ, "DISPLAY": display}
    try:
        server = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            [
                executable("Xvfb"),
                display,
                "-screen",
                "0",
                f"{WIDTH}x{HEIGHT}x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(server)
        wait_for_x_socket(number, server, timeout=10.0)
        processes.append(
            subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
                [executable("openbox"), "--sm-disable"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        time.sleep(0.5)  # let openbox manage the screen before the xterm maps, so it is framed
        processes.append(
            subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
                [
                    executable("xterm"),
                    "-geometry",
                    "208x51+0+0",
                    "-fn",
                    "fixed",
                    "-title",
                    "Order desk",
                    "-e",
                    sys.executable,
                    "-c",
                    SCREEN_SCRIPT,
                    str(script_seconds),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [executable("xdotool"), "search", "--sync", "--onlyvisible", "--name", "Order desk"],
            env=env,
            check=True,
            timeout=15,
            stdout=subprocess.DEVNULL,
        )
        yield display
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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
                yuv = av.VideoFrame.from_ndarray(bgra, format="bgra").reformat(format="yuv420p")
                recording.frames.append(np.asarray(yuv.to_ndarray(), dtype=np.uint8))
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


def box_mean(values: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """Mean over every size x size window (valid positions only), via an integral image."""
    integral = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    integral[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    sums = (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )
    return sums / (size * size)


def ssim(reference: Plane, decoded: Plane, window: int = 8) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    x = reference.astype(np.float64)
    y = decoded.astype(np.float64)
    mean_x, mean_y = box_mean(x, window), box_mean(y, window)
    variance_x = box_mean(x * x, window) - mean_x * mean_x
    variance_y = box_mean(y * y, window) - mean_y * mean_y
    covariance = box_mean(x * y, window) - mean_x * mean_y
    index_map = ((2 * mean_x * mean_y + c1) * (2 * covariance + c2)) / (
        (mean_x * mean_x + mean_y * mean_y + c1) * (variance_x + variance_y + c2)
    )
    return float(index_map.mean())


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


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


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

    with scripted_desktop(script_seconds=args.seconds + 30) as display:
        time.sleep(1.0)  # the script's first screen is drawn
        recording = grab(display, args.seconds, args.fps)

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
