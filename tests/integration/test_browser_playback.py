"""A joined Callreel recording plays in Blink, Gecko and WebKit, for both encoder codecs.

The recording is made with the real encoder and segmenter (three 2 s segments, joined by
remux); each engine loads it from a loopback server in a real browser process, reports what
it saw (see tests/data/playback_page.html) and the test judges: duration, frame size, the colour
at a time inside each colour span (so seeking lands in the right segment), that playback
advances, and that the audio decodes to two channels with each side's own tone.
"""

from __future__ import annotations

import functools
import http.client
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.capture.encoder import H264_VERYFAST, VP9_REALTIME, EncoderSettings, VideoCodec
from agent.capture.mask import Pixels
from testbed.x_display import XServer
from tests.helpers.browsers import Engine, MediaServer, open_in_browser, parse_range
from tests.helpers.synthetic_recording import record_segments, stereo_tone
from vault.assemble import join_segments

WIDTH, HEIGHT = 640, 360
FPS = 5
SEGMENT_SECONDS = 2.0
SEGMENTS = 3
DURATION = SEGMENT_SECONDS * SEGMENTS
LEFT_HZ, RIGHT_HZ = 440.0, 1000.0
# (start, end, RGB): the whole screen's background colour in each span of the recording.
COLOUR_SPANS = (
    (0.0, 2.0, (255, 0, 0)),
    (2.0, 4.0, (0, 255, 0)),
    (4.0, DURATION, (0, 0, 255)),
)
# Well inside each span, clear of the segment boundaries at 2 s and 4 s.
SEEK_TIMES = [1.0, 3.0, 5.0]
# Playback runs from here for at least PLAYED_SECONDS, across the join of segments 1 and 2.
PLAY_FROM = 3.7
PLAYED_SECONDS = 0.5
DURATION_TOLERANCE = 0.3
# Per channel: lossy coding, limited-range YUV 4:2:0 and the engine's own YUV -> RGB
# arithmetic move a solid colour by a few levels.
COLOUR_TOLERANCE = 12
FREQUENCY_TOLERANCE_HZ = 20.0
# The tone is a sine of amplitude 8000/32768, so RMS ~0.17; silence or noise is far below.
MINIMUM_RMS = 0.05
PAGE_TIMEOUT = 45.0

CODECS = {"vp9-webm": VP9_REALTIME, "h264-mp4": H264_VERYFAST}
MEDIA_TYPES = {"webm": "video/webm", "mp4": "video/mp4"}


def colour_at(t: float) -> tuple[int, int, int]:
    for start, end, rgb in COLOUR_SPANS:
        if start <= t < end:
            return rgb
    return COLOUR_SPANS[-1][2]


def shows_colour(seen: list[int], rgb: tuple[int, int, int]) -> bool:
    """The encoder tags its BT.709 conversion, so every engine must show the colour itself."""
    return all(abs(a - b) <= COLOUR_TOLERANCE for a, b in zip(seen, rgb, strict=True))


def screen_at(t: float) -> Pixels:
    """A solid background in the span's colour, dark 'lines of text' in the top left, and a
    white marker along the bottom that moves every frame, so no frame is a still to skip.
    The centre, where the page samples, is always plain background."""
    red, green, blue = colour_at(t)
    pixels = np.empty((HEIGHT, WIDTH, 4), dtype=np.uint8)
    pixels[:] = (blue, green, red, 255)  # BGRA
    for line in range(6):
        top = 20 + line * 16
        pixels[top : top + 8, 20 : 20 + 60 + 37 * line % 150, :3] = 30
    marker = round(t * FPS) * 12 % (WIDTH - 24)
    pixels[HEIGHT - 30 : HEIGHT - 10, marker : marker + 24, :3] = 255
    return pixels


def stereo_test_tone(start_sample: int, count: int) -> np.ndarray:
    return stereo_tone(start_sample, count, left_hz=LEFT_HZ, right_hz=RIGHT_HZ)


@functools.cache
def joined_recording(codec_id: str) -> bytes:
    codec: VideoCodec = CODECS[codec_id]
    settings = EncoderSettings(
        codec=codec, width=WIDTH, height=HEIGHT, segment_seconds=SEGMENT_SECONDS
    )
    segments = record_segments(
        settings, seconds=DURATION, fps=FPS, screen_at=screen_at, sound=stereo_test_tone
    )
    assert [segment.index for segment in segments] == list(range(SEGMENTS))
    return join_segments([segment.data for segment in segments], codec.container)


