"""The console in Chromium, against a real vault over HTTPS and a recording the real agent made
of a real call (sipp calling baresip, the business window on Xvfb, PulseAudio): the call is
recorded once for the module, with a pause and a covering window in it, and reviewed by each
test.

The caller (sipp) sends a 1 kHz tone on the right channel; the agent's microphone carries
440 Hz on the left.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from agent.capture.geometry import Rect
from agent.control.channel import send_command
from agent.paths import AgentPaths
from testbed.ports import free_port
from testbed.pulse import PulseServer
from testbed.waiting import wait_for
from testbed.x_display import XServer
from tests.helpers.agent_harness import (
    AgentProcess,
    People,
    VaultProcess,
    recordings,
    write_policy,
)
from tests.helpers.console_browser import (
    chromium,
    console_context,
    keep_screenshot,
    serious_accessibility_problems,
    sign_in,
    wait_in_page,
)
from tests.helpers.desktop import Desktop
from tests.helpers.softphone import place_call, running_baresip

PASSWORD = "a long enough test password"  # noqa: S105  (a throwaway vault's test users)
BUSINESS_WINDOW = "CRM - Orders"
BUSINESS_RECT = Rect(200, 150, 640, 400)
CALL_S = 16.0
TOLERANCE_S = 0.25


@dataclass
class Recorded:
    vault: VaultProcess
    agent: AgentProcess
    recording_id: str
    paused: tuple[float, float]
    """When the pause began and ended, in seconds from the recording's start: the earliest
    and latest moment each could have taken effect are averaged, the spread is printed."""
    covered: tuple[float, float]
    """When the covering window was on screen, then gone (the agent sees it at its next grab,
    at most one frame, 0.2 s, later)."""
    root: Path


def _seconds_since(started_at: str, at: float) -> float:
    return at - datetime.fromisoformat(started_at).timestamp()


def _agent_command(agent: AgentProcess, command: str) -> tuple[float, float]:
    """What `callreel-agent pause|resume` sends, on the agent's control channel (in process,
    so the moment it takes effect is known to a few milliseconds)."""
    before = time.time()
    answer = send_command(AgentPaths.at(agent.root).runtime_dir, {"command": command})
    assert answer.get("ok"), answer
    return before, time.time()


@pytest.fixture(scope="module")
def recorded(
    x_display: XServer,
    pulse_server: PulseServer,
    tray_host: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("console-e2e")
    desktop = Desktop(x_display)
    vault = VaultProcess(root / "vault")
    vault.start()
    try:
        for name, role in [("tina", "trainer"), ("rob", "reviewer"), ("ada", "authoriser"),
                           ("otto", "auditor"), ("alice", "agent"),
                           ("max", "administrator")]:  # fmt: skip
            vault.admin("user", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD)
        trainer_token = vault.admin("token", "create", "tina").strip()
        reviewer_token = vault.admin("token", "create", "rob").strip()
        desktop.spawn_colour_window(
            geometry=BUSINESS_RECT, title=BUSINESS_WINDOW, wm_class="Crm", colour="20c020"
        )
        sip_port, ctrl_port = free_port(), free_port()
        policy = write_policy(
            root / "policy.toml",
            {
                "vault_url": vault.url,
                "window_title_pattern": f"^{BUSINESS_WINDOW}$",
                "detectors": ["baresip"],
                "baresip_ctrl_address": f"127.0.0.1:{ctrl_port}",
                "microphone": "callreel_mic",
                "far_end": "callreel_farend",
                "notice_lead_time_s": 1.0,
                "segment_seconds": 4.0,
                "video_width": 640,
                "video_height": 400,
                "session_poll_s": 600.0,
                "heartbeat_s": 5.0,
            },
        )
        agent = AgentProcess(
            root / "agent", policy, {**pulse_server.env, "DISPLAY": os.environ["DISPLAY"]}
        )
        agent.enrol(vault, "alice")
        with running_baresip(
            root / "baresip", pulse_server, sip_port=sip_port, ctrl_port=ctrl_port
        ) as baresip:
            agent.start()
            try:
                people = People("alice", trainer_token, reviewer_token)
                with vault.client(trainer_token) as client:
                    started = client.post(
                        "/api/v1/sessions",
                        json={"agent": "alice", "calls": 1, "purpose": "training",
                              "expires_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
                              "notice_text": "Tina records this call to coach you."},
                    )  # fmt: skip
                    assert started.status_code == 201, started.text
                yield _record_call(
                    desktop, vault, people, agent,
                    sip_port=baresip.sip_port, pulse=pulse_server, root=root,
                )  # fmt: skip
            finally:
                agent.stop()
    finally:
        desktop.cleanup()
        vault.stop()


def _record_call(
    desktop: Desktop,
    vault: VaultProcess,
    people: People,
    agent: AgentProcess,
    *,
    sip_port: int,
    pulse: PulseServer,
    root: Path,
) -> Recorded:
    agent.wait_for_state("armed", timeout=30)
    microphone = pulse.play_tone("micsink", 440.0, CALL_S + 4)
    call = place_call(sip_port, seconds=CALL_S, root=root / "call", tone_hz=1000.0)
    agent.wait_for_state("recording", timeout=30)
    time.sleep(3.0)
    pause_from = _agent_command(agent, "pause")
    time.sleep(2.0)
    pause_to = _agent_command(agent, "resume")
    time.sleep(2.0)
    cover_from = (time.time(), 0.0)
    cover = desktop.spawn_colour_window(
        geometry=Rect(BUSINESS_RECT.x + 100, BUSINESS_RECT.y + 100, 200, 150),
        title="Sticky note", wm_class="Note", colour="ff00ff",
    )  # fmt: skip
    cover_from = (cover_from[0], time.time())
    time.sleep(2.0)
    cover_to = (time.time(), 0.0)
    desktop.close(cover)
    cover_to = (cover_to[0], time.time())
    call.wait(60)
    microphone.wait(30)

    def complete() -> dict[str, Any] | None:
        found = [r for r in recordings(vault, people) if r["state"] == "complete"]
        return found[0] if found else None

    recording = wait_for(complete, timeout=90, what="the recording to arrive whole")
    start = str(recording["started_at"])

    def moment(window: tuple[float, float], *, shown: bool = False) -> float:
        """The command's moment: the middle of the call that made it (milliseconds), or for
        a window, when it was seen on screen (its spawn waits until then)."""
        first, last = (_seconds_since(start, t) for t in window)
        print(f"commanded between {first:.3f} and {last:.3f} s")
        return last if shown else (first + last) / 2

    return Recorded(
        vault, agent, str(recording["id"]),
        paused=(moment(pause_from), moment(pause_to)),
        covered=(moment(cover_from, shown=True), moment(cover_to, shown=True)),
        root=root,
    )  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with console_context(browser) as context:
        yield context.new_page()


def _open_player(page: Page, recorded: Recorded, purpose: str = "training") -> None:
    page.goto(f"{recorded.vault.url}/console/recordings")
    page.get_by_role("link").filter(has_text=re.compile(r"UTC")).first.click()
    page.get_by_label("Why are you opening it?").select_option(purpose)
    page.get_by_role("button", name=re.compile("^Play")).click()
    page.wait_for_url(re.compile(r"/console/play/"))


def _video(page: Page, expression: str) -> Any:
    return page.evaluate(
        f"(() => {{ const v = document.getElementById('video'); {expression} }})()"
    )


def _levels(page: Page) -> tuple[float, float]:
    player = page.locator("#player")
    return (
        float(player.get_attribute("data-level-agent") or 0),
        float(player.get_attribute("data-level-caller") or 0),
    )


def _lane_ink(page: Page, lane: str) -> int:
    """How many pixel columns of the lane's canvas carry waveform ink."""
    return int(
        page.evaluate(
            """(id) => {
                const c = document.getElementById(id);
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                const columns = new Set();
                for (let i = 0; i < d.length; i += 4) {
                    const blue = d[i] < 80 && d[i + 2] > 120, green = d[i + 1] > 100 && d[i] < 80;
                    if (blue || green) columns.add((i / 4) % c.width);
                }
                return columns.size;
            }""",
            f"lane-{lane}",
        )
    )


