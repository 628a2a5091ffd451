"""The session push under load: a vault holding 1,000 agents' waiting requests.

    .venv/bin/python bench/session_push.py [--agents 1000] [--seconds 20]
    .venv/bin/python bench/session_push.py --quick        # smoke run: 50 agents, 5 s

A real `callreel-vault serve` (SQLite + disk, the embedded default) on a temporary data
directory, pinned to CPU 0; this process and its waiter process on CPU 1. N enrolled agent
devices (each its own Ed25519 key) each keep one signed `GET /api/v1/agent/sessions?wait=25`
waiting at the vault, as the agent's session poller does, over its own keep-alive HTTPS
connection, asking again as soon as one returns.

Measured over `--seconds`, first with no agent waiting (the baseline, same run, same server),
then with all N waiting: the vault's resident memory (VmRSS) and CPU (user + system of all its
threads, /proc/PID/stat), and the latency of a signed-in request meanwhile (a trainer's
`GET /api/v1/sessions`, ten a second, each on a fresh connection as a browser's first request
would be, so the TLS handshake is in it). Reported as the loaded figures, the baseline's, and
their ratio. Last, a session started for one agent: how long until that agent's waiting
request returns with it, while the other N-1 are woken and look their sessions up again.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from machine import cpu_model
from vault_ingest import cpu_seconds, pinned, progress, running_vault

from agent.vault_connection.client import enrol
from protocol.api.agent import TrainingSessionList, sessions_etag
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey, sign_request
from testbed.process_memory import rss_mb
from vault import accounts, devices
from vault.db.opening import open_database
from vault.roles import Role
from vault.server import locations

WAIT_S = 25.0
SESSIONS = "/api/v1/agent/sessions"
FORK = multiprocessing.get_context("fork")
EMPTY_ETAG = sessions_etag(TrainingSessionList([]))


@dataclass(frozen=True)
class Device:
    name: str
    device_id: uuid.UUID
    key_text: str


def set_up(url: str, cert: Path, data: Path, count: int) -> tuple[list[Device], str]:
    """Agents and their enrolled devices, and a trainer's bearer token."""
    engine = open_database(locations(data).db_url)
    now = datetime.now(UTC)
    accounts.add_user(engine, "trainer", frozenset({Role.TRAINER}), now=now, by="bench")
    bearer = accounts.issue_token(
        engine, "trainer", now=now, label="bench", lifetime=timedelta(days=1), by="bench"
    )
    names = [f"agent{number:05d}" for number in range(count)]
    tokens = []
    for name in names:
        accounts.add_user(engine, name, frozenset({Role.AGENT}), now=now, by="bench")
        tokens.append(devices.issue_enrol_token(engine, name, by="bench", now=now))
    engine.dispose()
    made = []
    with httpx.Client(base_url=url, verify=client_ssl_context(cert), timeout=60) as client:
        for name, token in zip(names, tokens, strict=True):
            key = DeviceKey.generate()
            enrolled = enrol(client, token, key, f"bench-{name}")
            made.append(Device(name, enrolled.device_id, key.to_text()))
    return made, bearer


def signed(device: Device, key: DeviceKey, path: str) -> dict[str, str]:
    headers = sign_request(key, device.device_id, "GET", path, b"", now=time.time())
    headers["If-None-Match"] = EMPTY_ETAG
    return headers


def waiter_process(
    url: str, cert: Path, agents: list[Device], report: multiprocessing.connection.Connection
) -> None:
    """Keeps one waiting request per agent until told to stop; reports how many are waiting
    and, for the first agent, when its wait returned with a change."""

    async def main() -> None:
        context = client_ssl_context(cert)
        path = f"{SESSIONS}?wait={WAIT_S:g}"
        in_flight = 0
        changed_at: list[float] = []
        stop = asyncio.Event()

        async def keep_waiting(device: Device) -> None:
            nonlocal in_flight
            key = DeviceKey.from_text(device.key_text)
            limits = httpx.Limits(max_connections=1)
            async with httpx.AsyncClient(
                base_url=url, verify=context, timeout=WAIT_S + 30, limits=limits
            ) as client:
                while not stop.is_set():
                    in_flight += 1
                    try:
                        response = await client.get(path, headers=signed(device, key, path))
                    finally:
                        in_flight -= 1
                    if response.status_code == 200 and device is agents[0]:
                        changed_at.append(time.monotonic())
                        return
                    if response.status_code not in (200, 304):
                        raise RuntimeError(f"{device.name}: {response.status_code}")

        tasks = [asyncio.create_task(keep_waiting(device)) for device in agents]
        while True:
            await asyncio.sleep(0.2)
            report.send(("waiting", in_flight, changed_at[0] if changed_at else None))
            if report.poll():
                report.recv()
                stop.set()
                break
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