def playback_problems(report: dict[str, Any]) -> list[str]:
    """Everything the engine got wrong, in words; empty when the recording played right."""
    if "error" in report:
        return [f"page failed at {report['steps'][-1]!r}: {report['error']}"]
    problems = []
    metadata = report["metadata"]
    if abs(metadata["duration"] - DURATION) > DURATION_TOLERANCE:
        problems.append(f"duration {metadata['duration']} s, expected {DURATION} s")
    if (metadata["videoWidth"], metadata["videoHeight"]) != (WIDTH, HEIGHT):
        problems.append(
            f"frame size {metadata['videoWidth']}x{metadata['videoHeight']},"
            f" expected {WIDTH}x{HEIGHT}"
        )
    for seek in report["seeks"]:
        expected = colour_at(seek["requested"])
        if not shows_colour(seek["rgb"], expected):
            problems.append(
                f"at {seek['requested']} s (landed at {seek['currentTime']} s) the centre is"
                f" RGB {seek['rgb']}, expected within {COLOUR_TOLERANCE} of {expected}"
            )
    playback = report["playback"]
    if playback["reached"] < playback["from"] + PLAYED_SECONDS:
        problems.append(
            f"playback from {playback['from']} s only reached {playback['reached']} s"
            f" in {playback['wallSeconds']:.1f} s"
        )
    signs = report["audioTrackSigns"]
    if signs.get("audioTracks", 1) != 1:
        problems.append(f"video.audioTracks has {signs['audioTracks']} tracks, expected 1")
    if signs.get("mozHasAudio", True) is not True:
        problems.append("video.mozHasAudio is false")
    if signs.get("webkitAudioDecodedByteCount", 1) <= 0:
        problems.append("video.webkitAudioDecodedByteCount is 0 after playing")
    problems.extend(_audio_problems(report["decodedAudio"]))
    return problems


def _audio_problems(decoded: dict[str, Any]) -> list[str]:
    if "error" in decoded:
        return [f"decodeAudioData failed: {decoded['error']}"]
    if decoded["numberOfChannels"] != 2:
        return [f"decodeAudioData gave {decoded['numberOfChannels']} channels, expected 2"]
    problems = []
    if abs(decoded["duration"] - DURATION) > DURATION_TOLERANCE:
        problems.append(f"decoded audio lasts {decoded['duration']} s, expected {DURATION} s")
    for name, channel, tone in zip(
        ("left", "right"), decoded["channels"], (LEFT_HZ, RIGHT_HZ), strict=True
    ):
        if channel["rms"] < MINIMUM_RMS:
            problems.append(f"{name} channel RMS {channel['rms']:.3f}, expected a tone")
        if abs(channel["dominantHz"] - tone) > FREQUENCY_TOLERANCE_HZ:
            problems.append(f"{name} channel peaks at {channel['dominantHz']} Hz, not {tone} Hz")
    return problems


# What each engine cannot do today, in its own words. Strict: a fix makes the case pass and
# the xfail then fails the run, so whoever fixed it removes the entry.
KNOWN_FAILURES: dict[tuple[Engine, str], str] = {}

ENGINE_CODEC_CASES = [
    pytest.param(
        engine,
        codec_id,
        id=f"{engine.value}-{codec_id}",
        # Only a failed check counts; a browser that crashes or never reports still fails.
        marks=[pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)]
        if (reason := KNOWN_FAILURES.get((engine, codec_id)))
        else [],
    )
    for engine in Engine
    for codec_id in CODECS
]


@pytest.mark.parametrize(("engine", "codec_id"), ENGINE_CODEC_CASES)
def test_recording_plays_in_browser(
    engine: Engine, codec_id: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    media = joined_recording(codec_id)
    container = CODECS[codec_id].container
    display: str | None = None
    if engine is Engine.WEBKIT:  # the only engine here without a headless mode
        x_server: XServer = request.getfixturevalue("x_display")
        display = x_server.display
    with (
        MediaServer(media, MEDIA_TYPES[container], container) as server,
        open_in_browser(
            engine,
            server.page_url(seek_times=SEEK_TIMES, play_from=PLAY_FROM),
            tmp_path,
            display=display,
            timeout=PAGE_TIMEOUT,
        ) as browser,
    ):
        report = server.wait_for_result(PAGE_TIMEOUT, browser)
        log = browser.log_tail()
    report["rangeRequests"] = len(server.range_requests)
    problems = playback_problems(report)
    assert not problems, (
        f"{engine.value} cannot play the {codec_id} recording:\n  "
        + "\n  ".join(problems)
        + f"\nreport: {json.dumps(report, indent=1)}\nbrowser log (tail):\n{log}"
    )
    print(json.dumps(report))  # shown with -rP: which checks this engine could make


def _get(server: MediaServer, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(server.origin.removeprefix("http://"), timeout=5)
    try:
        connection.request("GET", server.media_path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_server_answers_ranges_as_browsers_expect() -> None:
    media = bytes(range(256)) * 4
    with MediaServer(media, "video/webm", "webm") as server:
        status, headers, body = _get(server, {})
        assert (status, headers["Accept-Ranges"], headers["Content-Type"]) == (
            200,
            "bytes",
            "video/webm",
        )
        assert body == media
        status, headers, body = _get(server, {"Range": "bytes=1000-"})
        assert (status, headers["Content-Range"], body) == (
            206,
            "bytes 1000-1023/1024",
            media[1000:],
        )
        status, headers, body = _get(server, {"Range": "bytes=5000-"})
        assert (status, headers["Content-Range"], body) == (416, "bytes */1024", b"")


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-", (0, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=90-500", (90, 99)),  # a last position past the end is cut to the end
        ("bytes=-30", (70, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=100-", None),  # starts past the end: 416
        ("bytes=20-10", None),
        ("bytes=-0", None),
        ("items=0-5", None),
        ("bytes=-", None),
    ],
)
def test_range_header_parsing(header: str, span: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == span
