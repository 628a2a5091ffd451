"""An upgrade with unsent recordings in a user's spool (issue 15): the installed agent, run as an
OS user in a desktop session as its autostart entry starts it, records a call while the vault
is away; the package is upgraded to the next version with apt while that agent still runs
(dpkg runs the old prerm and the new postinst); at the user's next login the upgraded agent
uploads exactly the spooled segments, and the spool is left empty.

Everything is real: the built package and a next version of it made with dpkg-deb,
`callreel-vault serve`, Xvfb with the business window, PulseAudio, and the call announced by
the agent's own hook command, run by a shell that stands in for the softphone."""

from __future__ import annotations

import contextlib
import hashlib
import json
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.capture.geometry import Rect
from protocol.segments.format import METADATA_SEGMENT_INDEX, parse_header
from testbed.pulse import ASOUNDRC, PulseServer
from testbed.waiting import wait_for
from tests.helpers.agent_harness import (
    People,
    VaultProcess,
    add_people,
    decode,
    download,
    recordings,
    start_session,
)
from tests.helpers.desktop import Desktop
from tests.installers.conftest import (
    built,
    installed_package,
    installed_version,
    run,
    system_user,
)

PACKAGE = "callreel-agent"
POLICY = Path("/etc/callreel/policy.toml")
AUTOSTART = Path("/etc/xdg/autostart/callreel-agent.desktop")
USER = "callreel-upgrade-eve"
"""The OS user; the vault's agent account has the same name."""
NEXT_REVISION = "2"
BUSINESS_WINDOW = "CRM - Upgrade"
SEGMENT_S = 2.0
CALL_S = 8.0


def next_package(deb: Path, work: Path) -> tuple[str, Path]:
    """`deb` again with the next Debian revision: the same files and maintainer scripts, so
    that installing it over `deb` is an upgrade for dpkg. Returns its version and file."""
    tree = work / "tree"
    run("dpkg-deb", "--raw-extract", str(deb), str(tree))
    control = tree / "DEBIAN" / "control"
    text = control.read_text()
    found = re.search(r"^Version: (\S+)-(\d+)$", text, re.MULTILINE)
    assert found, text
    version = f"{found.group(1)}-{NEXT_REVISION}"
    control.write_text(text.replace(found.group(0), f"Version: {version}"))
    newer = work / f"{PACKAGE}_{version}_{run('dpkg', '--print-architecture').strip()}.deb"
    # Fast compression: the payload is the built one, its size is of no interest here.
    run("dpkg-deb", "-Zgzip", "-z1", "--build", str(tree), str(newer))
    shutil.rmtree(tree)
    assert run("dpkg-deb", "--field", str(newer), "Version").strip() == version
    run("dpkg", "--compare-versions", version, "gt", f"{found.group(1)}-{found.group(2)}")
    return version, newer


@contextlib.contextmanager
def sound_server_for_everyone(pulse: PulseServer, socket: Path) -> Iterator[Path]:
    """The test's PulseAudio server also listening on `socket`, open to any local user (its
    own socket is root's)."""
    module = run(
        "pactl", "load-module", "module-native-protocol-unix", "auth-anonymous=1",
        f"socket={socket}", env=pulse.env,
    ).strip()  # fmt: skip
    try:
        yield socket
    finally:
        run("pactl", "unload-module", module, env=pulse.env)


