"""Vault ingest: segments per second, MB/s per server CPU core and upload latency, with
baselines measured in the same run.

    .venv/bin/python bench/vault_ingest.py [--agents 1000] [--seconds 60] [--mode steady]
    .venv/bin/python bench/vault_ingest.py --mode max [--concurrency 4 16 64] [--seconds 30]
    .venv/bin/python bench/vault_ingest.py --quick        # smoke run: 50 agents, 10 s

A real `callreel-vault serve` (SQLite + disk, the embedded default) runs on a temporary data
directory and a free loopback port, pinned to one CPU; this process and its load processes are
pinned to another. N simulated agents are each a user with the agent role, an enrolled device
with its own Ed25519 key, a one-call training session and a registered recording whose first
segment is already stored, all before the measured window (recordings in progress). Every
segment is sealed beforehand (random payload, sealed to the vault's recipient key so the vault
checks and opens it completely), so the load processes spend no CPU on crypto but the request
signature (SHA-256 of the body and Ed25519).

- steady (open loop): each agent uploads one segment every `--interval` seconds (10 s
  segments), the agents evenly staggered, so the offered rate is agents / interval (100 a
  second for 1000 agents). Latency counts from the *scheduled* send time, so queueing in the
  load generator or the server shows (no coordinated omission).
- max (closed loop): K uploaders send back to back for `--seconds` each; the saturation
  throughput and the latency at that concurrency.

Server CPU is user + system time of the server process (all its threads, /proc/PID/stat) over
the measured window; "cores" is that over wall time, "per core" divides throughput by it.
Baselines in the same run: the same load (same schedule or same K) against the unauthenticated
`GET /api/v1/health` of the same server, and a durable write of one segment on the data
directory's file system (write, fsync, rename, fsync directory: what the disk store does).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import itertools
import math
import multiprocessing
import multiprocessing.connection
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from machine import cpu_model

from agent.vault_connection.client import DeviceClient, enrol
from protocol.keys import VaultRecipient
from protocol.pinned_tls import CERT_FILENAME, client_ssl_context
from protocol.segments.format import MediaType
from protocol.segments.seal import RecordingSealer
from protocol.signing import DeviceKey, sign_request
from testbed.ports import free_port
from vault import accounts, devices
from vault.db.opening import open_database
from vault.key_rotation import RECIPIENT_FILE
from vault.roles import Role
from vault.server import TLS_DIRECTORY, locations

BIN = Path(sys.executable).parent
HEALTH = "/api/v1/health"
TARGET_RATE = 100.0  # segments a second per core: 1,000 agents with 10 s segments
TARGET_P99 = 0.250
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
FORK = multiprocessing.get_context("fork")

Sample = tuple[float, float, int]
"""(latency start: scheduled or sent, monotonic; end, monotonic; HTTP status or 0 on error)."""


# --- The server ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads (not its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


@contextlib.contextmanager
def pinned(cores: set[int]) -> Iterator[None]:
    """Run the block with this process pinned to `cores` (children started in it inherit)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class Vault:
    data: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def cert(self) -> Path:
        return self.data / TLS_DIRECTORY / CERT_FILENAME

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the vault exited with {self.process.returncode}:\n{tail}")


