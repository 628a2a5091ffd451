"""The tray agent assembled in the test process, wired as agent/app.py wires it, minus the vault.

Everything is real: the settings come from a root-owned policy file through `load_settings`,
the capture pipeline grabs the X display and records from the private PulseAudio, segments
are sealed to a freshly generated vault key and land in a real `Spool`, and the user
interface is the real `AgentShell` on the real tray. Training sessions and calls are posted
to the core directly (their sources are tested end to end elsewhere).

PYTEST_DONT_REWRITE: plain helpers, imported by the test module.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from PySide6.QtWidgets import QApplication

from agent.capture.audio.devices import alsa_top_level_config
from agent.capture.factory import CaptureChoices, SettingsCaptureFactory
from agent.capture.pipeline import CapturePipeline
from agent.control.channel import ControlServer
from agent.core.event_loop import AgentCore
from agent.detect.payment_title import PaymentTitleWatcher
from agent.hotkey.factory import create_hotkey
from agent.paths import AgentPaths
from agent.session.machine import RecordingStateMachine
from agent.session.vocabulary import Pause, Resume, SessionStarted, TrainingSession
from agent.settings.layers import AgentSettings, EffectiveSettings, load_settings
from agent.settings.managed_policy import PolicyFile
from agent.spool.spool import Spool
from agent.ui.bridge import QtAgentView
from agent.ui.shell import AgentShell
from protocol.keys import VaultIdentity, VaultRecipient
from protocol.recording_vocabulary import PauseSource
from testbed.pulse import PulseServer

BUSINESS_TITLE = "CRM - Orders"
BUSINESS_CLASS = "Crm"
VIDEO_WIDTH, VIDEO_HEIGHT = 640, 400


def use_pulse_in_process(monkeypatch: pytest.MonkeyPatch, server: PulseServer) -> None:
    """Point this process's ALSA/PortAudio at the private PulseAudio (its ALSA PCMs).

    PortAudio reads ALSA's configuration when it initialises, so it is initialised again if
    an earlier test loaded it with another environment.
    """
    monkeypatch.setenv("ALSA_CONFIG_PATH", alsa_top_level_config())
    for name, value in server.env.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    already = "sounddevice" in sys.modules
    import sounddevice  # loaded only once the environment is right

    if already:
        sounddevice._terminate()
        sounddevice._initialize()


def write_policy(path: Path, values: Mapping[str, object]) -> PolicyFile:
    """A managed policy file as IT installs it: root's, mode 0644 (the tests run as root)."""
    path.write_bytes(tomli_w.dumps(dict(values)).encode())
    path.chmod(0o644)
    os.chown(path, 0, 0)
    return PolicyFile(path)


def base_policy(**overrides: object) -> dict[str, object]:
    policy: dict[str, object] = {
        "window_class": BUSINESS_CLASS,
        "microphone": "callreel_mic",
        "far_end": "callreel_farend",
        "notice_lead_time_s": 1.0,
        "segment_seconds": 1.0,
        "video_width": VIDEO_WIDTH,
        "video_height": VIDEO_HEIGHT,
        "fps": 10.0,
    }
    policy.update(overrides)
    return policy


class WatchedCaptureFactory(SettingsCaptureFactory):
    """The real factory; it also remembers each pipeline it built, for the tests to watch."""

    def __init__(self, choices: CaptureChoices, recipient: VaultRecipient, spool: Spool) -> None:
        super().__init__(choices, recipient, spool)
        self.pipelines: dict[uuid.UUID, CapturePipeline] = {}

    def create(self, recording_id: uuid.UUID) -> CapturePipeline:
        pipeline = super().create(recording_id)
        self.pipelines[recording_id] = pipeline
        return pipeline


@dataclass
class InProcessAgent:
    effective: EffectiveSettings
    paths: AgentPaths
    identity: VaultIdentity
    spool: Spool
    capture: WatchedCaptureFactory
    view: QtAgentView
    core: AgentCore
    shell: AgentShell
    _stoppers: list[Callable[[], object]] = field(default_factory=list)

    @property
    def settings(self) -> AgentSettings:
        return self.effective.values

    def start_session(self, quota: int = 5) -> None:
        self.core.post(
            SessionStarted(
                TrainingSession(
                    session_id="s-1",
                    purpose="Handling refund requests",
                    trainer="Dana Trainer",
                    quota=quota,
                    expires_at=time.time() + 3600,
                    notice_text="Refund calls only.",
                )
            )
        )

    def start_payment_watcher(self) -> None:
        """As agent.app._start_services does when a payment pattern and a window are set."""
        core = self.core
        watcher = PaymentTitleWatcher(
            self.settings.payment_title_pattern,
            self.capture.locator,
            lambda matching: core.post(
                Pause(PauseSource.PAYMENT_WINDOW)
                if matching
                else Resume(PauseSource.PAYMENT_WINDOW)
            ),
        )
        watcher.start()
        self._stoppers.append(watcher.stop)

    def start_control_server(self) -> ControlServer:
        server = ControlServer(self.paths.runtime_dir, self.core.handle_control)
        server.start()
        self._stoppers.append(server.stop)
        return server

    def start_hotkey(self) -> None:
        self.shell.start_hotkey(create_hotkey(self.settings.pause_hotkey))
        self._stoppers.append(self.shell.stop_hotkey)

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            with contextlib.suppress(Exception):
                stop()
        self._stoppers.clear()


def pipeline_frame_is_black(frame: np.ndarray | None) -> bool:
    return frame is not None and not frame.any()


@contextlib.contextmanager
def running_agent(
    root: Path,
    managed: PolicyFile,
) -> Iterator[InProcessAgent]:
    """The agent's pieces, started in app.py's order and stopped in reverse."""
    paths = AgentPaths.under(root)
    effective = load_settings(paths.user_settings_file, managed)
    settings = effective.values
    identity = VaultIdentity.generate()
    paths.runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        spool = stack.enter_context(
            Spool(paths.spool_dir, max_bytes=settings.spool_max_mb * 1024**2)
        )
        capture = WatchedCaptureFactory(
            CaptureChoices.from_settings(settings), identity.recipient, spool
        )
        stack.callback(capture.close_preview)
        view = QtAgentView()
        core = AgentCore(
            machine=RecordingStateMachine(settings.call_policy(), clock=time.time),
            spool=spool,
            capture=capture,
            view=view,
            vault=None,
            settings_shown=effective.shown(),
            session_poll_s=settings.session_poll_s,
            session_wait_s=settings.session_wait_s,
            preview=capture.preview,
        )
        shell = AgentShell(view, core)

        def close_shell() -> None:
            shell.close()
            shell.tray.deleteLater()
            shell.deleteLater()
            QApplication.processEvents()

        stack.callback(close_shell)
        agent = InProcessAgent(effective, paths, identity, spool, capture, view, core, shell)
        core.start()
        stack.callback(core.shutdown)
        stack.callback(agent.stop)
        yield agent
