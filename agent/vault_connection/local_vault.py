"""The embedded default: with no vault configured, the agent runs a vault of its own.

It starts `callreel-vault serve` on 127.0.0.1 (any free port) from the user's data directory,
so a first run on a fresh machine works with no external service. On first start it sets the
vault up through the vault's own command line, as an operator would: this user as the agent,
a `trainer` account whose command-line token is kept in `trainer.token` (mode 0600) for
starting sessions, and a one-time token that enrols this machine. Later starts reuse all of
it; only the port can change, and the enrolment follows it. The agent imports nothing of the
vault: the two meet at the command line and at `protocol.api.serving.ServeReady`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import importlib.metadata
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from agent.paths import AgentPaths
from agent.vault_connection.enrolment import Enrolment, EnrolmentError, enrol_device
from protocol.api.serving import ServeReady

START_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 120.0
TRAINER = "trainer"
TRAINER_TOKEN_FILE = "trainer.token"  # noqa: S105 - a file name
READY_FILE = "serve.ready.json"
VAULT_COMMAND = (sys.executable, "-m", "vault.cli")
NEEDS_VAULT = (
    "the embedded default runs a local vault, which needs Callreel's vault part installed"
    " (pip install 'callreel[agent,vault]'); or set vault_url in the managed policy"
)


def missing_vault_part() -> list[str]:
    """The distributions of Callreel's `vault` extra that are not installed here (an agent-only
    install has none of them): the embedded default cannot start its vault without them."""
    try:
        requirements = importlib.metadata.requires("callreel") or []
    except importlib.metadata.PackageNotFoundError:
        return []  # run from a source tree, not installed: nothing to compare with
    missing = []
    for requirement in requirements:
        if 'extra == "vault"' not in requirement:
            continue
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return missing


@dataclass(frozen=True, slots=True)
class LocalVault:
    url: str
    data_dir: Path
    ca_file: Path
    enrolment: Enrolment

    @property
    def trainer_token_file(self) -> Path:
        return self.data_dir / TRAINER_TOKEN_FILE

    def console_sign_in_link(self) -> str:
        """A one-time link (10 minutes) that signs the local trainer into the console."""
        return _vault_command(self.data_dir, "sign-in-link", TRAINER, "--url", self.url).strip()

    def how_to_get_a_new_link(self) -> str:
        return f"callreel-vault sign-in-link {TRAINER} --data {self.data_dir} --url {self.url}"

    def how_to_start_a_session(self) -> str:
        return (
            f"CALLREEL_VAULT_URL={self.url} CALLREEL_VAULT_CA={self.ca_file}"
            f' CALLREEL_TOKEN="$(cat {self.trainer_token_file})"'
            f" callreel-vault session start --agent {self.enrolment.agent} --calls 1"
            ' --purpose training --hours 8 --notice "Recorded for training"'
        )


def _vault_command(data_dir: Path, *arguments: str) -> str:
    """Run one `callreel-vault` command on the local vault's data; its standard output."""
    command = [*VAULT_COMMAND, *arguments, "--data", str(data_dir)]
    try:
        result = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise EnrolmentError(
            f"callreel-vault {arguments[0]} did not finish in {COMMAND_TIMEOUT_S:g} s"
        ) from None
    if result.returncode != 0:
        hint = f"; {NEEDS_VAULT}" if "ModuleNotFoundError" in result.stderr else ""
        raise EnrolmentError(
            f"setting up the local vault failed at `callreel-vault {' '.join(arguments)}`:"
            f" {result.stderr.strip()[-2000:]}{hint}"
        )
    return result.stdout


def _bootstrap(data_dir: Path, agent: str) -> str:
    """Add the agent and trainer accounts and the trainer's token; return an enrolment token."""
    _vault_command(data_dir, "user", "add", agent, "--role", "agent", "--exist-ok")
    _vault_command(data_dir, "user", "add", TRAINER, "--role", "trainer", "--exist-ok")
    token_file = data_dir / TRAINER_TOKEN_FILE
    if not token_file.exists():
        _vault_command(
            data_dir, "token", "create", TRAINER, "--days", "365", "--label", "local trainer",
            "--out", str(token_file),
        )  # fmt: skip
    return _vault_command(data_dir, "enroll-token", "--agent", agent).strip()


def _wait_until_ready(process: subprocess.Popen[bytes], ready_file: Path, log: Path) -> ServeReady:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            hint = f"\n{NEEDS_VAULT}" if "ModuleNotFoundError" in tail else ""
            raise EnrolmentError(f"the local vault stopped at start (see {log}):\n{tail}{hint}")
        if ready_file.exists():
            try:
                return ServeReady.model_validate_json(ready_file.read_bytes())
            except ValidationError as exc:
                raise EnrolmentError(
                    f"{ready_file} does not say where the vault is: {exc}"
                ) from None
        time.sleep(0.1)
    raise EnrolmentError(f"the local vault did not start within {START_TIMEOUT_S:g} s; see {log}")


@contextlib.contextmanager
def running_local_vault(paths: AgentPaths) -> Iterator[LocalVault]:
    """Serve the local vault for as long as the agent runs, enrolled and ready."""
    missing = missing_vault_part()
    if missing:
        raise EnrolmentError(f"{NEEDS_VAULT} (missing: {', '.join(missing)})")
    data_dir = paths.local_vault_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = data_dir / "serve.log"
    ready_file = data_dir / READY_FILE
    ready_file.unlink(missing_ok=True)
    with log.open("ab") as log_handle:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [*VAULT_COMMAND, "serve", "--data", str(data_dir), "--host", "127.0.0.1",
             "--port", "0", "--ready-file", str(ready_file)],
            stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        ready = _wait_until_ready(process, ready_file, log)
        ca_file = Path(ready.certificate)
        if paths.enrolment_file.exists():
            enrolment = Enrolment.load(paths.enrolment_file)
            if enrolment.vault_url != ready.url:
                enrolment = dataclasses.replace(enrolment, vault_url=ready.url)
                enrolment.save(paths.enrolment_file)
        else:
            token = _bootstrap(data_dir, getpass.getuser())
            enrolment = enrol_device(paths, ready.url, ca_file, token)
        yield LocalVault(ready.url, data_dir, ca_file, enrolment)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