@dataclass(frozen=True)
class DesktopUser:
    """OS user `name` logged in to a desktop: their own home and runtime directory, the test's
    X display and the test's sound server. Commands run as them with only this environment."""

    name: str
    home: Path
    runtime: Path
    display: str
    sound: Path

    @property
    def data_dir(self) -> Path:
        return self.home / ".local" / "share" / "callreel"

    @property
    def spool(self) -> Path:
        """Where docs/deploy.md says each user's unsent recordings are."""
        return self.data_dir / "spool"

    def environment(self) -> list[str]:
        return [
            "PATH=/usr/bin:/bin", "LANG=C.UTF-8", f"HOME={self.home}",
            f"XDG_RUNTIME_DIR={self.runtime}", f"DISPLAY={self.display}",
            f"PULSE_SERVER=unix:{self.sound}",
        ]  # fmt: skip

    def command(self, *arguments: str) -> list[str]:
        return ["runuser", "-u", self.name, "--", "env", "-i", *self.environment(), *arguments]

    def agent(self, *arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """The installed `callreel-agent` (from PATH) as this user."""
        return subprocess.run(
            self.command("callreel-agent", *arguments),
            input=stdin, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def status(self) -> dict[str, Any] | None:
        done = self.agent("status", "--json")
        if done.returncode != 0:
            return None
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    def softphone_call(self, call_id: str, seconds: float) -> subprocess.Popen[str]:
        """A shell standing in for the softphone: it runs the hook commands a softphone runs
        at the start and the end of a call (so it is the process the agent watches)."""
        script = (
            f"callreel-agent hook off --call-id {call_id} && sleep {seconds:g}"
            f" && callreel-agent hook on --call-id {call_id}"
        )
        return subprocess.Popen(
            self.command("sh", "-c", script),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip


@dataclass
class LoginAgent:
    """The installed agent as the autostart entry starts it at the user's login, until the
    user logs out (SIGTERM)."""

    user: DesktopUser
    output: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exec_line = next(
            line.removeprefix("Exec=")
            for line in AUTOSTART.read_text().splitlines()
            if line.startswith("Exec=")
        )
        entry = pwd.getpwnam(self.user.name)
        with self.output.open("ab") as output:
            # setpriv execs the agent itself, so the logout's SIGTERM reaches it unchanged.
            self.process = subprocess.Popen(
                ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                 "--init-groups", "env", "-i", *self.user.environment(),
                 *shlex.split(exec_line)],
                stdout=output, stderr=subprocess.STDOUT, cwd="/",
            )  # fmt: skip
        wait_for(lambda: self.status() is not None, timeout=90, what="the agent to start")

    def status(self) -> dict[str, Any] | None:
        assert self.process is not None
        assert self.process.poll() is None, f"the agent exited:\n{self.log()}"
        return self.user.status()

    def wait_for_state(self, state: str, timeout: float = 30) -> None:
        def reached() -> bool:
            status = self.status()
            return status is not None and status["state"] == state

        wait_for(reached, timeout=timeout, interval=0.2, what=f"the agent to be {state}")

    def log_out(self) -> int:
        """SIGTERM, as the end of the desktop session sends; the agent's exit status."""
        assert self.process is not None
        self.process.terminate()
        try:
            return self.process.wait(60)
        finally:
            self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def log(self) -> str:
        parts = [self.output.read_text(errors="replace")[-4000:]]
        agent_log = self.user.data_dir / "agent.log"
        if agent_log.exists():
            parts.append(agent_log.read_text(errors="replace")[-8000:])
        return "\n".join(parts)


@dataclass
class Scene:
    user: DesktopUser
    vault: VaultProcess
    people: People
    first_version: str
    next_version: str
    next_deb: Path
    shared: Path
    policy_lines: list[str]
    agents: list[LoginAgent]

    def login_agent(self) -> LoginAgent:
        agent = LoginAgent(self.user, self.shared / f"agent-{len(self.agents)}.out")
        self.agents.append(agent)
        return agent


def spooled_segments(spool: Path) -> dict[str, tuple[uuid.UUID, int]]:
    """Each sealed segment file in the spool, by its SHA-256 (checked against its name): its
    recording and segment index, from its own header."""
    found = {}
    for path in sorted((spool / "segments").glob("*.seg")):
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == path.stem, f"{path} is not what it is named"
        header = parse_header(data)
        found[path.stem] = (header.recording_id, header.segment_index)
    return found


@pytest.fixture
def scene(desktop: Desktop, pulse_server: PulseServer, tmp_path: Path) -> Iterator[Scene]:
    system_user(USER)
    entry = pwd.getpwnam(USER)
    desktop.spawn_colour_window(
        geometry=Rect(200, 150, 640, 400), title=BUSINESS_WINDOW, wm_class="Crm", colour="20c020"
    )
    # Root's, world-readable: the vault certificate, the sound socket, the packages, the user's
    # home and runtime directory (short: the agent's control socket is below it).
    shared = Path(tempfile.mkdtemp(prefix="crup-", dir="/tmp"))
    shared.chmod(0o755)
    vault = VaultProcess(tmp_path / "vault")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, shared, ignore_errors=True)
        deb = built("callreel-agent_*.deb")
        next_version, next_deb = next_package(deb, shared)
        sound = stack.enter_context(sound_server_for_everyone(pulse_server, shared / "pulse"))
        home, runtime = shared / "home", shared / "run"
        for directory in (home, runtime):
            directory.mkdir(mode=0o700)
            shutil.chown(directory, entry.pw_uid, entry.pw_gid)
        (home / ".asoundrc").write_text(ASOUNDRC)  # the PortAudio names of the test's devices
        shutil.chown(home / ".asoundrc", entry.pw_uid, entry.pw_gid)
        user = DesktopUser(USER, home, runtime, desktop.server.display, sound)

        vault.start()
        stack.callback(vault.stop)
        shutil.copyfile(vault.ca, shared / "vault.pem")
        (shared / "vault.pem").chmod(0o644)
        people = add_people(vault, agent=USER)

        stack.enter_context(installed_package(deb, PACKAGE))
        first_version = installed_version(PACKAGE)
        assert first_version is not None
        # IT's policy in the package's conffile: the vault, the window, the softphone's hook.
        settings: dict[str, object] = {
            "vault_url": vault.url,
            "vault_ca_file": str(shared / "vault.pem"),
            "window_title_pattern": f"^{BUSINESS_WINDOW}$",
            "detectors": ["hook"],
            "microphone": "callreel_mic",
            "far_end": "callreel_farend",
            "notice_lead_time_s": 1.0,
            "segment_seconds": SEGMENT_S,
            "video_width": 640,
            "video_height": 400,
            "session_poll_s": 1.0,
            "heartbeat_s": 5.0,
        }
        policy_lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        POLICY.write_text(POLICY.read_text() + "\n" + "\n".join(policy_lines) + "\n")
        tomllib.loads(POLICY.read_text())

        token = vault.admin("enroll-token", "--agent", USER).strip()
        enrolled = user.agent(
            "enrol", "--vault", vault.url, "--ca", str(shared / "vault.pem"),
            "--token-file", "-", stdin=token + "\n",
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr

        agents: list[LoginAgent] = []

        @stack.callback
        def _end_sessions() -> None:
            for agent in agents:
                agent.kill()

        yield Scene(
            user, vault, people, first_version, next_version, next_deb, shared, policy_lines,
            agents,
        )  # fmt: skip


def test_unsent_segments_in_a_users_spool_are_uploaded_by_the_upgraded_agent(
    scene: Scene,
) -> None:
    user, vault = scene.user, scene.vault
    start_session(vault, scene.people, calls=1)
    before = scene.login_agent()
    spooled = _a_call_recorded_while_the_vault_is_away(scene, before)
    (recording_id,) = {rid for rid, _ in spooled.values()}

    # The upgrade, with the agent running; the user logs out and the spool is untouched.
    upgrade = run("apt-get", "install", "-y", "-q", "--no-install-recommends", str(scene.next_deb))
    assert f"{PACKAGE} ({scene.next_version}) over ({scene.first_version})" in upgrade, upgrade
    assert installed_version(PACKAGE) == scene.next_version
    kept_policy = POLICY.read_text()
    assert all(line in kept_policy.splitlines() for line in scene.policy_lines), kept_policy
    assert before.log_out() == 0, before.log()
    assert spooled_segments(user.spool) == spooled
    assert not list((user.spool / "tmp").iterdir())

    # The vault is back and has nothing of the recording: it was never sent.
    vault.start()
    assert vault.stored_segments(str(recording_id)) == {}
    assert recordings(vault, scene.people) == []

    # The next login starts the upgraded agent, which uploads the spool.
    after = scene.login_agent()
    after.start()

    def arrived() -> dict[str, Any] | None:
        found = [r for r in recordings(vault, scene.people) if r["state"] == "complete"]
        return found[0] if found else None

    recording = wait_for(arrived, timeout=180, interval=0.5, what="the recording in the vault")
    assert recording["id"] == str(recording_id)
    wait_for(
        lambda: not spooled_segments(user.spool), timeout=60, interval=0.2, what="an empty spool"
    )
    # Exactly the spooled segments, byte for byte (the vault names each by its SHA-256).
    assert vault.stored_segments(str(recording_id)) == {
        index: sha256 for sha256, (_, index) in spooled.items()
    }
    _assert_plays_the_business_window(download(vault, scene.people, str(recording_id)))

    status = after.status()
    assert status is not None
    assert (status["backlog_segments"], status["upload"]) == (0, "all recordings uploaded")
    assert after.log_out() == 0, after.log()
    # Both versions wrote to the user's one log: nothing went wrong on the way.
    log = (user.data_dir / "agent.log").read_text(errors="replace")
    assert not [line for line in log.splitlines() if " ERROR " in line], log


def _a_call_recorded_while_the_vault_is_away(
    scene: Scene, agent: LoginAgent
) -> dict[str, tuple[uuid.UUID, int]]:
    """Version N, in the user's session: a call, and the vault goes away during it. Returns
    the spooled segments, unsent (the agent's uploads wait for the vault)."""
    agent.start()
    agent.wait_for_state("armed")
    softphone = scene.user.softphone_call("upgrade-1", CALL_S)
    agent.wait_for_state("recording", timeout=30)
    scene.vault.stop()
    softphone_output, _ = softphone.communicate(timeout=60)
    assert softphone.returncode == 0, softphone_output
    agent.wait_for_state("no_session", timeout=30)

    def waiting_for_the_vault() -> bool:
        status = agent.status()
        return status is not None and " waiting; " in str(status["upload"])

    wait_for(waiting_for_the_vault, timeout=30, interval=0.2, what="uploads to wait")
    spooled = spooled_segments(scene.user.spool)
    assert len(spooled) > CALL_S / SEGMENT_S, (spooled, agent.log())
    assert len({rid for rid, _ in spooled.values()}) == 1, spooled
    # The media segments from 0 without a gap, then the recording's metadata segment.
    indices = sorted(index for _, index in spooled.values())
    assert indices == [*range(len(indices) - 1), METADATA_SEGMENT_INDEX], indices
    status = agent.status()
    assert status is not None
    assert (status["backlog_segments"], status["problems"]) == (len(spooled), []), status
    return spooled


def _assert_plays_the_business_window(media: bytes) -> None:
    decoded = decode(media)
    assert decoded.duration >= CALL_S - 2 * SEGMENT_S, decoded.duration
    assert decoded.frames
    for frame in decoded.frames:
        red, blue = frame[:, :, 0].astype(int), frame[:, :, 2].astype(int)
        assert (np.minimum(red, blue) > 100).sum() == 0  # nothing but the green window or black
    assert any((frame[:, :, 1] > 150).any() for frame in decoded.frames)
