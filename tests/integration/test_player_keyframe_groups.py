"""The console's player in Chromium, on an H.264 recording whose segments mostly do not open
with a keyframe: a seek anywhere shows that moment's picture (the player fetches from the
group's keyframe and the browser decodes forward), and a segment that never reached the vault
leaves the rest of its group out rather than showing a broken picture.

The recording is made with the agent's real encoder: a grey screen whose centre block takes a
new colour every segment (small enough that x264 sees no scene change and adds no keyframe).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page

from agent.capture.encoder import H264_VERYFAST, EncoderSettings
from agent.capture.mask import Pixels
from protocol.segments.keyframes import opens_with_keyframe
from tests.helpers.console_browser import chromium, console_context, sign_in, wait_in_page
from tests.helpers.synthetic_recording import (
    first_frame_is_keyframe,
    record_segments,
    stereo_tone,
)
from tests.helpers.vault_harness import VaultUnderTest, running_vault, sealed_recording
from vault.roles import Role

PASSWORD = "a long enough test password"  # noqa: S105  (a throwaway vault's test user)
WIDTH, HEIGHT = 320, 240
SEGMENT_S = 1.0
SEGMENTS = 14  # keyframes open segments 0, 6 and 12
COLOURS = [  # RGB of the centre block in each segment: far apart from one another
    (230, 40, 40), (40, 200, 40), (40, 40, 230), (230, 230, 40), (40, 230, 230),
    (230, 40, 230), (250, 150, 40), (120, 40, 200), (40, 120, 80), (200, 200, 200),
    (20, 20, 20), (150, 90, 40), (90, 150, 250), (250, 120, 160),
]  # fmt: skip
TOLERANCE = 24


def screen_at(t: float) -> Pixels:
    red, green, blue = COLOURS[min(int(t / SEGMENT_S), SEGMENTS - 1)]
    pixels = np.full((HEIGHT, WIDTH, 4), 128, dtype=np.uint8)
    pixels[90:150, 130:190] = (blue, green, red, 255)
    marker = round(t * 5) * 7 % (WIDTH - 10)  # every grab differs, so every one is encoded
    pixels[HEIGHT - 12 : HEIGHT - 4, marker : marker + 10, :3] = 255
    return pixels


@pytest.fixture(scope="module")
def media() -> list[bytes]:
    settings = EncoderSettings(
        codec=H264_VERYFAST, width=WIDTH, height=HEIGHT, segment_seconds=SEGMENT_S
    )
    made = record_segments(
        settings,
        seconds=SEGMENTS * SEGMENT_S,
        fps=5,
        screen_at=screen_at,
        sound=lambda start, count: stereo_tone(start, count, left_hz=440, right_hz=660),
    )
    data = [s.data for s in made]
    opened = [i for i, d in enumerate(data) if first_frame_is_keyframe(d)]
    # What the test relies on: most segments begin with frames that refer to the one before.
    assert opened == [i for i in range(len(data)) if opens_with_keyframe(i, SEGMENT_S)]
    assert opened == [0, 6, 12]
    return data


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultUnderTest]:
    with running_vault(tmp_path) as vault:
        vault.add_person("rob", Role.REVIEWER, password=PASSWORD)
        vault.add_person("tina", Role.TRAINER)
        vault.add_person("alice", Role.AGENT)
        yield vault


def _upload(vault: VaultUnderTest, media: list[bytes], leave_out: int | None = None) -> str:
    device = vault.enrol_device("alice")
    session = vault.start_session("tina", "alice")
    recording = sealed_recording(vault.ctx.identity.recipient, media, segment_seconds=SEGMENT_S)
    device.register_recording(recording.recording_id, session, vault.ctx.clock())
    for number, (sha, data) in enumerate(recording.segments):
        if number != leave_out:
            assert device.upload_segment(sha, data)
    return str(recording.recording_id)


def _open_player(page: Page, base_url: str, recording: str) -> None:
    sign_in(page, base_url, "rob", PASSWORD)
    page.goto(f"{base_url}/console/recordings/{recording}")
    page.get_by_label("Why are you opening it?").select_option("training")
    page.get_by_role("button", name=re.compile("^Play")).click()
    page.wait_for_url(re.compile(r"/console/play/"))
    wait_in_page(page, "document.getElementById('video').readyState >= 1")


def _centre_after_seek(page: Page, at: float) -> list[int]:
    """Seek the player's video to `at` and read the centre pixel of the picture shown."""
    rgb: list[int] = page.evaluate(
        """async (at) => {
            const v = document.getElementById('video');
            v.currentTime = at;
            const deadline = Date.now() + 15000;
            while ((v.seeking || v.readyState < 2) && Date.now() < deadline) {
                await new Promise((done) => setTimeout(done, 50));
            }
            await new Promise((done) => setTimeout(done, 150));
            const canvas = document.createElement('canvas');
            canvas.width = v.videoWidth;
            canvas.height = v.videoHeight;
            const context = canvas.getContext('2d');
            context.drawImage(v, 0, 0);
            return Array.from(context.getImageData(160, 120, 1, 1).data).slice(0, 3);
        }""",
        at,
    )
    return rgb


def _near(seen: list[int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= TOLERANCE for a, b in zip(seen, expected, strict=True))


def test_a_seek_into_any_segment_shows_that_moments_picture(
    vault: VaultUnderTest, media: list[bytes]
) -> None:
    recording = _upload(vault, media)
    base_url = str(vault.client.base_url).rstrip("/")
    with chromium() as browser, console_context(browser) as context:
        page = context.new_page()
        _open_player(page, base_url, recording)
        # Forwards deep into a group, back within it, across to the next group and back.
        wrong = []
        for at in [4.5, 2.5, 1.5, 8.5, 10.5, 7.5, 3.5, 13.5]:
            seen = _centre_after_seek(page, at)
            expected = COLOURS[int(at / SEGMENT_S)]
            if not _near(seen, expected):
                wrong.append(f"at {at} s the centre is RGB {seen}, expected {expected}")
        assert not wrong, "\n".join(wrong)


def test_a_missing_segment_leaves_the_rest_of_its_group_out_and_playing_jumps_on(
    vault: VaultUnderTest, media: list[bytes]
) -> None:
    recording = _upload(vault, media, leave_out=3)
    base_url = str(vault.client.base_url).rstrip("/")
    with chromium() as browser, console_context(browser) as context:
        page = context.new_page()
        _open_player(page, base_url, recording)
        assert _near(_centre_after_seek(page, 2.5), COLOURS[2])
        # Segments 4 and 5 refer back to the missing 3: never fetched, never shown.
        page.evaluate("document.getElementById('video').play()")
        wait_in_page(page, "document.getElementById('video').currentTime > 6.3")
        page.evaluate("document.getElementById('video').pause()")
        fetched = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
        segments = {int(m[1]) for name in fetched if (m := re.search(r"/segments/(\d+)$", name))}
        assert not segments & {3, 4, 5}, sorted(segments)
        assert {2, 6} <= segments
        assert _near(_centre_after_seek(page, 6.5), COLOURS[6])