@dataclass
class Window:
    rss_mb: float
    cpu_cores: float
    p50_ms: float
    p99_ms: float


def signed_in_latencies(url: str, cert: Path, bearer: str, seconds: float) -> list[float]:
    """A trainer's `GET /api/v1/sessions` ten a second for `seconds`, each on a fresh TLS
    connection as a browser's first request would be; each one's latency in seconds."""
    context = client_ssl_context(cert)
    latencies = []
    started = next_at = time.monotonic()
    while time.monotonic() - started < seconds:
        began = time.monotonic()
        with httpx.Client(base_url=url, verify=context, timeout=60) as client:
            response = client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {bearer}"})
        if response.status_code != 200:
            raise RuntimeError(f"signed-in request: {response.status_code} {response.text}")
        latencies.append(time.monotonic() - began)
        next_at += 0.1
        time.sleep(max(0.0, next_at - time.monotonic()))
    return latencies


def measure(url: str, cert: Path, bearer: str, pid: int, seconds: float) -> Window:
    """Signed-in requests ten a second for `seconds`, and the server's memory and CPU."""
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    latencies = signed_in_latencies(url, cert, bearer, seconds)
    cores = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
    quantiles = statistics.quantiles(latencies, n=100)
    return Window(rss_mb(pid), cores, quantiles[49] * 1000, quantiles[98] * 1000)


def start_session(url: str, cert: Path, bearer: str, agent: str) -> None:
    with httpx.Client(base_url=url, verify=client_ssl_context(cert), timeout=30) as client:
        response = client.post(
            "/api/v1/sessions",
            headers={"Authorization": f"Bearer {bearer}"},
            json={
                "agent": agent,
                "calls": 1,
                "purpose": "training",
                "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "notice_text": "This call is recorded for training.",
            },
        )
    if response.status_code != 201:
        raise RuntimeError(f"session start: {response.text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="50 agents, 5 s windows")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.seconds = 50, 5.0
    if os.cpu_count() is None or (os.cpu_count() or 0) < 2:
        sys.exit("needs two CPUs: the vault on one, the load on the other")
    print(f"CPU: {cpu_model()}; {args.agents} agents; {args.seconds:g} s windows")
    with (
        tempfile.TemporaryDirectory(dir="/var/tmp") as temp,
        pinned({1}),
        running_vault(Path(temp), core=0) as vault,
    ):
        pid = vault.process.pid
        progress(f"enrolling {args.agents} agent devices")
        agents, bearer = set_up(vault.url, vault.cert, vault.data, args.agents)
        progress("baseline: no agent waiting")
        idle = measure(vault.url, vault.cert, bearer, pid, args.seconds)

        ours, theirs = FORK.Pipe()
        waiters = FORK.Process(target=waiter_process, args=(vault.url, vault.cert, agents, theirs))
        waiters.start()
        progress(f"{args.agents} agents start waiting")
        deadline = time.monotonic() + 120
        while True:
            _, waiting, _ = ours.recv()
            if waiting >= args.agents:
                break
            if time.monotonic() > deadline or not waiters.is_alive():
                raise RuntimeError(f"only {waiting} of {args.agents} agents are waiting")
        time.sleep(2.0)  # the last handshakes settle
        loaded = measure(vault.url, vault.cert, bearer, pid, args.seconds)

        start_session(vault.url, vault.cert, bearer, agents[0].name)
        started = time.monotonic()
        pushed_at = None
        while pushed_at is None and time.monotonic() - started < WAIT_S + 5:
            _, _, pushed_at = ours.recv()
        ours.send("stop")
        waiters.join(60)
        vault.check_alive()

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "n/a"

    print(f"{'':28}{'baseline':>12}{f'{args.agents} waiting':>16}{'ratio':>10}")
    for label, a, b in (
        ("vault RSS (MB)", idle.rss_mb, loaded.rss_mb),
        ("vault CPU (cores)", idle.cpu_cores, loaded.cpu_cores),
        ("signed-in request p50 (ms)", idle.p50_ms, loaded.p50_ms),
        ("signed-in request p99 (ms)", idle.p99_ms, loaded.p99_ms),
    ):
        print(f"{label:28}{a:12.3f}{b:16.3f}{ratio(b, a):>10}")
    per_waiter_kb = (loaded.rss_mb - idle.rss_mb) * 1024 / args.agents
    print(f"memory per waiting agent: {per_waiter_kb:.1f} KB")
    if pushed_at is None:
        print("a started session did NOT reach its waiting agent")
        sys.exit(1)
    print(f"a started session reached its agent after {pushed_at - started:.2f} s")


if __name__ == "__main__":
    main()
