"""The quickstart's demo desktop: scripts/run starts it so that a newcomer's test call records
something real. It gives the tray agent what a contact-centre desktop has, labelled as a demo:
a demo business window that the demo policy whitelists and, on a machine with no desktop (on
scripts/run's virtual display), a private PulseAudio with a demo caller (a tone on the call's
speaker) and a demo microphone (another tone); on a real desktop (--desktop-sound) its own
microphone and speakers. Then the agent on its embedded default (the local vault). It prints
how to make a test call.

    .venv/bin/python scripts/demo_desktop.py [--desktop-sound] [agent run options]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testbed.programs import stop_processes  # noqa: E402
from testbed.pulse import PulseServer, running_pulse_server  # noqa: E402

BIN = Path(sys.executable).parent
DEMO_TITLE = "Callreel demo: business application"
DESKTOP_POLICY = f"""# The quickstart's demo policy (scripts/demo_desktop.py): only the demo window.
window_title_pattern = "^{DEMO_TITLE}$"
session_poll_s = 1.0
"""
# On the virtual display, calls come from the printed hook commands and the sound from the
# private server's two tones.
POLICY = DESKTOP_POLICY + (
    'detectors = ["hook"]\nmicrophone = "callreel_mic"\nfar_end = "callreel_farend"\n'
)
SYSTEM_POLICY = Path("/etc/callreel/demo-policy.toml")
CALLER_HZ, AGENT_HZ = 330, 550


def state_dir() -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "callreel-demo"


def demo_policy(state: Path, text: str) -> Path:
    """The policy must be root's and not writable by others, like /etc/callreel/policy.toml."""
    if os.geteuid() == 0:
        path = state / "demo-policy.toml"
        path.write_text(text)
        path.chmod(0o644)
        return path
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as draft:
        draft.write(text)
    print(f"demo: installing the demo policy as {SYSTEM_POLICY} (sudo)", flush=True)
    subprocess.run(
        ["sudo", "install", "-D", "-o", "root", "-g", "root", "-m", "644", draft.name,
         str(SYSTEM_POLICY)],
        check=True,
    )  # fmt: skip
    Path(draft.name).unlink()
    return SYSTEM_POLICY


def start_sounds(pulse: PulseServer) -> None:
    """The caller on the call's speaker, the agent on the microphone: two steady tones."""
    for sink, frequency in (("callsink", CALLER_HZ), ("micsink", AGENT_HZ)):
        subprocess.run(
            ["pactl", "load-module", "module-sine", f"sink={sink}", f"frequency={frequency}"],
            env=pulse.env, check=True, capture_output=True, timeout=30,
        )  # fmt: skip


def demo_window() -> int:
    """A window standing for the business application: labelled, with a clock so it changes."""
    from PySide6.QtCore import QDateTime, QTimer  # noqa: PLC0415 - only in the window process
    from PySide6.QtWidgets import QApplication, QLabel  # noqa: PLC0415

    app = QApplication([sys.argv[0]])
    label = QLabel()
    label.setWindowTitle(DEMO_TITLE)
    label.setStyleSheet("background: #1f5fa8; color: white; font-size: 28px; padding: 40px;")

    def tick() -> None:
        label.setText(
            "DEMO business application\n\nCallreel records this window (and only this one)\n"
            "during a call in a training session.\n\n"
            + QDateTime.currentDateTime().toString("HH:mm:ss")
        )

    tick()
    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(1000)
    label.setGeometry(60, 120, 900, 500)
    label.show()
    return app.exec()


def main() -> int:
    if sys.argv[1:2] == ["--window"]:
        return demo_window()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--desktop-sound",
        action="store_true",
        help="on a real desktop: record its own microphone and speakers, not demo tones",
    )
    parser.add_argument("agent_options", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    state = state_dir()
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    if args.desktop_sound:
        policy = demo_policy(state, DESKTOP_POLICY)
        return run_demo(policy, state / "agent", dict(os.environ), args.agent_options,
                        "your own microphone and speakers")  # fmt: skip
    policy = demo_policy(state, POLICY)
    sound = Path(tempfile.mkdtemp(prefix="callreel-demo-sound-"))
    try:
        with running_pulse_server(sound) as pulse:
            start_sounds(pulse)
            env = {**pulse.env, "DISPLAY": os.environ["DISPLAY"]}
            heard = (
                f"a private sound server's demo caller ({CALLER_HZ} Hz) and demo microphone"
                f" ({AGENT_HZ} Hz)"
            )
            return run_demo(policy, state / "agent", env, args.agent_options, heard)
    finally:
        shutil.rmtree(sound, ignore_errors=True)


def run_demo(
    policy: Path, agent_root: Path, env: dict[str, str], agent_options: list[str], heard: str
) -> int:
    """The demo window and the agent, until the agent stops; says how to make a test call."""
    window = subprocess.Popen([sys.executable, __file__, "--window"], env=env)
    runtime = agent_root / "run"
    hook = f"{BIN / 'callreel-agent'} hook {{}} --call-id demo --runtime-dir {runtime}"
    print(
        f"demo: a demo business window ({DEMO_TITLE!r}) is open and whitelisted by {policy};"
        f" a test call records it and {heard}.\n"
        "demo: once a session is started for you (the console link below), make a test"
        " call: the notice shows, then recording runs until the hang-up:\n"
        f"  {hook.format('off')}\n  sleep 20\n  {hook.format('on')}",
        flush=True,
    )
    agent = subprocess.Popen(
        [str(BIN / "callreel-agent"), "run", "--root", str(agent_root),
         "--policy-file", str(policy), "--open-window", *agent_options],
        env=env,
    )  # fmt: skip
    try:
        return agent.wait()
    finally:
        stop_processes([agent, window])


if __name__ == "__main__":
    sys.exit(main())
