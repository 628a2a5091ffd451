"""The whole product as processes, for the end-to-end tests: a vault, the tray agent, people.

- `VaultProcess`: `callreel-vault serve` on a fixed free port and data directory, which a test
  can stop and start again at the same address (the agent only ever sees it go away).
- `People`: a trainer, a reviewer and an agent made with `callreel-vault user add`, with
  command-line tokens from `callreel-vault token create`.
- `AgentProcess`: `callreel-agent run --root R --policy-file P` on the test's X display and
  PulseAudio, enrolled first with `callreel-agent enrol`.
- `NoticeWatcher`: notes when the agent's notice window first appears on the X display, as
  seen from outside the agent (by a process of its own).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from agent.vault_connection.client import DeviceClient, enrol
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from testbed.ports import free_port
from testbed.waiting import wait_for
from vault.db.opening import open_database
from vault.db.tables import segments

BIN = Path(sys.executable).parent
NOTICE_TITLE = "Callreel: this call will be recorded"


def _run(command: list[str], *, env: dict[str, str] | None = None, stdin: str = "") -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=env, input=stdin
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


@dataclass
class VaultProcess:
    data: Path
    port: int = field(default_factory=free_port)
    db: str | None = None
    """A database URL shared with other vault processes; None: the data directory's SQLite."""
    store: str | None = None
    """A segment store URL (s3://...); None: the data directory's segments/."""
    process: subprocess.Popen[bytes] | None = None
    serve_options: tuple[str, ...] = ()
    """More `serve` options, such as limits."""
    launcher: tuple[str, ...] = ()
    """A command the vault runs under (it ends by running its arguments)."""

    @property
    def _location(self) -> list[str]:
        return [
            "--data", str(self.data),
            *(["--db", self.db] if self.db else []),
            *(["--store", self.store] if self.store else []),
        ]  # fmt: skip

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.data / "tls" / "vault-tls.crt"

    def start(self) -> None:
        log = (self.data.parent / f"{self.data.name}-serve.log").open("ab")
        self.process = subprocess.Popen(
            [*self.launcher, str(BIN / "callreel-vault"), "serve", *self._location,
             "--port", str(self.port), *self.serve_options],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

        def serving() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, "the vault stopped at start"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self.ca.exists()
            return False

        wait_for(serving, timeout=60, what="the vault to serve")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None

    def admin(self, *arguments: str, stdin: str = "") -> str:
        return _run([str(BIN / "callreel-vault"), *arguments, *self._location], stdin=stdin)

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            verify=client_ssl_context(self.ca),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def segment_indices(self, recording_id: str) -> list[int]:
        """The indices of the segments the vault stored for a recording (its own database)."""
        return sorted(self.stored_segments(recording_id))

    def stored_segments(self, recording_id: str) -> dict[int, str]:
        """The SHA-256 of each segment the vault stored for a recording, by segment index (its
        own database)."""
        engine = open_database(f"sqlite:///{self.data / 'vault.db'}")
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.select(segments.c.segment_index, segments.c.sha256).where(
                        segments.c.recording_id == uuid.UUID(recording_id)
                    )
                )
                return {int(index): str(sha256) for index, sha256 in rows}
        finally:
            engine.dispose()


@dataclass(frozen=True)
class People:
    agent: str
    trainer_token: str
    reviewer_token: str


BACKENDS = ["sqlite+disk", "postgresql+s3"]


def serving_on_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VaultProcess]:
    """For a fixture parametrized with BACKENDS: a served vault on SQLite + disk, or on a
    fresh PostgreSQL database and Ceph RGW bucket, stopped afterwards."""
    db = store = None
    if request.param != "sqlite+disk":
        db = request.getfixturevalue("fresh_postgres_url")
        store = request.getfixturevalue("fresh_s3_bucket")
    process = VaultProcess(tmp_path / "vault", db=db, store=store)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def enrolled_device(vault: VaultProcess, agent: str, hostname: str = "pc-1") -> DeviceClient:
    """A machine enrolled for `agent` through the vault's own enrolment token and API."""
    key = DeviceKey.generate()
    http = httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.ca), timeout=60)
    enrolled = enrol(http, vault.admin("enroll-token", "--agent", agent).strip(), key, hostname)
    return DeviceClient(http, enrolled.device_id, key)


def add_people(vault: VaultProcess, agent: str = "alice") -> People:
    vault.admin("user", "add", agent, "--role", "agent")
    vault.admin("user", "add", "tom", "--role", "trainer")
    vault.admin("user", "add", "rita", "--role", "reviewer")
    trainer = vault.admin("token", "create", "tom").strip()
    reviewer = vault.admin("token", "create", "rita").strip()
    return People(agent, trainer, reviewer)