def test_sign_in_and_sign_out(page: Page, recorded: Recorded) -> None:
    page.goto(f"{recorded.vault.url}/console/sessions")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?then=/console/sessions"))
    page.get_by_label("User name").fill("tina")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong user name or password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/sessions$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    page.goto(f"{recorded.vault.url}/console/sessions")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))


def test_the_player_plays_both_lanes_in_sync_and_explains_the_gaps(
    page: Page, recorded: Recorded
) -> None:
    sign_in(page, recorded.vault.url, "tina", PASSWORD)
    _open_player(page, recorded)

    # Markers from the sealed metadata, at the moments the pause and the cover were made.
    paused = page.locator(".marker-paused .seek-to")
    covered = page.locator(".marker-covered .seek-to")
    expect(paused).to_have_count(1)
    expect(page.locator(".marker-paused")).to_contain_text("by the command line")
    assert covered.count() >= 1
    pause_start = float(paused.get_attribute("data-start") or -1)
    cover_start = float(covered.first.get_attribute("data-start") or -1)
    print(f"pause marker at {pause_start:.3f} s, made at {recorded.paused[0]:.3f} s; cover"
          f" marker at {cover_start:.3f} s, made at {recorded.covered[0]:.3f} s")  # fmt: skip
    assert abs(pause_start - recorded.paused[0]) <= TOLERANCE_S
    assert abs(cover_start - recorded.covered[0]) <= TOLERANCE_S

    # Both lanes are drawn from the vault's peaks.
    wait_in_page(page, "document.getElementById('player').dataset.peaks > 0")
    assert _lane_ink(page, "agent") > 100
    assert _lane_ink(page, "caller") > 100

    # Playing from before the pause: time advances, both sides are heard.
    _video(page, "v.currentTime = 0.5; return 0;")
    page.get_by_role("button", name="Play", exact=True).click()
    wait_in_page(page, "document.getElementById('video').currentTime > 1.5")
    page.wait_for_timeout(300)
    agent_level, caller_level = _levels(page)
    assert agent_level > 0.01, agent_level
    assert caller_level > 0.01, caller_level

    # Muting the agent's lane silences that channel only.
    page.get_by_label("Mute").first.check()
    page.wait_for_timeout(400)
    agent_level, caller_level = _levels(page)
    assert agent_level < 0.001, agent_level
    assert caller_level > 0.01, caller_level
    page.get_by_label("Mute").first.uncheck()

    # Seeking to a marker lands on it; the position is readable.
    paused.click()
    landed = float(_video(page, "return v.currentTime;"))
    assert abs(landed - pause_start) <= TOLERANCE_S, (landed, pause_start)
    assert re.match(r"\d+:\d\d of \d+:\d\d", page.locator("#seek").get_attribute("aria-valuetext")
                    or "")  # fmt: skip
    _video(page, "v.pause(); return 0;")


