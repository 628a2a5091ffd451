"""Make docs/agent-screenshot.png: the tray, the notice and the agent's window, for real.

On a fresh virtual display (Xvfb + openbox + trayer) with a private PulseAudio, it runs
`callreel-agent run` on its embedded default (the local vault), starts a training session
with the printed trainer command, opens a business window, and sends the softphone's hook
command; while the notice counts down it grabs the screen.

    .venv/bin/python scripts/screenshot.py [--out docs/agent-screenshot.png]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mss
import mss.tools

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testbed.programs import stop_processes  # noqa: E402
from testbed.pulse import running_pulse_server  # noqa: E402
from testbed.waiting import wait_for  # noqa: E402
from testbed.x_display import running_x_server  # noqa: E402

BIN = Path(sys.executable).parent
POLICY = """
window_title_pattern = "^CRM - Orders$"
detectors = ["hook"]
notice_lead_time_s = 30.0
microphone = "callreel_mic"
far_end = "callreel_farend"
session_poll_s = 1.0
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "agent-screenshot.png")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="callreel-shot-"))
    (base / "x").mkdir()
    (base / "pulse").mkdir()
    with (
        running_x_server(base / "x", width=1600, height=900) as x_server,
        running_pulse_server(base / "pulse") as pulse,
    ):
        env = {**pulse.env, "DISPLAY": x_server.display}
        policy = base / "policy.toml"
        policy.write_text(POLICY)
        policy.chmod(0o644)
        helpers = [
            subprocess.Popen(["trayer", "--SetDockType", "true", "--align", "right"], env=env),
            subprocess.Popen(
                ["xterm", "-T", "CRM - Orders", "-geometry", "100x30+40+380", "-e",
                 "bash", "-c", "echo 'Order 4711: 2 x headset, status: shipped'; sleep 600"],
                env=env,
            ),
        ]  # fmt: skip
        agent_root = base / "agent"
        agent = subprocess.Popen(
            [str(BIN / "callreel-agent"), "run", "--root", str(agent_root),
             "--policy-file", str(policy), "--open-window"],
            env=env,
        )  # fmt: skip
        try:
            enrolment = agent_root / "data" / "enrolment.json"
            wait_for(enrolment.exists, timeout=90, what="the agent to enrol")
            vault_url = json.loads(enrolment.read_text())["vault_url"]
            local_vault = agent_root / "data" / "local-vault"
            session_env = {
                **os.environ,
                "CALLREEL_VAULT_URL": vault_url,
                "CALLREEL_VAULT_CA": str(local_vault / "tls" / "vault-tls.crt"),
                "CALLREEL_TOKEN": (local_vault / "trainer.token").read_text().strip(),
            }
            subprocess.run(
                [str(BIN / "callreel-vault"), "session", "start", "--agent",
                 json.loads(enrolment.read_text())["agent"], "--calls", "3",
                 "--notice", "Tom records three calls to coach the new starters."],
                env=session_env, check=True,
            )  # fmt: skip
            time.sleep(3)  # the agent polls every second
            subprocess.run(
                [str(BIN / "callreel-agent"), "hook", "off", "--call-id", "demo",
                 "--runtime-dir", str(agent_root / "run")],
                env=env, check=True,
            )  # fmt: skip
            time.sleep(4)
            os.environ["DISPLAY"] = x_server.display
            with mss.MSS() as screen:
                shot = screen.grab(screen.monitors[1])
                mss.tools.to_png(shot.rgb, shot.size, output=str(args.out))
            print(f"screenshot: {args.out}")
        finally:
            stop_processes([agent, *helpers])
    return 0


if __name__ == "__main__":
    sys.exit(main())