@contextlib.contextmanager
def running_vault(work: Path, core: int, db: str | None = None) -> Iterator[Vault]:
    """`callreel-vault serve` on a data directory in `work`; on `db` (a database URL)
    instead of the directory's SQLite when given."""
    data = work / "vault"
    port = free_port()
    log = work / "vault.log"
    command = [str(BIN / "callreel-vault"), "serve", "--data", str(data), "--host", "127.0.0.1"]
    command += ["--port", str(port), *(["--db", db] if db else [])]
    with log.open("wb") as output, pinned({core}):
        process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
    vault = Vault(data, port, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            vault.check_alive()
            if vault.cert.exists():
                with (
                    contextlib.suppress(httpx.TransportError, OSError),
                    httpx.Client(verify=client_ssl_context(vault.cert), timeout=5) as probe,
                ):
                    if probe.get(vault.url + HEALTH).status_code == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the vault did not answer within 60 s; see {log}")
            time.sleep(0.1)
        yield vault
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Agents ----------------------------------------------------------------------------------


@dataclass
class Agent:
    number: int
    device_id: uuid.UUID
    key: DeviceKey
    sealer: RecordingSealer
    next_index: int = 1
    segments: list[tuple[str, bytes]] = field(default_factory=list)
    """Sealed, not yet uploaded: (SHA-256 hex, bytes)."""

    def seal(self, payload: bytes, count: int) -> None:
        for _ in range(count):
            sealed = self.sealer.seal(self.next_index, MediaType.MP4, payload)
            self.segments.append((hashlib.sha256(sealed).hexdigest(), sealed))
            self.next_index += 1


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def set_up_agents(vault: Vault, count: int, payload: bytes) -> list[Agent]:
    """People and enrol tokens straight in the vault's database (what `callreel-vault user
    add` and `enroll-token` do), the rest over HTTPS as agents and trainers do it: enrolment,
    a one-call session per agent, registration, and each recording's first segment."""
    engine = open_database(locations(vault.data).db_url)
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
    recipient = VaultRecipient.load(vault.data / RECIPIENT_FILE)
    context = client_ssl_context(vault.cert)
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=vault.url, verify=context, timeout=60)
            clients.append(local.client)
        made: httpx.Client = local.client
        return made

    def one(number: int) -> Agent:
        key = DeviceKey.generate()
        enrolled = enrol(client(), tokens[number], key, f"bench-pc-{number}")
        response = client().post(
            "/api/v1/sessions",
            headers={"Authorization": f"Bearer {bearer}"},
            json={
                "agent": names[number],
                "calls": 1,
                "purpose": "training",
                "expires_at": (datetime.now(UTC) + timedelta(hours=8)).isoformat(),
                "notice_text": "This call is recorded for training.",
            },
        )
        if response.status_code != 201:
            raise RuntimeError(f"session for {names[number]}: {response.text}")
        session_id = uuid.UUID(response.json()["session_id"])
        device = DeviceClient(client(), enrolled.device_id, key)
        recording_id = uuid.uuid4()
        device.register_recording(recording_id, session_id, datetime.now(UTC))
        sealer = RecordingSealer(recipient, recording_id)
        first = sealer.seal(0, MediaType.MP4, payload)
        if not device.upload_segment(hashlib.sha256(first).hexdigest(), first):
            raise RuntimeError(f"the first segment of {names[number]} was not stored")
        return Agent(number, enrolled.device_id, key, sealer)

    with ThreadPoolExecutor(max_workers=8) as pool:
        agents = list(pool.map(one, range(count)))
    for each in clients:
        each.close()
    return agents


# --- Load processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """What one load process does: `items` are (scheduled monotonic time or 0 for "as soon as
    a thread is free", agent position in `agents`); `deadline` stops a closed loop."""

    url: str
    cert: Path
    agents: list[Agent]
    items: list[tuple[float, int]]
    threads: int
    health: bool
    deadline: float
    fresh_connections: bool


@dataclass(frozen=True)
class LoadResult:
    samples: list[Sample]
    cpu_seconds: float
    first_error: str


def load_process(work: Work, start: float, results: multiprocessing.connection.Connection) -> None:
    """Run in a forked child: `work.threads` threads with one keep-alive connection each."""
    context = client_ssl_context(work.cert)
    next_item = itertools.count()  # next() on a count is atomic under the GIL
    samples: list[Sample] = []
    errors: list[str] = []
    ready = threading.Barrier(work.threads + 1, timeout=120)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    def thread() -> None:
        with httpx.Client(base_url=work.url, verify=context, timeout=120, limits=limits) as client:
            client.get(HEALTH)  # connect (TLS handshake) before the measured window
            ready.wait()
            send = health if work.health else upload
            while (i := next(next_item)) < len(work.items):
                scheduled, position = work.items[i]
                if scheduled:
                    delay = scheduled - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                elif time.monotonic() >= work.deadline:
                    return
                sent = time.monotonic()
                try:
                    status = send(client, position)
                except httpx.HTTPError as exc:
                    status = 0
                    errors.append(f"{type(exc).__name__}: {exc}")
                samples.append((scheduled or sent, time.monotonic(), status))

    def headers() -> dict[str, str]:
        return {"Connection": "close"} if work.fresh_connections else {}

    def health(client: httpx.Client, _position: int) -> int:
        return client.get(HEALTH, headers=headers()).status_code

    def upload(client: httpx.Client, position: int) -> int:
        agent = work.agents[position]
        sha256, sealed = agent.segments.pop(0)
        path = f"/api/v1/agent/segments/{sha256}"
        signed = sign_request(agent.key, agent.device_id, "PUT", path, sealed, now=time.time())
        signed["Content-Type"] = "application/octet-stream"
        response = client.put(path, content=sealed, headers={**signed, **headers()})
        if response.status_code != 201 and not errors:
            errors.append(f"{response.status_code}: {response.text[:300]}")
        return response.status_code

    threads = [threading.Thread(target=thread, daemon=True) for _ in range(work.threads)]
    for each in threads:
        each.start()
    ready.wait()
    cpu_before = time.process_time()
    time.sleep(max(0.0, start - time.monotonic()))
    for each in threads:
        each.join()
    results.send(LoadResult(samples, time.process_time() - cpu_before, errors[0] if errors else ""))
    results.close()


