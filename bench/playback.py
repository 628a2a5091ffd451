"""Playback of an hour-long recording in Chromium through the console, against the same
recording joined into one file and served from disk, in one run; and the vault's memory while
ten people start and seek playbacks at once.

    PYTHONPATH=. .venv/bin/python bench/playback.py                 # 60 minutes, 10 viewers
    PYTHONPATH=. .venv/bin/python bench/playback.py --quick         # 6 minutes, 3 viewers

The recording is made the agent's way: its real encoder writes one 10-second 720p segment of a
changing screen and a stereo tone, which is copied (remuxed, its times moved on) into every
segment of the hour, sealed with a per-recording key and uploaded to a real `callreel-vault
serve` as an agent uploads. The same segments joined are served from disk by a plain HTTPS
file server (Starlette's FileResponse, byte ranges) with the vault's certificate.

Measured in Debian's Chromium, rounds alternating, a fresh profile each time:
- first frame: from the navigation (for the console, the Play form's post, which logs the
  access and works out the layout) to the video's `loadeddata`;
- seek: from setting the position to 49:55 (the last segment of its keyframe group, so the
  player fetches six segments and the browser decodes a minute) to `seeked` with a frame.
Reported as medians and as ratios to the plain file. Targets (issue 14): first frame under 1 s
and under 3x the plain file's; vault memory growth under 200 MB for 10 viewers (the resident
size sampled at 20 Hz against the idle vault's), the segment path and, for contrast, the whole
joined file an API client can ask for.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import re
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import httpx
import numpy as np
import uvicorn
from machine import cpu_model
from playwright.sync_api import Browser, Page, sync_playwright
from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route
from vault_ingest import Vault, progress, running_vault

from agent.capture.encoder import AUDIO_RATE, EncodedSegment, EncoderSettings, Segmenter
from agent.vault_connection.client import DeviceClient, enrol
from protocol.keys import VaultRecipient
from protocol.pinned_tls import client_ssl_context
from protocol.recording_metadata import ConsentRecord, RecordingMetadata
from protocol.recording_vocabulary import ConsentMode
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType
from protocol.segments.keyframes import KEYFRAME_EVERY_SEGMENTS
from protocol.segments.seal import RecordingSealer
from protocol.signing import DeviceKey
from testbed.ports import free_port
from testbed.programs import require_program
from vault import accounts, devices, peaks
from vault.assemble import join_segments
from vault.db.opening import open_database
from vault.key_rotation import RECIPIENT_FILE
from vault.roles import Role
from vault.server import TLS_DIRECTORY, locations
from vault.tls import KEY_FILENAME

PASSWORD = "a long enough bench password"  # noqa: S105  (a throwaway vault's user)
SEGMENT_S = 10.0
SEEK_TO_S = 0.0  # set by main(): see seek_target
FIRST_FRAME_TARGET_S = 1.0
FIRST_FRAME_TARGET_RATIO = 3.0
MEMORY_TARGET_MB = 200.0
# Recorded in the page before any of its scripts run: when the first frame can be shown.
FIRST_FRAME_PROBE = """
document.addEventListener("loadeddata", () => {
  if (window.firstFrameMs === undefined) window.firstFrameMs = performance.now();
}, true);
"""
SEEK = """async (to) => {
  const v = document.getElementById("video");
  const began = performance.now();
  v.currentTime = to;
  await new Promise((done) => v.addEventListener("seeked", done, { once: true }));
  while (v.readyState < 2) await new Promise((r) => setTimeout(r, 5));
  return performance.now() - began;
}"""


# --- The recording ----------------------------------------------------------------------------


def template_group() -> list[bytes]:
    """The first keyframe group of a recording (a keyframe opens its first segment only), made
    by the agent's encoder: 720p, a bar moving across."""
    settings = EncoderSettings(segment_seconds=SEGMENT_S)
    made: list[EncodedSegment] = []
    segmenter = Segmenter(settings, made.append)
    screen = np.full((720, 1280, 4), 235, dtype=np.uint8)
    fps = 5
    seconds = SEGMENT_S * KEYFRAME_EVERY_SEGMENTS
    for number in range(round(seconds * fps)):
        screen[300:340, :, :3] = 235
        screen[300:340, (number * 25) % 1240 : (number * 25) % 1240 + 40, :3] = 40
        segmenter.add_frame(screen.copy(), number / fps)
    n = np.arange(round(seconds * AUDIO_RATE))
    tone = np.stack([np.sin(2 * np.pi * f * n / AUDIO_RATE) * 6000 for f in (440, 660)], axis=1)
    segmenter.add_audio(tone.astype(np.int16), 0.0)
    segmenter.finish()
    return [segment.data for segment in made[:KEYFRAME_EVERY_SEGMENTS]]