def test_a_note_reaches_the_agent_and_every_access_is_in_the_log(
    page: Page, browser: Browser, recorded: Recorded
) -> None:
    sign_in(page, recorded.vault.url, "tina", PASSWORD)
    _open_player(page, recorded)
    _video(page, "v.currentTime = 2.0; return 0;")
    wait_in_page(page, "Math.abs(document.getElementById('video').currentTime - 2) < 0.1")
    page.get_by_label(re.compile("Note at the current moment")).fill("Greet the caller by name.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note-status")).to_contain_text("Note added at 0:02")
    expect(page.locator("#note-list")).to_contain_text("Greet the caller by name.")
    wait_in_page(page, "document.getElementById('player').dataset.peaks > 0")
    keep_screenshot(page, "player", recorded.root)  # the player with its markers and a note

    with console_context(browser) as agents:
        mine = agents.new_page()
        sign_in(mine, recorded.vault.url, "alice", PASSWORD)
        expect(mine).to_have_url(re.compile(r"/console/mine$"))
        expect(mine.locator(".notes")).to_contain_text("Greet the caller by name.")
        opened = mine.locator("table")
        expect(opened).to_contain_text("tina")
        expect(opened).to_contain_text("playback")
        expect(opened).to_contain_text("training")

    with console_context(browser) as auditors:
        audit = auditors.new_page()
        sign_in(audit, recorded.vault.url, "otto", PASSWORD)
        audit.goto(f"{recorded.vault.url}/console/audit?subject={recorded.recording_id}")
        log = audit.locator("table")
        expect(log).to_contain_text("note-added")
        expect(log).to_contain_text("playback")
        expect(audit.locator(".intact")).to_contain_text("Intact")
        assert "Greet the caller" not in log.inner_text()
        keep_screenshot(audit, "audit", recorded.root)


def test_a_purpose_that_does_not_match_is_refused(page: Page, recorded: Recorded) -> None:
    sign_in(page, recorded.vault.url, "rob", PASSWORD)
    page.goto(f"{recorded.vault.url}/console/recordings/{recorded.recording_id}")
    page.get_by_label("Why are you opening it?").select_option("abuse")
    page.get_by_role("button", name=re.compile("^Play")).click()
    expect(page.get_by_role("alert")).to_contain_text("cannot be opened for abuse")