@dataclass(frozen=True)
class Measured:
    label: str
    offered: float | None
    samples: list[Sample]
    expected_status: int
    window: float
    server_cpu: float
    load_cpu: float
    bytes_per_request: float
    first_error: str

    @property
    def ok(self) -> int:
        return sum(1 for _, _, status in self.samples if status == self.expected_status)

    @property
    def errors(self) -> int:
        return len(self.samples) - self.ok

    @property
    def rate(self) -> float:
        return self.ok / self.window

    @property
    def cores(self) -> float:
        return self.server_cpu / self.window

    @property
    def cpu_ms_per_request(self) -> float:
        return 1e3 * self.server_cpu / max(1, self.ok)

    def latency(self, quantile: float) -> float:
        ordered = sorted(end - start for start, end, _ in self.samples)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, math.ceil(quantile * len(ordered)) - 1)]


def run_load(
    label: str,
    vault: Vault,
    agents: list[Agent],
    items: list[tuple[float, int]],
    *,
    processes: int,
    threads: int,
    health: bool,
    start: float,
    seconds: float,
    closed_loop: bool,
    offered: float | None,
    fresh_connections: bool,
) -> Measured:
    """Fork `processes` load processes (each agent belongs to one), measure the server's CPU
    from `start` to the end of the window (closed loop) or the last answer (open loop)."""
    deadline = start + seconds
    children = []
    for number in range(processes):
        mine = [(t, a) for t, a in items if a % processes == number]
        receiver, sender = FORK.Pipe(duplex=False)
        work = Work(
            vault.url, vault.cert, agents, mine, threads, health, deadline, fresh_connections
        )
        child = FORK.Process(target=load_process, args=(work, start, sender), daemon=True)
        child.start()
        sender.close()
        children.append((child, receiver))
    time.sleep(max(0.0, start - time.monotonic()))
    cpu_start = cpu_seconds(vault.process.pid)
    if closed_loop:
        time.sleep(max(0.0, deadline - time.monotonic()))
        cpu_end = cpu_seconds(vault.process.pid)
    results: list[LoadResult] = []
    for child, receiver in children:
        result: LoadResult = receiver.recv()
        results.append(result)
        child.join()
    if not closed_loop:
        cpu_end = cpu_seconds(vault.process.pid)
    samples = [s for r in results for s in r.samples]
    if closed_loop:
        samples = [s for s in samples if s[1] <= deadline]
        window = seconds
    else:
        window = max([seconds, *(end - start for _, end, _ in samples)])
    vault.check_alive()
    size = len(agents[0].segments[0][1]) if agents[0].segments else 0
    return Measured(
        label=label,
        offered=offered,
        samples=samples,
        expected_status=200 if health else 201,
        window=window,
        server_cpu=cpu_end - cpu_start,
        load_cpu=sum(r.cpu_seconds for r in results),
        bytes_per_request=0.0 if health else size,
        first_error=next((r.first_error for r in results if r.first_error), ""),
    )


# --- Baseline and report -----------------------------------------------------------------------


def durable_write_seconds(directory: Path, size: int, rounds: int) -> float:
    """Median of write + fsync + rename + fsync directory of `size` bytes, as DiskStore does."""
    directory.mkdir(exist_ok=True)
    data = os.urandom(size)
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        temporary = directory / f".{i}.tmp"
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(directory / f"{i}.seg")
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        samples.append(time.perf_counter() - started)
    shutil.rmtree(directory)
    return statistics.median(samples)


