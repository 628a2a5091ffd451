"""The embedded default's local vault, set up through the vault's own command line.

`running_local_vault` starts `callreel-vault serve` on a free port, adds the accounts, enrols
this machine and gives the trainer's command; a second start reuses all of it on a new port.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

from agent.paths import AgentPaths
from agent.vault_connection.enrolment import Enrolment, device_client
from agent.vault_connection.local_vault import running_local_vault
from agent.vault_connection.proxy_choice import DIRECT
from protocol.pinned_tls import TrustedPins, client_ssl_context


def _trainer_command(command: str) -> subprocess.CompletedProcess[str]:
    """Run the printed `session start` line as a trainer would paste it into a shell."""
    binary = Path(sys.executable).parent
    return subprocess.run(
        ["bash", "-c", command],
        env={**os.environ, "PATH": f"{binary}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _pins(enrolment: Enrolment) -> TrustedPins:
    return TrustedPins(enrolment.pins())


def test_the_local_vault_enrols_this_machine_and_the_printed_command_arms_a_session(
    tmp_path: Path,
) -> None:
    paths = AgentPaths.under(tmp_path)
    with running_local_vault(paths) as local:
        assert local.url.startswith("https://127.0.0.1:")
        assert oct(local.trainer_token_file.stat().st_mode & 0o777) == "0o600"
        started = _trainer_command(local.how_to_start_a_session())
        assert started.returncode == 0, started.stderr
        assert "started" in started.stdout
        with device_client(paths, local.enrolment, _pins(local.enrolment), DIRECT) as client:
            sessions = client.sessions()
        assert [session.notice_text for session in sessions] == ["Recorded for training"]
        first_url = local.url
        device = local.enrolment.device_id

    with running_local_vault(paths) as again:
        # Same device and accounts; only the port may differ, and the enrolment follows it.
        assert again.enrolment.device_id == device
        assert Enrolment.load(paths.enrolment_file).vault_url == again.url
        with device_client(paths, again.enrolment, _pins(again.enrolment), DIRECT) as client:
            assert len(client.sessions()) == 1
        # The printed console link signs the local trainer in, once.
        link = again.console_sign_in_link()
        assert link.startswith(f"{again.url}/console/sign-in/once/")
        with httpx.Client(verify=client_ssl_context(again.ca_file), timeout=30) as browser:
            form = browser.get(link)
            assert form.status_code == 200
            signed_in = browser.post(link, headers={"Origin": again.url})
            assert signed_in.status_code == 303, signed_in.text
            assert browser.get(f"{again.url}/console/sessions").status_code == 200
            assert browser.post(link, headers={"Origin": again.url}).status_code != 303
    assert shlex.split(again.how_to_start_a_session())[0].startswith("CALLREEL_VAULT_URL=")
    assert first_url.startswith("https://127.0.0.1:")
