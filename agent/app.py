"""`callreel-agent run`: the composition root, and the only module outside agent/ui/ with Qt.

It reads the settings (defaults < user < managed policy), makes sure only one agent runs per
user, connects to the enrolled vault (or, with no vault configured, starts and enrols a local
one), and wires the pieces: call detectors and the control socket feed the core; the core
drives capture and the user interface; the uploader drains the spool to the vault.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator

from filelock import FileLock, Timeout
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from agent.capture.factory import CaptureChoices, SettingsCaptureFactory
from agent.control.channel import ControlPathTooLongError, ControlServer
from agent.core.event_loop import AgentCore, UploadSummary
from agent.detect.factory import create_detectors
from agent.detect.hook import HookDetector
from agent.detect.payment_title import PaymentTitleWatcher
from agent.hotkey.base import HotkeyError, HotkeyUnavailableError
from agent.hotkey.factory import create_hotkey
from agent.paths import AgentPaths
from agent.session.machine import RecordingStateMachine
from agent.session.vocabulary import Pause, Resume
from agent.settings.layers import AgentSettings, SettingShown, load_settings
from agent.settings.managed_policy import PolicyError, PolicyFile, default_managed_source
from agent.spool.spool import Spool, SpoolError
from agent.ui.bridge import QtAgentView
from agent.ui.shell import AgentShell
from agent.upload.uploader import Uploader, UploadStatus
from agent.vault_connection.enrolment import (
    Enrolment,
    EnrolmentError,
    device_client,
    enrol_from_policy,
    trusted_pins,
)
from agent.vault_connection.kept_enrolment import KeptEnrolment
from agent.vault_connection.local_vault import running_local_vault
from agent.vault_connection.proxy_choice import DIRECT
from agent.vault_connection.recipient_follower import RecipientFollower
from agent.vault_connection.tls_pin_follower import TlsPinFollower
from protocol.private_directories import NotPrivateError, make_private
from protocol.recording_vocabulary import PauseSource
from protocol.version import VERSION

log = logging.getLogger("callreel.agent")
PROG = "callreel-agent run"


def _log_to(paths: AgentPaths) -> None:
    handler = logging.handlers.RotatingFileHandler(
        paths.data_dir / "agent.log", maxBytes=5 * 1024 * 1024, backupCount=3
    )
    console = logging.StreamHandler()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for sink in (handler, console):
        sink.setFormatter(fmt)
    logging.basicConfig(level=logging.INFO, handlers=[handler, console], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise


def _upload_summary(status: UploadStatus) -> UploadSummary:
    problems = tuple(status.refusals)
    if status.state == "stopped" and status.last_error:
        problems += (status.last_error,)
    return UploadSummary(status.backlog_segments, status.backlog_bytes, status.note(), problems)


def _enrolled_here(paths: AgentPaths, enrolment: Enrolment) -> bool:
    """Whether `enrolment` is the one in the machine's enrolment file (not the embedded local
    vault's), so that a new vault key is kept there."""
    try:
        return Enrolment.load(paths.enrolment_file).device_id == enrolment.device_id
    except EnrolmentError:
        return False


@contextlib.contextmanager
def _vault_enrolment(settings: AgentSettings, paths: AgentPaths) -> Iterator[Enrolment]:
    if not settings.vault_url:
        with running_local_vault(paths) as local:
            print(f"callreel-agent: local vault at {local.url} (data {local.data_dir})")
            print(
                f"callreel-agent: its console is {local.url}/console/ (certificate:"
                f" {local.ca_file}); sign in once as the local trainer within 10 minutes:"
            )
            print(f"  {local.console_sign_in_link()}")
            print(f"  (a new link: {local.how_to_get_a_new_link()})")
            print("callreel-agent: start a training session for yourself there, or with:")
            print(f"  {local.how_to_start_a_session()}", flush=True)
            yield local.enrolment
        return
    if not paths.enrolment_file.exists() and not paths.device_key_file.exists():
        enrolled = enrol_from_policy(paths, settings)
        print(f"callreel-agent: enrolled as {enrolled.agent} (device {enrolled.device_id})")
    enrolment = Enrolment.load(paths.enrolment_file)
    if enrolment.vault_url.rstrip("/") != settings.vault_url.rstrip("/"):
        raise EnrolmentError(
            f"this machine is enrolled with {enrolment.vault_url} but the policy names"
            f" {settings.vault_url}; enrol it with that vault (callreel-agent enrol)"
        )
    yield enrolment


def _quit_on_signals(app: QApplication) -> QTimer:
    """Qt's event loop does not run Python signal handlers until it wakes; a timer wakes it."""
    requested: list[int] = []

    def request(signum: int, _frame: object) -> None:
        requested.append(signum)

    signal.signal(signal.SIGTERM, request)
    signal.signal(signal.SIGINT, request)
    timer = QTimer()
    timer.timeout.connect(lambda: app.quit() if requested else None)
    timer.start(200)
    return timer