def moved_on(template: bytes, index: int) -> bytes:
    """The template moved `index` segments later: the same packets."""
    output = io.BytesIO()
    with av.open(io.BytesIO(template), "r") as source, av.open(output, "w", format="mp4") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None or packet.time_base is None:
                continue
            shift = round(index * SEGMENT_S / packet.time_base)
            packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return output.getvalue()


@dataclass(frozen=True)
class Recording:
    recording_id: uuid.UUID
    joined: Path
    segments: int


def upload(vault: Vault, segments: list[bytes], work: Path) -> Recording:
    """People and an enrol token in the database (as `callreel-vault user add` makes them),
    then enrolment, a session and the sealed segments over HTTPS, as the agent sends them."""
    engine = open_database(locations(vault.data).db_url)
    now = datetime.now(UTC)
    accounts.add_user(engine, "tina", frozenset({Role.TRAINER}), now=now, by="bench")
    accounts.add_user(engine, "rob", frozenset({Role.REVIEWER}), now=now, by="bench",
                      password=PASSWORD)  # fmt: skip
    accounts.add_user(engine, "alice", frozenset({Role.AGENT}), now=now, by="bench")
    trainer = accounts.issue_token(
        engine, "tina", now=now, label="bench", lifetime=timedelta(days=1), by="bench"
    )
    token = devices.issue_enrol_token(engine, "alice", by="bench", now=now)
    engine.dispose()
    recording_id = uuid.uuid4()
    sealer = RecordingSealer(VaultRecipient.load(vault.data / RECIPIENT_FILE), recording_id)
    with httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.cert), timeout=60) as c:
        key = DeviceKey.generate()
        device = DeviceClient(c, enrol(c, token, key, "bench-pc").device_id, key)
        session = c.post(
            "/api/v1/sessions",
            headers={"Authorization": f"Bearer {trainer}"},
            json={"agent": "alice", "calls": 1, "purpose": "training",
                  "expires_at": (now + timedelta(hours=8)).isoformat(),
                  "notice_text": "This call is recorded for training."},
        )  # fmt: skip
        session.raise_for_status()
        device.register_recording(recording_id, uuid.UUID(session.json()["session_id"]), now)
        metadata = RecordingMetadata(
            recording_id=recording_id, segment_seconds=SEGMENT_S, media_segments=len(segments),
            pauses=[], blanked=[], consent=ConsentRecord(mode=ConsentMode.NOT_REQUIRED),
            frames_dropped=0, frames_left_out=0, silence_inserted_samples=[0, 0],
        )  # fmt: skip
        sealed = [sealer.seal(i, MediaType.MP4, data) for i, data in enumerate(segments)]
        sealed.append(sealer.seal(METADATA_SEGMENT_INDEX, MediaType.JSON, metadata.to_json()))
        for number, data in enumerate(sealed):
            if not device.upload_segment(hashlib.sha256(data).hexdigest(), data):
                raise RuntimeError(f"segment {number} was not stored")
    joined = work / "joined.mp4"
    joined.write_bytes(join_segments(segments, "mp4"))
    return Recording(recording_id, joined, len(segments))


# --- The plain file server ---------------------------------------------------------------------


@contextlib.contextmanager
def plain_file_server(vault: Vault, joined: Path) -> Iterator[str]:
    page = '<!doctype html><video id="video" preload="auto" src="/joined.mp4"></video>'
    app = Starlette(
        routes=[
            Route("/", lambda _request: HTMLResponse(page)),
            Route("/joined.mp4", lambda _request: FileResponse(joined, media_type="video/mp4")),
        ]
    )
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning",
        ssl_certfile=str(vault.cert), ssl_keyfile=str(vault.data / TLS_DIRECTORY / KEY_FILENAME),
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"https://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join()


# --- Browser rounds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    first_frame_s: float
    seek_s: float


def _measured(page: Page) -> Round:
    deadline = time.monotonic() + 60
    while page.evaluate("window.firstFrameMs") is None:
        if time.monotonic() > deadline:
            raise RuntimeError("no first frame within 60 s")
        page.wait_for_timeout(20)
    first = float(page.evaluate("window.firstFrameMs")) / 1000
    seek = float(page.evaluate(SEEK, SEEK_TO_S)) / 1000
    return Round(first, seek)


