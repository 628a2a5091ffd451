"""The embedded default: with no vault configured, the agent runs a vault of its own.

It serves `callreel-vault serve` on 127.0.0.1 from the user's data directory, so a first run on
a fresh machine works with no external service. On first start it adds this user as the agent,
a `trainer` account whose command-line token is kept in `trainer.token` (mode 0600) for
starting sessions, and enrols this machine. Later starts reuse all of it; only the port can
change, and the enrolment follows it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from agent.atomic import atomic_output
from agent.enrolment import Enrolment, EnrolmentError, enrol_device
from agent.paths import AgentPaths
from agent.pinned_tls import CERT_FILENAME

START_TIMEOUT_S = 60.0
TRAINER = "trainer"
TRAINER_TOKEN_FILE = "trainer.token"  # noqa: S105 - a file name
TLS_DIRECTORY = "tls"  # as vault/server.py lays out its data directory


@dataclass(frozen=True, slots=True)
class LocalVault:
    url: str
    data_dir: Path
    ca_file: Path
    enrolment: Enrolment

    @property
    def trainer_token_file(self) -> Path:
        return self.data_dir / TRAINER_TOKEN_FILE

    def how_to_start_a_session(self) -> str:
        return (
            f"CALLREEL_VAULT_URL={self.url} CALLREEL_VAULT_CA={self.ca_file}"
            f' CALLREEL_TOKEN="$(cat {self.trainer_token_file})"'
            f" callreel-vault session start --agent {self.enrolment.agent} --calls 1"
            ' --purpose training --hours 8 --notice "Recorded for training"'
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise EnrolmentError(f"the local vault stopped at start (see {log}):\n{tail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise EnrolmentError(f"the local vault did not start within {START_TIMEOUT_S:g} s; see {log}")


def _bootstrap_accounts(data_dir: Path, agent: str) -> str:
    """Add the agent and trainer accounts; return a one-time enrolment token."""
    # The vault package is needed only on this embedded path, so it is imported here.
    from vault import accounts, devices  # noqa: PLC0415
    from vault.db import open_database, utc_now  # noqa: PLC0415
    from vault.errors import Conflict  # noqa: PLC0415
    from vault.roles import Role  # noqa: PLC0415
    from vault.server import locations  # noqa: PLC0415

    engine = open_database(locations(data_dir).db_url)
    try:
        now = utc_now()
        for username, role in ((agent, Role.AGENT), (TRAINER, Role.TRAINER)):
            with contextlib.suppress(Conflict):
                accounts.add_user(engine, username, frozenset({role}), now=now)
        token_file = data_dir / TRAINER_TOKEN_FILE
        if not token_file.exists():
            token = accounts.issue_token(
                engine, TRAINER, now=now, label="local trainer", lifetime=timedelta(days=365)
            )
            with atomic_output(token_file, mode=0o600) as handle:
                handle.write(token.encode() + b"\n")
        return devices.issue_enrol_token(engine, agent, by="local-agent", now=now)
    finally:
        engine.dispose()


@contextlib.contextmanager
def running_local_vault(paths: AgentPaths) -> Iterator[LocalVault]:
    """Serve the local vault for as long as the agent runs, enrolled and ready."""
    data_dir = paths.local_vault_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    port = _free_port()
    log = data_dir / "serve.log"
    with log.open("ab") as log_handle:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [sys.executable, "-m", "vault.cli", "serve", "--data", str(data_dir),
             "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_serving(process, port, log)
        url = f"https://127.0.0.1:{port}"
        ca_file = data_dir / TLS_DIRECTORY / CERT_FILENAME
        if paths.enrolment_file.exists():
            enrolment = Enrolment.load(paths.enrolment_file)
            if enrolment.vault_url != url:
                enrolment = dataclasses.replace(enrolment, vault_url=url)
                enrolment.save(paths.enrolment_file)
        else:
            token = _bootstrap_accounts(data_dir, getpass.getuser())
            enrolment = enrol_device(paths, url, ca_file, token)
        yield LocalVault(url, data_dir, ca_file, enrolment)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