def start_session(vault: VaultProcess, people: People, *, calls: int = 1) -> str:
    env = {
        **os.environ,
        "CALLREEL_VAULT_URL": vault.url,
        "CALLREEL_VAULT_CA": str(vault.ca),
        "CALLREEL_TOKEN": people.trainer_token,
    }
    return _run(
        [str(BIN / "callreel-vault"), "session", "start", "--agent", people.agent,
         "--calls", str(calls), "--purpose", "training", "--hours", "1",
         "--notice", "Tom records this call to coach the team."],
        env=env,
    )  # fmt: skip


def recordings(vault: VaultProcess, people: People) -> list[dict[str, Any]]:
    with vault.client(people.reviewer_token) as client:
        response = client.get("/api/v1/recordings")
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result


def download(vault: VaultProcess, people: People, recording_id: str) -> bytes:
    with vault.client(people.reviewer_token) as client:
        response = client.get(
            f"/api/v1/recordings/{recording_id}/download", params={"purpose": "training"}
        )
        assert response.status_code == 200, response.text
        return response.content


def write_policy(path: Path, settings: dict[str, object]) -> Path:
    lines = []
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # fail here, not in the agent, if the test wrote bad TOML
    path.write_text(text)
    path.chmod(0o644)
    return path


@dataclass
class AgentProcess:
    root: Path
    policy: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def enrol(self, vault: VaultProcess, agent: str) -> None:
        token = vault.admin("enroll-token", "--agent", agent).strip()
        _run(
            [str(BIN / "callreel-agent"), "enrol", "--root", str(self.root), "--vault",
             vault.url, "--ca", str(vault.ca), "--token-file", "-"],
            stdin=token + "\n",
        )  # fmt: skip

    def start(self) -> None:
        out = (self.root / "agent-stdout.log").open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "callreel-agent"), "run", "--root", str(self.root),
             "--policy-file", str(self.policy)],
            env=self.env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        out.close()
        wait_for(lambda: self.status() is not None, timeout=60, what="the agent to start")

    def status(self) -> dict[str, Any] | None:
        assert self.process is not None
        assert self.process.poll() is None, f"the agent exited:\n{self.log()}"
        result = subprocess.run(
            [str(BIN / "callreel-agent"), "status", "--root", str(self.root), "--json"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            return None
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer

    def wait_for_state(self, state: str, timeout: float = 30) -> None:
        def reached() -> bool:
            status = self.status()
            return status is not None and status["state"] == state

        wait_for(reached, timeout=timeout, what=f"the agent to be {state}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        parts = []
        for name in ("agent-stdout.log", "data/agent.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-6000:])
        return "\n".join(parts)

    def spooled_segments(self) -> int:
        return len(list((self.root / "data" / "spool" / "segments").glob("*.seg")))


class NoticeWatcher:
    """Watches the X display for the notice window from outside the agent, in a process of
    its own (`tests.helpers.notice_watch`).

    The window became viewable after `not_yet_at` and by `first_seen` (None if never): a
    correct agent starts capture at least a lead time after `not_yet_at`, however late the
    watcher was scheduled.
    """

    def __init__(self) -> None:
        self.first_seen: float | None = None
        self.not_yet_at: float | None = None
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> NoticeWatcher:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.notice_watch", NOTICE_TITLE],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert self._process.stdout is not None
        ready = self._process.stdout.readline().strip()
        assert ready == "ready", f"the notice watcher did not start: {ready!r}"
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        if process.poll() is None:
            time.sleep(0.05)  # a last poll, so a window shown just now is not missed
            process.terminate()
        output, _ = process.communicate(timeout=10)
        for line in output.splitlines():
            if line.startswith("seen "):
                not_yet_at, seen_at = line.split()[1:]
                self.not_yet_at, self.first_seen = float(not_yet_at), float(seen_at)


@dataclass(frozen=True)
class DecodedRecording:
    frames: list[np.ndarray]
    audio: np.ndarray
    """(samples, 2) float, left = microphone, right = caller."""
    rate: int

    @property
    def duration(self) -> float:
        return len(self.audio) / self.rate


def decode(media: bytes) -> DecodedRecording:
    with av.open(io.BytesIO(media), mode="r") as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    with av.open(io.BytesIO(media), mode="r") as container:
        decoded = list(container.decode(audio=0))
        rate = decoded[0].sample_rate
        audio = np.concatenate([frame.to_ndarray() for frame in decoded], axis=1).T
    return DecodedRecording(frames, audio.astype(np.float64), int(rate))


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum[1:])) + 1])


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