def plain_round(browser: Browser, url: str) -> Round:
    context = browser.new_context(ignore_https_errors=True)
    try:
        context.add_init_script(FIRST_FRAME_PROBE)
        page = context.new_page()
        page.goto(url)
        return _measured(page)
    finally:
        context.close()


def console_round(browser: Browser, vault: Vault, recording: Recording) -> Round:
    context = browser.new_context(ignore_https_errors=True)
    try:
        context.add_init_script(FIRST_FRAME_PROBE)
        page = context.new_page()
        page.goto(f"{vault.url}/console/sign-in")
        page.get_by_label("User name").fill("rob")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/console/sign-in" not in url)
        page.goto(f"{vault.url}/console/recordings/{recording.recording_id}")
        page.get_by_label("Why are you opening it?").select_option("training")
        page.get_by_role(
            "button", name=re.compile("^Play")
        ).click()  # the navigation measured starts here
        page.wait_for_url(lambda url: "/console/play/" in url)
        return _measured(page)
    finally:
        context.close()


# --- Memory with many viewers -----------------------------------------------------------------


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no resident size for process {pid}")


def peak_growth_mb(vault: Vault, work: Callable[[], None]) -> float:
    """The most the vault's resident size rose above its idle size while `work` ran."""
    idle = resident_mb(vault.process.pid)
    peak, running = idle, True

    def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, resident_mb(vault.process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        work()
    finally:
        running = False
        sampler.join()
    return peak - idle


def viewers(vault: Vault, recording: Recording, count: int, *, whole: bool) -> Callable[[], None]:
    """`count` people at once, each starting a playback and doing what the player does: the
    first segments and the first run of the waveform, then a seek near 50 minutes (or, `whole`,
    the joined file an API client asks for, from its start and from the seek's byte)."""
    engine = open_database(locations(vault.data).db_url)
    now = datetime.now(UTC)
    tokens = []
    for number in range(count):
        name = f"viewer{number}{'w' if whole else 's'}"
        accounts.add_user(engine, name, frozenset({Role.REVIEWER}), now=now, by="bench")
        tokens.append(accounts.issue_token(engine, name, now=now, label="bench",
                                           lifetime=timedelta(hours=1), by="bench"))  # fmt: skip
    engine.dispose()
    seek_index = int(SEEK_TO_S // SEGMENT_S) % recording.segments

    def one(token: str) -> None:
        signed = {"Authorization": f"Bearer {token}"}
        verify = client_ssl_context(vault.cert)
        with httpx.Client(base_url=vault.url, verify=verify, headers=signed, timeout=300) as c:
            started = c.post(f"/api/v1/recordings/{recording.recording_id}/playback",
                             json={"purpose": "training"})  # fmt: skip
            started.raise_for_status()
            ticket = started.json()
            if whole:
                c.get(ticket["url"], headers={"Range": "bytes=0-1048575"}).raise_for_status()
                c.get(ticket["url"], headers={"Range": "bytes=-1048576"}).raise_for_status()
                return
            group_start = seek_index - seek_index % KEYFRAME_EVERY_SEGMENTS
            for index in (0, 1, 2, *range(group_start, seek_index + 3)):
                if index < recording.segments:
                    c.get(f"{ticket['segment_url']}{index}").raise_for_status()
            c.get(ticket["peaks_url"], params={"first": 0, "count": 30}).raise_for_status()

    def run() -> None:
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(one, tokens))

    return run


def waveform_seconds(vault: Vault, recording: Recording) -> tuple[float, float, float]:
    """The whole recording's waveform as the player gets it (runs of 30 segments through the
    vault) on the first playback (computed and sealed) and on a later one (opened); for the
    floor, the same peaks from the joined file on disk in this process."""
    engine = open_database(locations(vault.data).db_url)
    now = datetime.now(UTC)
    token = accounts.issue_token(
        engine, "rob", now=now, label="bench", lifetime=timedelta(hours=1), by="bench"
    )
    engine.dispose()
    signed = {"Authorization": f"Bearer {token}"}
    verify = client_ssl_context(vault.cert)
    timings = []
    with httpx.Client(base_url=vault.url, verify=verify, headers=signed, timeout=600) as c:
        for _playback in ("first", "later"):
            started = c.post(
                f"/api/v1/recordings/{recording.recording_id}/playback",
                json={"purpose": "training"},
            )
            started.raise_for_status()
            url = started.json()["peaks_url"]
            began = time.perf_counter()
            for first in range(0, recording.segments, 30):
                c.get(url, params={"first": first, "count": 30}).raise_for_status()
            timings.append(time.perf_counter() - began)
    began = time.perf_counter()
    peaks.of_window(recording.joined.read_bytes(), 0.0, min(3600.0, recording.segments * SEGMENT_S))
    return timings[0], timings[1], time.perf_counter() - began


# --- Report -----------------------------------------------------------------------------------


def median(rounds: list[Round], pick: Callable[[Round], float]) -> float:
    return statistics.median(pick(r) for r in rounds)


def seek_target(minutes: int) -> float:
    """Into the last segment of the keyframe group before 5/6 of the recording (49:55 of an
    hour): the player fetches and the browser decodes from the group's keyframe, five
    segments earlier (protocol/segments/keyframes.py), the longest a seek takes."""
    group_s = KEYFRAME_EVERY_SEGMENTS * SEGMENT_S
    return minutes * 60 * 5 // 6 // group_s * group_s - SEGMENT_S / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="6 minutes, 3 viewers, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.viewers, args.rounds = 6, 3, 3
    global SEEK_TO_S  # noqa: PLW0603 - one figure for the whole run
    SEEK_TO_S = seek_target(args.minutes)
    count = round(args.minutes * 60 / SEGMENT_S)
    print(f"# playback: a {args.minutes}-minute recording ({count} segments of {SEGMENT_S:g} s),"
          f" {args.rounds} rounds, {args.viewers} viewers; {cpu_model()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="callreel-bench-playback-") as tmp:
        work = Path(tmp)
        progress("encoding the template group of segments")
        group = template_group()
        segments = [moved_on(group[i % len(group)], i - i % len(group)) for i in range(count)]
        with running_vault(work, core=0) as vault:
            progress("uploading the recording")
            recording = upload(vault, segments, work)
            size_mb = recording.joined.stat().st_size / 1e6
            progress(f"joined file {size_mb:.1f} MB")
            plain: list[Round] = []
            console: list[Round] = []
            with plain_file_server(vault, recording.joined) as url, sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=require_program("chromium"),
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--no-first-run"],
                )  # fmt: skip
                try:
                    for number in range(args.rounds):
                        plain.append(plain_round(browser, url))
                        console.append(console_round(browser, vault, recording))
                        progress(f"round {number + 1}: plain {plain[-1]}, console {console[-1]}")
                finally:
                    browser.close()
            progress("the whole waveform")
            waveform = waveform_seconds(vault, recording)
        # A fresh vault process for each memory case, so one's memory does not hide the other's.
        growth = {}
        for whole in (False, True):
            with running_vault(work, core=0) as vault:
                growth[whole] = peak_growth_mb(
                    vault, viewers(vault, recording, args.viewers, whole=whole)
                )
    report(plain, console, growth, args.viewers)
    first_s, later_s, floor_s = waveform
    print(f"the whole waveform ({args.minutes} min): first playback {first_s:.2f} s (computed"
          f" and sealed), later {later_s:.2f} s (opened); decoding the joined file in-process"
          f" {floor_s:.2f} s ({first_s / floor_s:.2f}x, {later_s / floor_s:.3f}x)")  # fmt: skip


def report(plain: list[Round], console: list[Round], growth: dict[bool, float], n: int) -> None:
    first_plain, first_console = (
        median(plain, lambda r: r.first_frame_s),
        median(console, lambda r: r.first_frame_s),
    )
    seek_plain, seek_console = (
        median(plain, lambda r: r.seek_s),
        median(console, lambda r: r.seek_s),
    )
    first_ratio = first_console / first_plain
    print("| | plain file from disk | console (segments) | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| first frame, median | {first_plain * 1000:.0f} ms | {first_console * 1000:.0f} ms"
          f" | {first_ratio:.2f}x |")  # fmt: skip
    seek_at = f"{int(SEEK_TO_S // 60)}:{int(SEEK_TO_S % 60):02d}"
    print(f"| seek to {seek_at}, median | {seek_plain * 1000:.0f} ms"
          f" | {seek_console * 1000:.0f} ms | {seek_console / seek_plain:.2f}x |")  # fmt: skip
    print()
    print(f"vault memory growth, {n} viewers at once: segments {growth[False]:.0f} MB;"
          f" the whole joined file {growth[True]:.0f} MB")  # fmt: skip
    met = (
        first_console < FIRST_FRAME_TARGET_S
        and first_ratio < FIRST_FRAME_TARGET_RATIO
        and growth[False] < MEMORY_TARGET_MB
    )
    print(f"targets (first frame < {FIRST_FRAME_TARGET_S:g} s and < {FIRST_FRAME_TARGET_RATIO:g}x;"
          f" memory < {MEMORY_TARGET_MB:g} MB): {'met' if met else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