def _desktop_problem() -> str | None:
    """Why no tray can show here, or None. Qt would abort the process without saying how."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "no desktop session (DISPLAY is not set): run the agent in the user's desktop"
            " session (it starts at logon when installed), or try it on a virtual display"
            " with scripts/run"
        )
    return None


def run_agent(args: argparse.Namespace) -> int:
    problem = _desktop_problem()
    if problem is not None:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 1
    paths = AgentPaths.at(args.root)
    managed = PolicyFile(args.policy_file) if args.policy_file else default_managed_source()
    try:
        effective = load_settings(paths.user_settings_file, managed)
    except PolicyError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    # Whatever the agent writes from here on (log, manifest, local vault) is the user's own.
    os.umask(0o077)
    try:
        make_private(paths.data_dir, "data directory")
    except NotPrivateError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    _log_to(paths)
    for problem in effective.problems:
        log.warning("setting ignored: %s", problem)
    paths.runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    instance = FileLock(str(paths.instance_lock_file))
    try:
        instance.acquire(timeout=0)
    except Timeout:
        print(
            f"{PROG}: the Callreel agent is already running for this user"
            " (see its tray icon, or: callreel-agent status)",
            file=sys.stderr,
        )
        return 1
    try:
        return _run_locked(args, paths, effective.values, effective.shown())
    except (EnrolmentError, SpoolError, NotPrivateError, ControlPathTooLongError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        instance.release()


def _run_locked(
    args: argparse.Namespace,
    paths: AgentPaths,
    settings: AgentSettings,
    shown: tuple[SettingShown, ...],
) -> int:
    with contextlib.ExitStack() as stack:
        enrolment = stack.enter_context(_vault_enrolment(settings, paths))
        spool = stack.enter_context(
            Spool(settings.spool_root(paths), max_bytes=settings.spool_max_mb * 1024**2)
        )
        if not spool.recovery.clean:
            log.warning("spool recovered after an unclean stop: %s", spool.recovery)
        capture = SettingsCaptureFactory(
            CaptureChoices.from_settings(settings), enrolment.recipient(), spool
        )
        stack.callback(capture.close_preview)

        # The embedded local vault is this machine's own: no proxy, no policy keys.
        policy_pins = settings.vault_tls_pins if settings.vault_url else ()
        proxy_setting = settings.vault_proxy if settings.vault_url else DIRECT
        pins = trusted_pins(enrolment.pins(), policy_pins)

        existing = QApplication.instance()
        app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
        app.setApplicationName("Callreel")
        app.setQuitOnLastWindowClosed(False)
        view = QtAgentView()
        uploader_box: list[Uploader] = []
        core = AgentCore(
            machine=RecordingStateMachine(settings.call_policy(), clock=time.time),
            spool=spool,
            capture=capture,
            view=view,
            vault=stack.enter_context(device_client(paths, enrolment, pins, proxy_setting)),
            settings_shown=shown,
            session_poll_s=settings.session_poll_s,
            session_wait_s=settings.session_wait_s,
            on_capture_settled=lambda: uploader_box[0].wake() if uploader_box else None,
            preview=capture.preview,
            agent_name=enrolment.agent,
        )
        kept = KeptEnrolment(
            enrolment, paths.enrolment_file if _enrolled_here(paths, enrolment) else None
        )
        uploader = Uploader(
            spool,
            stack.enter_context(device_client(paths, enrolment, pins, proxy_setting)),
            agent_version=VERSION,
            limit_kbps=settings.upload_limit_kbps,
            heartbeat_s=settings.heartbeat_s,
            on_change=lambda status: core.on_upload_status(_upload_summary(status)),
            on_vault_recipient=RecipientFollower(kept, capture.seal_to),
            on_vault_tls_pins=TlsPinFollower(kept, pins, policy_pins),
        )
        uploader_box.append(uploader)
        shell = AgentShell(view, core)
        stack.callback(shell.close)
        stoppers = _start_services(
            settings, paths=paths, core=core, uploader=uploader, capture=capture, shell=shell
        )
        stack.callback(_stop_all, stoppers)
        if args.open_window:
            shell.open_window()
        timer = _quit_on_signals(app)
        stack.callback(timer.stop)
        log.info("agent running (version %s, device %s)", VERSION, enrolment.device_id)
        app.exec()
    return 0


def _start_services(
    settings: AgentSettings,
    *,
    paths: AgentPaths,
    core: AgentCore,
    uploader: Uploader,
    capture: SettingsCaptureFactory,
    shell: AgentShell,
) -> list[Callable[[], object]]:
    """Start everything that feeds the core; return how to stop each, in start order."""
    detectors = create_detectors(
        settings.detectors,
        softphone_executable=settings.softphone_executable,
        baresip_address=settings.baresip_ctrl_address,
    )
    hook = next((d for d in detectors if isinstance(d, HookDetector)), None)

    def control(request: dict[str, object]) -> dict[str, object]:
        if request.get("command") == "hook":
            if hook is None:
                return {"ok": False, "error": "the hook detector is not enabled by policy"}
            return hook.handle_request(request)
        return core.handle_control(request)

    stoppers: list[Callable[[], object]] = []
    try:
        core.start()
        stoppers.append(core.shutdown)
        uploader.start()
        stoppers.append(uploader.stop)
        server = ControlServer(paths.runtime_dir, control)
        server.start()
        stoppers.append(server.stop)
        for detector in detectors:
            detector.start(core.on_call_signal)
            stoppers.append(detector.stop)
        if settings.payment_title_pattern and capture.has_window:
            watcher = PaymentTitleWatcher(
                settings.payment_title_pattern,
                capture.locator,
                lambda matching: core.post(
                    Pause(PauseSource.PAYMENT_WINDOW)
                    if matching
                    else Resume(PauseSource.PAYMENT_WINDOW)
                ),
            )
            watcher.start()
            stoppers.append(watcher.stop)
        try:
            shell.start_hotkey(create_hotkey(settings.pause_hotkey))
            stoppers.append(shell.stop_hotkey)
        except (HotkeyError, HotkeyUnavailableError) as exc:
            log.warning("no pause hotkey: %s (pause from the tray or callreel-agent pause)", exc)
    except BaseException:
        # Stop what did start before the spool and the vault client it uses are closed.
        _stop_all(stoppers)
        raise
    return stoppers


def _stop_all(stoppers: list[Callable[[], object]]) -> None:
    for stop in reversed(stoppers):
        try:
            stop()
        except Exception:
            log.exception("stopping %r failed", stop)