def row(m: Measured) -> str:
    mb = m.rate * m.bytes_per_request / 1e6
    per_core = m.rate / m.cores if m.cores > 0 else math.nan
    offered = f"{m.offered:.1f}" if m.offered is not None else "max"
    cells = [
        m.label,
        offered,
        f"{m.rate:.1f}",
        f"{mb:.2f}",
        f"{m.cores:.2f}",
        f"{per_core:.0f}",
        f"{mb / m.cores:.2f}" if m.cores > 0 else "-",
        f"{m.cpu_ms_per_request:.2f}",
        f"{1e3 * m.latency(0.5):.1f}",
        f"{1e3 * m.latency(0.99):.1f}",
        f"{1e3 * m.latency(1.0):.1f}",
        str(m.errors),
        f"{m.load_cpu / m.window:.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| load | offered/s | achieved/s | MB/s | server cores | /s per core | MB/s per core"
    " | server CPU ms/req | p50 ms | p99 ms | max ms | errors | load cores |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def report(pairs: Sequence[tuple[Measured, Measured]], fsync_seconds: float) -> None:
    print(HEADER)
    for baseline, upload in pairs:
        print(row(baseline))
        print(row(upload))
    print()
    print(f"baseline durable write of one segment (write+fsync+rename+fsync dir), median: "
          f"{1e3 * fsync_seconds:.2f} ms")  # fmt: skip
    for baseline, upload in pairs:
        print(
            f"{upload.label}: server CPU per segment {upload.cpu_ms_per_request:.2f} ms ="
            f" {upload.cpu_ms_per_request / baseline.cpu_ms_per_request:.1f}x a health GET"
            f" ({baseline.cpu_ms_per_request:.2f} ms); p99"
            f" {upload.latency(0.99) / baseline.latency(0.99):.1f}x the health GET's;"
            f" throughput {upload.rate / baseline.rate:.2f}x; p99"
            f" {upload.latency(0.99) / fsync_seconds:.0f}x one durable write"
        )
        if upload.first_error:
            print(f"  first error: {upload.first_error}")
        if baseline.first_error:
            print(f"  first baseline error: {baseline.first_error}")


def verdict(upload: Measured) -> str:
    per_core = upload.rate / upload.cores if upload.cores > 0 else math.nan
    p99 = upload.latency(0.99)
    kept_up = upload.offered is None or upload.rate >= 0.98 * upload.offered
    met = per_core >= TARGET_RATE and p99 < TARGET_P99 and upload.errors == 0 and kept_up
    return (
        f"target (>= {TARGET_RATE:.0f} segments/s per core, p99 < {1e3 * TARGET_P99:.0f} ms,"
        f" no errors{', offered rate kept up' if upload.offered is not None else ''}):"
        f" {'MET' if met else 'NOT MET'} ({per_core:.0f} segments/s per core, p99"
        f" {1e3 * p99:.0f} ms, {upload.errors} errors)"
    )


# --- Runs ------------------------------------------------------------------------------------


def steady_items(count: int, interval: float, seconds: float) -> list[list[float]]:
    """Per agent, its send times from the start of the window, the agents evenly staggered."""
    times = []
    for number in range(count):
        offset = interval * number / count
        times.append([offset + k * interval for k in range(math.ceil(seconds / interval) + 1)])
    return [[t for t in each if t < seconds] for each in times]


def run_steady(
    args: argparse.Namespace, vault: Vault, agents: list[Agent], payload: bytes
) -> list[tuple[Measured, Measured]]:
    offered = len(agents) / args.interval
    # Enough threads to keep up with the schedule even at a few hundred ms of latency, few
    # enough that each keep-alive connection carries a request every second or so.
    threads = max(1, min(64, math.ceil(offered)) // args.processes)
    runs = []
    per_agent = steady_items(len(agents), args.interval, args.seconds)
    for health in (True, False):
        if not health:
            for agent, each in zip(agents, per_agent, strict=True):
                agent.seal(payload, len(each))
        start = time.monotonic() + args.lead
        items = sorted((start + t, a) for a, each in enumerate(per_agent) for t in each)
        label = "health GET (baseline)" if health else "segment PUT"
        progress(
            f"{label}: {offered:.1f}/s for {args.seconds:g} s, {args.processes} processes x"
            f" {threads} threads"
        )
        runs.append(
            run_load(
                label,
                vault,
                agents,
                items,
                processes=args.processes,
                threads=threads,
                health=health,
                start=start,
                seconds=args.seconds,
                closed_loop=False,
                offered=offered,
                fresh_connections=args.fresh_connections,
            )
        )
        for agent in agents:
            agent.segments.clear()
    return [(runs[0], runs[1])]


def run_max(
    args: argparse.Namespace, vault: Vault, agents: list[Agent], payload: bytes
) -> list[tuple[Measured, Measured]]:
    pairs = []
    for concurrency in args.concurrency:
        processes = min(args.processes, concurrency)
        threads = concurrency // processes
        pair = []
        for health in (True, False):
            # Health requests need nothing sealed: give them room for thousands a second.
            pool = (20 if health else 1) * args.pool_rate * args.seconds
            each = math.ceil(pool / len(agents))
            if not health:
                progress(f"sealing {each * len(agents)} segments")
                for agent in agents:
                    agent.seal(payload, each)
            # Round robin over the agents: one agent's segments are far apart in the queue.
            items = [(0.0, a) for _ in range(each) for a in range(len(agents))]
            label = f"{'health GET (baseline)' if health else 'segment PUT'}, K={concurrency}"
            progress(f"{label}: closed loop for {args.seconds:g} s")
            measured = run_load(
                label,
                vault,
                agents,
                items,
                processes=processes,
                threads=threads,
                health=health,
                start=time.monotonic() + args.lead,
                seconds=args.seconds,
                closed_loop=True,
                offered=None,
                fresh_connections=args.fresh_connections,
            )
            if len(measured.samples) >= 0.99 * len(items):
                progress(f"{label}: the pool of {len(items)} ran out; raise --pool-rate")
            pair.append(measured)
            for agent in agents:
                agent.segments.clear()
        pairs.append((pair[0], pair[1]))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window (per K)")
    parser.add_argument("--interval", type=float, default=10.0, help="segment length, s")
    parser.add_argument("--segment-kb", type=int, default=100, help="plaintext, 1 KB = 1000 B")
    parser.add_argument("--mode", choices=("steady", "max"), default="steady")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--processes", type=int, default=4, help="load processes")
    parser.add_argument(
        "--pool-rate",
        type=int,
        default=400,
        help="max mode: segments sealed per second of window (the most it can measure)",
    )
    parser.add_argument(
        "--fresh-connections",
        action="store_true",
        help="a new TLS connection per request (as agents 10 s apart meet uvicorn's 5 s"
        " keep-alive timeout)",
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--lead", type=float, default=2.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="py-spy the server during the runs, baselines included (collapsed stacks to FILE,"
        " idle threads and native frames included, so waits show as well as CPU; py-spy runs"
        " on the load CPU, but the figures of such a run mean little)",
    )
    parser.add_argument(
        "--samples",
        type=Path,
        metavar="FILE",
        help="write every request as CSV: load, start (s into the window), latency (s), status",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 agents, 10 s")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.seconds, args.concurrency, args.pool_rate = 50, 10.0, [8], 200
    os.sched_setaffinity(0, {args.load_core})
    payload = secrets.token_bytes(args.segment_kb * 1000)
    print(
        f"machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {sys.version.split()[0]};"
        f" load average {Path('/proc/loadavg').read_text().split()[0]} at start"
    )
    print(
        f"vault pinned to CPU {args.server_core}, load generators to CPU {args.load_core};"
        f" {args.agents} agents, {args.segment_kb} KB segments, mode {args.mode},"
        f" {args.seconds:g} s windows{', fresh connections' if args.fresh_connections else ''}"
    )
    with tempfile.TemporaryDirectory(prefix="callreel-ingest-", dir="/var/tmp") as scratch:
        work = Path(scratch)
        with running_vault(work, args.server_core) as vault:
            started = time.monotonic()
            agents = set_up_agents(vault, args.agents, payload)
            progress(f"{len(agents)} agents enrolled in {time.monotonic() - started:.0f} s")
            fsync_seconds = durable_write_seconds(vault.data / "bench-fsync", len(payload), 50)
            profiler = start_profiler(args.profile, vault)
            try:
                runner: Callable[..., list[tuple[Measured, Measured]]]
                runner = run_steady if args.mode == "steady" else run_max
                pairs = runner(args, vault, agents, payload)
            finally:
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(timeout=60)
            stored = sum(
                1
                for path in (vault.data / "segments").rglob("*")
                if path.is_file() and not path.name.endswith(".lock.json")
            )
        print(f"segments stored on disk at the end: {stored}")
    print(f"load average at the end: {Path('/proc/loadavg').read_text().split()[0]}")
    print()
    report(pairs, fsync_seconds)
    if args.samples is not None:
        write_samples(args.samples, [m for pair in pairs for m in pair])
    for _, upload in pairs:
        print(f"{upload.label}: {verdict(upload)}")


def write_samples(path: Path, runs: Sequence[Measured]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["load", "start_s", "latency_s", "status"])
        for m in runs:
            first = min((start for start, _, _ in m.samples), default=0.0)
            for start, end, status in sorted(m.samples):
                writer.writerow([m.label, f"{start - first:.4f}", f"{end - start:.4f}", status])


def start_profiler(path: Path | None, vault: Vault) -> subprocess.Popen[Any] | None:
    if path is None:
        return None
    spy = shutil.which("py-spy") or str(BIN / "py-spy")
    command = [spy, "record", "--pid", str(vault.process.pid), "--threads", "--idle", "--native"]
    command += ["--rate", "100"]
    command += ["--format", "raw", "-o", str(path.resolve())]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 - no shell


if __name__ == "__main__":
    main()