def test_a_release_needs_a_second_person(page: Page, browser: Browser, recorded: Recorded) -> None:
    sign_in(page, recorded.vault.url, "rob", PASSWORD)
    page.goto(f"{recorded.vault.url}/console/recordings/{recorded.recording_id}")
    page.locator("#r-purpose").select_option("training")
    page.get_by_label("Who receives it").fill("Coaching partner Ltd")
    page.get_by_label("Why", exact=True).fill("Module on greetings")
    page.get_by_role("button", name="Request release").click()
    expect(page.get_by_role("status")).to_contain_text("Someone else with the authoriser role")
    row = page.locator("tr", has_text="Coaching partner Ltd")
    expect(row).to_contain_text("awaiting")
    expect(row.get_by_role("button", name="Authorise")).to_have_count(0)

    with console_context(browser) as authorisers:
        other = authorisers.new_page()
        sign_in(other, recorded.vault.url, "ada", PASSWORD)
        other.goto(f"{recorded.vault.url}/console/releases")
        theirs = other.locator("tr", has_text="Coaching partner Ltd")
        keep_screenshot(other, "releases", recorded.root)
        theirs.get_by_role("button", name="Authorise").click()
        expect(other.locator("tr", has_text="Coaching partner Ltd")).to_contain_text("ada")

    page.reload()
    expect(page.locator("tr", has_text="Coaching partner Ltd").get_by_role("link", name="Export")
           ).to_have_count(1)  # fmt: skip


def test_a_cross_origin_form_post_is_refused_and_nothing_loads_from_elsewhere(
    page: Page, recorded: Recorded
) -> None:
    origin = recorded.vault.url
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((origin, "data:", "blob:"))
            else foreign.append(request.url)
        ),
    )
    sign_in(page, origin, "tina", PASSWORD)
    for path in ["/console/sessions", "/console/recordings",
                 f"/console/recordings/{recorded.recording_id}", "/console/releases"]:  # fmt: skip
        page.goto(origin + path)
    _open_player(page, recorded)
    wait_in_page(page, "document.getElementById('player').dataset.peaks > 0")
    assert foreign == []

    # A page elsewhere posts the session form to the vault in this signed-in browser.
    attacker = "https://intranet.example.com/"
    page.route(
        attacker,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f"""<form method="post" action="{origin}/console/sessions">
              <input name="for" value="agent"><input name="who" value="alice">
              <input name="purpose" value="training"><input name="calls" value="5">
              <input name="hours" value="5"><input name="notice" value="forged by a page">
              <button>go</button></form>""",
        ),
    )
    page.goto(attacker)
    page.get_by_role("button", name="go").click()
    page.wait_for_load_state()
    page.goto(f"{origin}/console/sessions")
    assert "forged by a page" not in page.content()


def test_a_session_started_in_the_console_arms_the_running_agent_within_two_seconds(
    page: Page, recorded: Recorded
) -> None:
    recorded.agent.wait_for_state("no_session", timeout=30)
    sign_in(page, recorded.vault.url, "tina", PASSWORD)
    page.get_by_label("Agent or team name").fill("alice")
    page.get_by_label("Calls to record").fill("1")
    page.get_by_role("button", name="Start session").click()
    started = time.monotonic()
    recorded.agent.wait_for_state("armed", timeout=10)
    armed_after = time.monotonic() - started
    expect(page.get_by_role("status")).to_contain_text("Session started")
    keep_screenshot(page, "sessions", recorded.root)

    row = page.locator("tr", has=page.get_by_role("button", name=re.compile("End the session")))
    row.get_by_role("button").click()
    ended = time.monotonic()
    recorded.agent.wait_for_state("no_session", timeout=10)
    stopped_after = time.monotonic() - ended
    print(
        f"armed {armed_after:.2f} s after the start, disarmed {stopped_after:.2f} s after the end"
    )
    assert armed_after <= 2.0
    assert stopped_after <= 2.0


@pytest.mark.parametrize(
    ("person", "path"),
    [
        ("tina", "/console/sign-in"),
        ("tina", "/console/sessions"),
        ("rob", "/console/recordings"),
        ("rob", "/console/recordings/{recording}"),
        ("rob", "player"),
        ("alice", "/console/mine"),
        ("ada", "/console/releases"),
        ("otto", "/console/audit"),
        ("max", "/console/retention"),
        ("max", "/console/devices"),
        ("max", "/console/recordings/{recording}"),
    ],
)
def test_no_page_has_a_serious_accessibility_problem(
    browser: Browser, recorded: Recorded, person: str, path: str
) -> None:
    with console_context(browser, bypass_csp=True) as context:
        page = context.new_page()
        if path == "/console/sign-in":
            page.goto(recorded.vault.url + path)
        else:
            sign_in(page, recorded.vault.url, person, PASSWORD)
            if path == "player":
                _open_player(page, recorded)
                wait_in_page(page, "document.getElementById('player').dataset.peaks > 0")
            else:
                page.goto(recorded.vault.url + path.format(recording=recorded.recording_id))
        if path in ("/console/retention", "/console/devices"):
            keep_screenshot(page, path.rsplit("/", 1)[-1], recorded.root)
        assert serious_accessibility_problems(page) == []
