"""The shipped capture pipeline against ffmpeg, recording the same screen and call at once.

    .venv/bin/python bench/capture.py [--seconds 60] [--fps 5] [--codec vp9 h264]
        [--size 1920x1080] [--scene scroll]

A private 1280x720 (or --size) Xvfb + openbox shows the scripted order desk of
bench/scripted_desktop.py as a fullscreen xterm (form filling, typing, order lines, scrolling;
with `--scene scroll`, a long history scrolled through in flicks for the whole minute),
and a private PulseAudio (tests/pulse.py) carries a spoken call: espeak-ng sentences of a
caller into the far-end sink `callsink` and of the agent into the microphone sink `micsink`,
taking turns, looped.

Started together and measured in the same run, so every recorder sees the same screen and
hears the same call:

- `callreel-agent record` once per `--codec`, as shipped: the title whitelist, the occlusion
  mask, encoding, sealing and the spool (microphone `virtmic` left, far end
  `callsink.monitor` right, by the sound server's names as on a Linux desk, so read from the
  server itself; Opus 32 kb/s);
- the baseline, ffmpeg: x11grab of the same 1280x720 region at the same frame rate (no mouse
  pointer; mss does not grab it either), libx264 `-preset veryfast` (default CRF 23) in
  yuv420p, and the same two PulseAudio sources merged into stereo (microphone left, far end
  right) in libopus at 32 kb/s, like the agent, in Matroska;
- the reference: lossless grabs of the same region by this process with mss at the frame
  rate, each stamped with its time, distinct grabs stored raw (BGRA) in a temporary file.

Per recorder: CPU seconds (user + system from os.wait4 of the child: its own threads and any
children it waited for) per recorded minute and as a ratio to ffmpeg's; MB per recorded minute
(Callreel: the sealed segment files in the spool, and the container `callreel-vault assemble`
joins from them; ffmpeg: its output file); peak RSS (ru_maxrss of the child); and legibility:
each decoded frame's luma against a reference grab's luma (the same BT.601 conversion by
libswscale), SSIM as in bench/ssim.py.

Legibility is scored at every tick of the frame interval (200 ms at 5 fps) over the recording:
the frame a viewer sees then (the latest decoded frame whose time has come; a recorder that
stores a still screen once shows it until the next) against the reference grab on screen at
that moment. The recorders and the reference grabber sample the screen at different phases of
the frame interval, so while someone types the grab closest in time can show one keystroke
more or less than the recorder saw; that is sampling, not legibility. So the reference grabs
`--reference-rate` times (default 4) as often as the recorders, and each tick is compared
with every distinct reference grab within one frame interval of it and keeps the best (highest)
SSIM: with grabs 50 ms apart, one of them shows what the recorder grabbed, in all but the
fastest changes. "SSIM mean/min" are the mean and the worst over the ticks; the figures
against the grab closest in time are reported as well. A recording's clock (its first frame
is time 0) is mapped to the grabber's by the offset, among those single frames' matches
propose, under which the whole recording looks most like the grabs nearest in time
(thumbnails).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import mss
import numpy as np
import numpy.typing as npt
from machine import cpu_model
from scripted_desktop import HEIGHT, REPO_ROOT, SCENES, WIDTH, WINDOW_TITLE, scripted_desktop
from ssim import Plane, bgra_luma, ssim

from testbed.process_threads import ThreadCpuSampler, thread_cpu
from testbed.programs import stop_processes
from testbed.pulse import running_pulse_server

BIN = Path(sys.executable).parent
CODEC_CONTAINERS = {"vp9": "webm", "h264": "mp4"}
AUDIO_BITRATE = "32k"  # what agent/capture/encoder.py gives Opus
THUMB_STEP = 8  # thumbnails for matching frames in time: 8x8 pixel block means, 160x90
SPEECH_RATE = 22_050  # espeak-ng's output rate; PulseAudio resamples to the sinks' 48 kHz

CALLER_LINES = [
    "Hello, this is Margarethe Vandenberghe. I am calling about invoice eight eight two one"
    " three, it was charged twice on my card.",
    "My account number is A C C, two zero two four, zero zero eight one seven three four.",
    "Yes, the second charge was on the fourth of November. Can you refund it to the same card?",
    "An e-mail confirmation would be great. Thank you very much for your help.",
]
AGENT_LINES = [
    "Good morning, order desk, you are speaking with Sam. How can I help you today?",
    "I am sorry to hear that. Could you give me your account number, please?",
    "Thank you. I can see two charges of the same amount. Let me check the order lines.",
    "Yes, I will refund the second charge now. It takes three to five working days, and you"
    " will get an e-mail confirmation.",
]


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def executable(name: str) -> str:
    found = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if found is None:
        raise RuntimeError(f"{name} not found; install the package that provides it")
    return found


# --- The call --------------------------------------------------------------------------------


def spoken(text: str, voice: str, directory: Path, name: str) -> npt.NDArray[np.int16]:
    path = directory / f"{name}.wav"
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [executable("espeak-ng"), "-v", voice, "-s", "165", "-w", str(path), text],
        check=True,
        timeout=60,
        stdout=subprocess.DEVNULL,
    )
    with wave.open(str(path), "rb") as speech:
        if speech.getframerate() != SPEECH_RATE or speech.getnchannels() != 1:
            raise RuntimeError(f"espeak-ng wrote {speech.getparams()}, expected 22050 Hz mono")
        return np.frombuffer(speech.readframes(speech.getnframes()), dtype=np.int16)


def write_wav(path: Path, samples: npt.NDArray[np.int16]) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SPEECH_RATE)
        out.writeframes(samples.tobytes())


def make_call(directory: Path, seconds: float) -> tuple[Path, Path]:
    """Far-end and microphone tracks of a conversation: the agent and the caller take turns
    (each track is silent while the other side speaks), looped to `seconds`. The microphone
    track carries faint noise (about -60 dBFS), as a real headset does."""
    far_end: list[npt.NDArray[np.int16]] = []
    microphone: list[npt.NDArray[np.int16]] = []
    pause = np.zeros(round(0.6 * SPEECH_RATE), dtype=np.int16)
    for turn, (agent_text, caller_text) in enumerate(zip(AGENT_LINES, CALLER_LINES, strict=True)):
        agent = np.concatenate([spoken(agent_text, "en-gb+m3", directory, f"agent{turn}"), pause])
        caller = np.concatenate(
            [spoken(caller_text, "en-us+f2", directory, f"caller{turn}"), pause]
        )
        microphone += [agent, np.zeros_like(caller)]
        far_end += [np.zeros_like(agent), caller]
    one_far, one_microphone = np.concatenate(far_end), np.concatenate(microphone)
    repeats = int(seconds * SPEECH_RATE // len(one_far)) + 1
    noise = np.random.default_rng(4711).normal(0, 33, len(one_microphone) * repeats)
    microphone_track = (np.tile(one_microphone, repeats) + noise).clip(-32768, 32767)
    far_path, microphone_path = directory / "far-end.wav", directory / "microphone.wav"
    write_wav(far_path, np.tile(one_far, repeats))
    write_wav(microphone_path, microphone_track.astype(np.int16))
    return far_path, microphone_path


# --- Reference grabs -------------------------------------------------------------------------


class ReferenceGrabber(threading.Thread):
    """Grabs the region at the frame rate; distinct grabs go raw (BGRA) to `path`."""

    def __init__(self, display: str, path: Path, fps: float, size: tuple[int, int]) -> None:
        super().__init__(name="reference-grabber", daemon=True)
        self._display, self.path, self.fps = display, path, fps
        self.size = size  # width, height
        self._stop_requested = threading.Event()
        self.slot_times: list[float] = []  # time.monotonic() halfway through each grab
        self.slot_frames: list[int] = []  # index of the distinct frame each grab showed
        self.distinct = 0
        self.error: BaseException | None = None

    def stop(self) -> None:
        self._stop_requested.set()
        self.join()
        if self.error is not None:
            raise RuntimeError(f"reference grabs failed: {self.error}") from self.error

    def run(self) -> None:
        region = {"left": 0, "top": 0, "width": self.size[0], "height": self.size[1]}
        previous = b""
        try:
            with mss.MSS(display=self._display) as screen, self.path.open("wb") as out:
                next_at = time.monotonic()
                while not self._stop_requested.wait(max(0.0, next_at - time.monotonic())):
                    before = time.monotonic()
                    raw = bytes(screen.grab(region).raw)
                    taken_at = (before + time.monotonic()) / 2
                    if raw != previous:
                        out.write(raw)
                        self.distinct += 1
                        previous = raw
                    self.slot_times.append(taken_at)
                    self.slot_frames.append(self.distinct - 1)
                    next_at += 1.0 / self.fps
        except Exception as exc:  # noqa: BLE001 - reported by stop() in the main thread
            self.error = exc


@dataclass(eq=False, slots=True)
class Reference:
    """The lossless grabs, read back from their file."""

    frames: npt.NDArray[np.uint8]  # (distinct, H, W, 4) memory-mapped BGRA
    slot_times: npt.NDArray[np.float64]
    slot_frames: npt.NDArray[np.int64]
    thumbs: npt.NDArray[np.float32] = field(init=False)
    # Decoded frames near each other in time need the same few grabs; keep the recent ones.
    _lumas: collections.OrderedDict[tuple[int, str], Plane] = field(
        init=False, default_factory=collections.OrderedDict
    )

    def __post_init__(self) -> None:
        self.thumbs = np.stack([thumbnail(self.luma(index)) for index in range(len(self.frames))])

    def luma(self, index: int, colorspace: str = "ITU601") -> Plane:
        key = (index, colorspace)
        if key in self._lumas:
            self._lumas.move_to_end(key)
            return self._lumas[key]
        luma = bgra_luma(np.asarray(self.frames[index]), colorspace)
        self._lumas[key] = luma
        if len(self._lumas) > 48:
            self._lumas.popitem(last=False)
        return luma


def thumbnail(luma: Plane) -> npt.NDArray[np.float32]:
    height, width = luma.shape[0] // THUMB_STEP, luma.shape[1] // THUMB_STEP
    blocks = luma[: height * THUMB_STEP, : width * THUMB_STEP].reshape(
        height, THUMB_STEP, width, THUMB_STEP
    )
    return np.asarray(blocks.mean(axis=(1, 3), dtype=np.float32), dtype=np.float32)


# --- Recorders -------------------------------------------------------------------------------


@dataclass(slots=True)
class Child:
    """A measured recorder process; `usage` is set once it has been reaped by os.wait4."""

    label: str
    process: subprocess.Popen[bytes]
    log: Path
    started_at: float
    ended_at: float = 0.0
    usage: resource.struct_rusage | None = None
    threads: ThreadCpuSampler = field(init=False)
    startup_cpu: float | None = None
    """CPU seconds spent before the recorder said it had started (imports, devices, keys)."""

    def __post_init__(self) -> None:
        self.threads = ThreadCpuSampler(self.process.pid)

    @property
    def cpu_seconds(self) -> float:
        assert self.usage is not None
        return float(self.usage.ru_utime + self.usage.ru_stime)

    @property
    def peak_rss_mb(self) -> float:
        assert self.usage is not None
        return float(self.usage.ru_maxrss) / 1024  # Linux reports KiB

    def reap(self, *, block: bool) -> bool:
        if self.usage is not None:
            return True
        pid, status, usage = os.wait4(self.process.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        # Popen must not wait for it again: the status is ours now.
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self.usage, self.ended_at = usage, time.monotonic()
        return True


def start_child(label: str, command: Sequence[str], env: dict[str, str], log: Path) -> Child:
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            list(command),
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Child(label, process, log, time.monotonic())


def agent_command(args: argparse.Namespace, codec: str, recipient: Path, spool: Path) -> list[str]:
    return [
        executable("callreel-agent"), "record", "--window", f"^{WINDOW_TITLE}$",
        "--seconds", f"{args.seconds:g}", "--recipient", str(recipient), "--spool", str(spool),
        "--microphone", "virtmic", "--far-end", "callsink.monitor", "--codec", codec,
        "--fps", f"{args.fps:g}", "--width", str(args.width), "--height", str(args.height),
        "--segment-seconds", f"{args.segment_seconds:g}",
    ]  # fmt: skip


def ffmpeg_command(args: argparse.Namespace, display: str, output: Path) -> list[str]:
    return [
        executable("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-thread_queue_size", "64", "-f", "x11grab", "-draw_mouse", "0",
        "-framerate", f"{args.fps:g}", "-video_size", f"{args.width}x{args.height}",
        "-i", f"{display}+0,0",
        "-thread_queue_size", "1024", "-f", "pulse", "-sample_rate", "48000", "-channels", "1",
        "-i", "virtmic",
        "-thread_queue_size", "1024", "-f", "pulse", "-sample_rate", "48000", "-channels", "1",
        "-i", "callsink.monitor",
        "-filter_complex", "[1:a][2:a]amerge=inputs=2[call]", "-map", "0:v", "-map", "[call]",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-c:a", "libopus", "-b:a", AUDIO_BITRATE,
        "-t", f"{args.seconds:g}", "-y", str(output),
    ]  # fmt: skip


def wait_until_recording(agents: Sequence[Child], spools: Sequence[Path]) -> None:
    """Until every agent has started capturing, so ffmpeg starts at the same moment.

    The agent prints "started" once its pipeline runs; an agent that does not has at least
    opened its spool (manifest.sqlite) by then, which is a fraction of a second earlier.
    """
    deadline = time.monotonic() + 30
    for agent, spool in zip(agents, spools, strict=True):
        spool_seen: float | None = None
        while time.monotonic() < deadline:
            if agent.process.poll() is not None:
                raise RuntimeError(f"{agent.label} exited early: {agent.log.read_text()[-2000:]}")
            if b"started" in agent.log.read_bytes():
                agent.startup_cpu = sum(cpu for _, cpu in thread_cpu(agent.process.pid).values())
                break
            if (spool / "manifest.sqlite").exists():
                spool_seen = spool_seen or time.monotonic()
                # Past the agent's audio settling time (1.5 s) and its start.
                if time.monotonic() - spool_seen > 5.0:
                    break
            time.sleep(0.05)


# --- Legibility ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Legibility:
    frames: int  # decoded
    ticks: int  # frame intervals scored: the frame on display at each
    offset: float  # recording time 0 in the grabber's time.monotonic()
    matrix: str  # the YUV conversion the reference luma was made with
    ssim_mean: float
    ssim_min: float
    closest_mean: float
    closest_min: float
    not_closest: int  # ticks whose best match was not the grab closest in time


def decoded_frames(path: Path) -> Iterator[tuple[float, Plane]]:
    with av.open(str(path), mode="r") as container:
        for frame in container.decode(video=0):
            if frame.time is None:
                raise RuntimeError(f"{path}: a frame without a timestamp")
            planes = frame.to_ndarray(format="yuv420p")
            luma = planes[: planes.shape[0] * 2 // 3]  # Y, then U and V at half height
            yield float(frame.time), np.asarray(luma, dtype=np.uint8)


def conversion_matrix(path: Path) -> str:
    """The matrix the recorder converted BGRA with: BT.709 if the video says so, otherwise
    BT.601, which is what libswscale (and so ffmpeg and PyAV) uses for untagged output."""
    with av.open(str(path), mode="r") as container:
        frame = next(container.decode(video=0))
        return "ITU709" if frame.colorspace == 1 else "ITU601"  # AVCOL_SPC_BT709


def estimate_offset(reference: Reference, path: Path, started_at: float) -> tuple[float, int]:
    """Grabber time of the recording's time 0, and how many frames were decoded.

    Each decoded frame is matched (thumbnail mean absolute difference) to the reference grabs
    taken after the recorder started and at most 20 s later than its own time would put it,
    which proposes an offset: where that grab stood, minus the frame's time. Of the proposals,
    the one under which all decoded frames together look most like the grabs nearest their
    times wins. A single frame can match the wrong grab (lines of a scrolled list look alike
    in a thumbnail); the whole recording rarely does.
    """
    slot_times, slot_frames = reference.slot_times, reference.slot_frames
    proposals: set[float] = set()
    times: list[float] = []
    thumbs: list[npt.NDArray[np.float32]] = []
    for at, luma in decoded_frames(path):
        thumb = thumbnail(luma)
        times.append(at)
        thumbs.append(thumb)
        window = (slot_times >= started_at + at - 1.0) & (slot_times <= started_at + at + 20.0)
        candidates = np.unique(slot_frames[window])
        if not len(candidates):
            continue
        distances = np.abs(reference.thumbs[candidates] - thumb).mean(axis=(1, 2))
        best = int(candidates[int(np.argmin(distances))])
        shown_at = slot_times[window & (slot_frames == best)]
        proposals.add(round(float(np.median(shown_at)) - at, 3))
    if not proposals:
        raise RuntimeError(f"{path}: no decoded frame matches the reference grabs")
    decoded_at = np.array(times)
    decoded = np.stack(thumbs)

    def mismatch(offset: float) -> float:
        nearest = nearest_slots(slot_times, decoded_at + offset)
        return float(np.abs(decoded - reference.thumbs[slot_frames[nearest]]).mean())

    return min(sorted(proposals), key=mismatch), len(times)


def nearest_slots(
    slot_times: npt.NDArray[np.float64], at: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """The index of the reference grab nearest in time to each of `at` (sorted slots)."""
    after = np.clip(np.searchsorted(slot_times, at), 1, len(slot_times) - 1)
    before = after - 1
    earlier = np.abs(at - slot_times[before]) <= np.abs(slot_times[after] - at)
    return np.where(earlier, before, after)


def frames_on_display(path: Path, interval: float) -> Iterator[tuple[float, Plane]]:
    """Each tick of the frame interval from the recording's first frame to its last frame's
    end, with the decoded frame a viewer sees then: the latest one whose time has come (a
    recorder that stores a still screen once shows that frame until the next). Ticks are laid
    on the first frame's time, and each frame is put on the tick nearest its own time: a grab
    stamped a millisecond after its tick belongs to that tick, not the next."""
    first: float | None = None
    tick = 0
    shown: Plane | None = None
    for at, luma in decoded_frames(path):
        if first is None:
            first = at
        own_tick = round((at - first) / interval)
        while shown is not None and tick < own_tick:
            yield first + tick * interval, shown
            tick += 1
        shown = luma
    if shown is not None and first is not None:
        yield first + tick * interval, shown


def legibility(reference: Reference, path: Path, started_at: float, fps: float) -> Legibility:
    interval = 1.0 / fps
    offset, frames = estimate_offset(reference, path, started_at)
    slot_times, slot_frames = reference.slot_times, reference.slot_frames
    matrix = conversion_matrix(path)
    scores: dict[tuple[bytes, int], float] = {}  # the same frame stands for many ticks
    digests: dict[int, bytes] = {}

    def score(luma: Plane, index: int) -> float:
        digest = digests.get(id(luma))
        if digest is None:
            digest = hashlib.blake2b(luma.tobytes(), digest_size=16).digest()
            digests.clear()  # one frame at a time is on display
            digests[id(luma)] = digest
        key = (digest, index)
        if key not in scores:
            scores[key] = ssim(reference.luma(index, matrix), luma)
        return scores[key]

    best_scores: list[float] = []
    closest_scores: list[float] = []
    not_closest = 0
    for at, luma in frames_on_display(path, interval):
        grabbed_at = at + offset
        nearest = int(np.argmin(np.abs(slot_times - grabbed_at)))
        closest = int(slot_frames[nearest])
        near = np.abs(slot_times - grabbed_at) <= interval
        candidates = sorted({closest, *(int(index) for index in slot_frames[near])})
        candidate_scores = [score(luma, index) for index in candidates]
        best = candidates[int(np.argmax(candidate_scores))]
        best_scores.append(max(candidate_scores))
        closest_scores.append(score(luma, closest))
        not_closest += best != closest
    return Legibility(
        frames=frames,
        ticks=len(best_scores),
        offset=offset,
        matrix=matrix,
        ssim_mean=float(np.mean(best_scores)),
        ssim_min=min(best_scores),
        closest_mean=float(np.mean(closest_scores)),
        closest_min=min(closest_scores),
        not_closest=not_closest,
    )


# --- The run ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    label: str
    child: Child
    recording: Path  # the decodable file: ffmpeg's output or the assembled recording
    stored_bytes: int  # sealed spool bytes (Callreel) or the output file (ffmpeg)
    container_bytes: int
    notes: str = ""
    quality: Legibility | None = None


def spool_bytes(spool: Path) -> int:
    return sum(path.stat().st_size for path in (spool / "segments").glob("*.seg"))


def assemble(agent: Child, identity: Path, spool: Path, output: Path) -> str:
    log = agent.log.read_text(errors="replace")
    if agent.process.returncode != 0:
        raise RuntimeError(f"{agent.label} failed ({agent.process.returncode}): {log[-3000:]}")
    found = re.search(r"recording ([0-9a-f-]{36}): (\d+) segments", log)
    counts = re.search(r"frames grabbed (\d+), blank (\d+), dropped (\d+)", log)
    if found is None or counts is None:
        raise RuntimeError(f"{agent.label}: unexpected output: {log[-3000:]}")
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [executable("callreel-vault"), "assemble", "--identity", str(identity),
         "--spool", str(spool), "--recording", found.group(1), "--out", str(output)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    grabbed, blank, dropped = counts.groups()
    return f"{found.group(2)} segments; grabbed {grabbed}, blank {blank}, dropped {dropped}"


@dataclass(slots=True)
class Session:
    """What one recording session produced, for `collect`."""

    agents: list[Child]
    spools: list[Path]
    ffmpeg: Child
    ffmpeg_output: Path
    grabber: ReferenceGrabber
    context: dict[str, str]


def wait_for_recorders(children: Sequence[Child], grabber: ReferenceGrabber) -> None:
    last_report = time.monotonic()
    while not all(child.reap(block=False) for child in children):
        for child in children:
            if child.usage is None:
                child.threads.sample()
        time.sleep(0.2)
        if time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            running = [child.label for child in children if child.usage is None]
            progress(
                f"  {last_report - children[0].started_at:.0f} s; reference grabs"
                f" {len(grabber.slot_times)} ({grabber.distinct} distinct); still running:"
                f" {', '.join(running)}"
            )


def record(args: argparse.Namespace, work: Path, recipient: Path) -> Session:
    """Run the recorders side by side on the scripted desktop and the spoken call."""
    progress("speech: espeak-ng")
    far_end, microphone = make_call(work, args.seconds + 60)
    (work / "pulse").mkdir()
    (work / "x").mkdir()
    children: list[Child] = []
    players: list[subprocess.Popen[bytes]] = []
    context = {"load before": Path("/proc/loadavg").read_text().strip()}
    # The script and the call last well past the agents' start-up and the recording's end.
    with (
        running_pulse_server(work / "pulse") as pulse,
        scripted_desktop(
            work / "x",
            args.seconds + 60,
            fullscreen=True,
            size=(args.width, args.height),
            scene=args.scene,
        ) as desk,
    ):
        try:
            env = {**pulse.env, "DISPLAY": desk.display}
            players += [
                subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
                    [executable("paplay"), f"--device={sink}", str(track)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for sink, track in (("callsink", far_end), ("micsink", microphone))
            ]
            grabber = ReferenceGrabber(
                desk.display,
                work / "reference.bgra",
                args.fps * args.reference_rate,
                (args.width, args.height),
            )
            grabber.start()
            time.sleep(1.0)
            spools = [work / f"spool-{codec}" for codec in args.codec]
            for codec, spool in zip(args.codec, spools, strict=True):
                command = agent_command(args, codec, recipient, spool)
                if args.profile:
                    profile = work / f"profile-{codec}.txt"
                    command = [executable("py-spy"), "record", "--native", "--threads",
                               "--rate", "50", "--format", "raw", "-o", str(profile),
                               "--", *command]  # fmt: skip
                children.append(
                    start_child(f"Callreel {codec}", command, env, work / f"agent-{codec}.log")
                )
            wait_until_recording(children, spools)
            ffmpeg_output = work / "ffmpeg.mkv"
            command = ffmpeg_command(args, desk.display, ffmpeg_output)
            children.append(start_child("ffmpeg x264 veryfast", command, env, work / "ffmpeg.log"))
            progress(f"recording {args.seconds:g} s: {', '.join(c.label for c in children)}")
            wait_for_recorders(children, grabber)
            time.sleep(1.0)
            grabber.stop()
            context["load after"] = Path("/proc/loadavg").read_text().strip()
        finally:
            stop_processes([*(c.process for c in children if c.usage is None), *players])
    return Session(children[:-1], spools, children[-1], ffmpeg_output, grabber, context)


def collect(session: Session, codecs: Sequence[str], identity: Path) -> tuple[list[Row], Reference]:
    progress("assembling the Callreel recordings")
    rows: list[Row] = []
    for codec, agent, spool in zip(codecs, session.agents, session.spools, strict=True):
        output = spool.parent / f"callreel-{codec}.{CODEC_CONTAINERS[codec]}"
        notes = assemble(agent, identity, spool, output)
        rows.append(
            Row(agent.label, agent, output, spool_bytes(spool), output.stat().st_size, notes)
        )
    ffmpeg = session.ffmpeg
    log = ffmpeg.log.read_text(errors="replace").strip()
    if ffmpeg.process.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({ffmpeg.process.returncode}): {log[-3000:]}")
    size = session.ffmpeg_output.stat().st_size
    rows.append(Row(ffmpeg.label, ffmpeg, session.ffmpeg_output, size, size, log[:200]))
    grabber = session.grabber
    # With --keep, enough to redo the comparison later without recording again.
    (grabber.path.parent / "reference.json").write_text(
        json.dumps(
            {
                "distinct": grabber.distinct,
                "width": grabber.size[0],
                "height": grabber.size[1],
                "fps": grabber.fps,
                "slot_times": grabber.slot_times,
                "slot_frames": grabber.slot_frames,
                "started_at": {row.recording.name: row.child.started_at for row in rows},
            }
        )
    )
    frames = np.memmap(
        grabber.path,
        dtype=np.uint8,
        mode="r",
        shape=(grabber.distinct, grabber.size[1], grabber.size[0], 4),
    )
    reference = Reference(
        frames, np.array(grabber.slot_times), np.array(grabber.slot_frames, dtype=np.int64)
    )
    span = grabber.slot_times[-1] - grabber.slot_times[0]
    session.context["reference"] = (
        f"{len(grabber.slot_times)} grabs over {span:.0f} s, {grabber.distinct} distinct"
    )
    return rows, reference


# --- Report ----------------------------------------------------------------------------------


def ffmpeg_version() -> str:
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [executable("ffmpeg"), "-version"], capture_output=True, text=True, check=False
    )
    return result.stdout.split("\n", 1)[0].removeprefix("ffmpeg version ").split(" ")[0]


def table(rows: Sequence[Row], seconds: float) -> str:
    per_minute = 60 / seconds
    baseline = rows[-1].child.cpu_seconds * per_minute
    lines = [
        "| recorder | CPU s per min | x ffmpeg | from the first frame (x ffmpeg) "
        "| MB per min stored | MB per min container "
        "| peak RSS MB | frames | SSIM mean | SSIM min | closest grab: mean / min | notes |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        cpu = row.child.cpu_seconds * per_minute
        # What an armed agent, started long before the call, spends on it: the process's
        # start-up (imports, keys, devices) left out. ffmpeg's is counted whole.
        recording = (row.child.cpu_seconds - (row.child.startup_cpu or 0.0)) * per_minute
        quality = row.quality
        assert quality is not None
        lines.append(
            f"| {row.label} | {cpu:.2f} | {cpu / baseline:.2f} "
            f"| {recording:.2f} ({recording / baseline:.2f}) "
            f"| {row.stored_bytes * per_minute / 1e6:.3f} "
            f"| {row.container_bytes * per_minute / 1e6:.3f} | {row.child.peak_rss_mb:.0f} "
            f"| {quality.frames} | {quality.ssim_mean:.4f} | {quality.ssim_min:.4f} "
            f"| {quality.closest_mean:.4f} / {quality.closest_min:.4f} | {row.notes} |"
        )
    return "\n".join(lines)


def thread_table(rows: Sequence[Row], seconds: float) -> str:
    """Each recorder's CPU per recorded minute by thread name (from /proc, sampled every
    0.2 s until it exited), and what it spent before it had started."""
    per_minute = 60 / seconds
    lines = []
    for row in rows:
        threads = ", ".join(
            f"{name} {cpu * per_minute:.2f}" for name, cpu in row.child.threads.by_name().items()
        )
        startup = row.child.startup_cpu
        start = "" if startup is None else f"; of which before it started: {startup:.2f} s"
        lines.append(f"- {row.label}: {threads}{start}")
    return "\n".join(lines)


def _screen_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or int(width) % 2 or int(height) % 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not an even WIDTHxHEIGHT such as 1920x1080")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument(
        "--codec",
        nargs="+",
        choices=sorted(CODEC_CONTAINERS),
        default=["vp9", "h264"],
        help="agent codecs, each its own `callreel-agent record` (default: both at once)",
    )
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument(
        "--reference-rate",
        type=int,
        default=4,
        help="reference grabs per recorder frame interval (default 4: phase-independent"
        " legibility; 1 as before issue 16's fourth steps)",
    )
    parser.add_argument(
        "--size",
        type=_screen_size,
        default=(WIDTH, HEIGHT),
        metavar="WxH",
        help=f"the screen and the fullscreen business window (default {WIDTH}x{HEIGHT})",
    )
    parser.add_argument(
        "--scene",
        choices=SCENES,
        default=SCENES[0],
        help="what the business window shows: the order desk being typed into (default), or"
        " a long history scrolled through as with a mouse wheel",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep recordings and logs in this new directory"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run each agent under `py-spy record` (collapsed stacks in the work directory;"
        " use with --keep); the CPU and memory figures then include py-spy's and mean nothing",
    )
    args = parser.parse_args()
    args.width, args.height = args.size
    args.codec = list(dict.fromkeys(args.codec))
    self_started = time.monotonic()

    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True)
            work = args.keep
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="callreel-cap-")))
        keys = work / "keys"
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [executable("callreel-vault"), "keygen", "--out", str(keys)],
            check=True, timeout=60, capture_output=True,
        )  # fmt: skip
        session = record(args, work, keys / "vault-recipient.pub")
        rows, reference = collect(session, args.codec, keys / "vault-identity.key")
        context = session.context
        for row in rows:
            progress(f"legibility: {row.label} ({row.recording.name})")
            quality = legibility(reference, row.recording, row.child.started_at, args.fps)
            row.quality = quality
            progress(
                f"  {quality.frames} frames decoded, {quality.ticks} ticks scored, offset"
                f" {quality.offset - row.child.started_at:+.2f} s after start, best match not"
                f" the closest grab for {quality.not_closest} ticks,"
                f" reference luma {quality.matrix}"
            )
        del reference  # its memory map, before the work directory goes

    print(
        f"{args.seconds:g} s of the {args.scene} scene at {args.fps:g} fps,"
        f" {args.width}x{args.height}, segments of"
        f" {args.segment_seconds:g} s; reference: {context['reference']}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()};"
        f" Python {platform.python_version()}, PyAV {av.__version__}, ffmpeg {ffmpeg_version()}"
    )
    print(f"load average before: {context['load before']}; after: {context['load after']}")
    print(f"benchmark wall time {time.monotonic() - self_started:.0f} s")
    print()
    print(table(rows, args.seconds))
    print()
    print("CPU s per recorded minute by thread:")
    print(thread_table(rows, args.seconds))


if __name__ == "__main__":
    main()
