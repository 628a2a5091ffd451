"""The vault under abuse by clients that never sign in, with a signed-in person measuring.

    PYTHONPATH=. .venv/bin/python bench/vault_abuse.py [--seconds 30]
    PYTHONPATH=. .venv/bin/python bench/vault_abuse.py --quick      # smoke run: 5 s each

A real `callreel-vault serve` (SQLite + disk, the embedded default) on a temporary data
directory, pinned to CPU 0; the attackers run in a child process on CPU 1, the measuring
client in this one. Each window lasts `--seconds`:

- idle: nobody but the measuring client (the baseline, same run, same server);
- unsigned large bodies: 4 connections each PUTting a 60 MiB segment without a device
  signature, starting again whenever the vault answers or hangs up;
- slow bodies and headers: 10 connections sending a login body a byte a second and 10 sending
  headers a byte a second, reconnecting when dropped;
- login flood: 24 clients, each from its own loopback address, signing in with wrong
  passwords as fast as they are answered.

Meanwhile a trainer's `GET /api/v1/sessions`, ten a second, each on a fresh connection (so the
TLS handshake is in it). Reported per window: the vault's peak resident memory (VmRSS sampled
every 100 ms) and its growth over idle, and the signed-in request's p50 and p99 and their
ratio to idle. Targets (issue 13): growth under 100 MB, p99 under 5x idle.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from machine import cpu_model
from session_push import signed_in_latencies
from vault_ingest import pinned, progress, running_vault

from protocol.pinned_tls import client_ssl_context
from testbed.process_memory import rss_mb
from vault import accounts
from vault.db.opening import open_database
from vault.roles import Role
from vault.server import locations

MIB = 1024 * 1024
GROWTH_TARGET_MB = 100.0
P99_TARGET_RATIO = 5.0


@dataclass
class Window:
    name: str
    peak_rss_mb: float
    p50_ms: float
    p99_ms: float
    attack_attempts: int = 0


def measure(url: str, cert: Path, bearer: str, pid: int, *, seconds: float, name: str) -> Window:
    """Signed-in requests ten a second for `seconds`, and the vault's peak memory."""
    peak = rss_mb(pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.1):
            peak = max(peak, rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    latencies = signed_in_latencies(url, cert, bearer, seconds)
    stop.set()
    sampler.join()
    quantiles = statistics.quantiles(latencies, n=100)
    return Window(name, peak, quantiles[49] * 1000, quantiles[98] * 1000)


# --- Attackers (in a child process; they expect the vault to hang up on them) ---------------


def _tls(port: int, cert: Path, source: str = "127.0.0.1") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    return client_ssl_context(cert).wrap_socket(raw, server_hostname="127.0.0.1")


def _head(method: str, target: str, *headers: str) -> bytes:
    return "\r\n".join(
        [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    ).encode()


def unsigned_large(port: int, cert: Path, stop: multiprocessing.synchronize.Event) -> int:
    chunk = b"\0" * MIB
    with contextlib.suppress(OSError, httpx.HTTPError), _tls(port, cert) as connection:
        connection.sendall(_head("PUT", "/api/v1/agent/segments/" + "ab" * 32,
                                 f"Content-Length: {60 * MIB}"))  # fmt: skip
        for _ in range(60):
            if stop.is_set():
                break
            connection.sendall(chunk)
    return 1


def slow(prefix: bytes) -> Callable[[int, Path, multiprocessing.synchronize.Event], int]:
    def trickle(port: int, cert: Path, stop: multiprocessing.synchronize.Event) -> int:
        with contextlib.suppress(OSError, httpx.HTTPError), _tls(port, cert) as connection:
            connection.sendall(prefix)
            while not stop.wait(1.0):
                connection.sendall(b"x")
        return 1

    return trickle


def login_flood(source: str) -> Callable[[int, Path, multiprocessing.synchronize.Event], int]:
    def guess(port: int, cert: Path, _stop: multiprocessing.synchronize.Event) -> int:
        transport = httpx.HTTPTransport(verify=client_ssl_context(cert), local_address=source)
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.Client(
                base_url=f"https://127.0.0.1:{port}", transport=transport, timeout=60
            ) as client,
        ):
            client.post("/api/v1/login", json={"username": f"guess-{time.monotonic_ns()}",
                                               "password": "not the password"})  # fmt: skip
        return 1

    return guess


SLOW_BODY = _head("POST", "/api/v1/login", "Content-Type: application/json", "Content-Length: 100")
ATTACKS: dict[str, list[Callable[[int, Path, multiprocessing.synchronize.Event], int]]] = {
    "unsigned large bodies": [unsigned_large] * 4,
    "slow bodies and headers": (
        [slow(SLOW_BODY)] * 10 + [slow(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")] * 10
    ),
    "login flood": [login_flood(f"127.0.2.{n}") for n in range(1, 25)],
}


def attack_process(
    name: str, port: int, cert: Path, stop: multiprocessing.synchronize.Event, attempts: Any
) -> None:
    """Every attacker of `name` in its own thread, again and again until `stop`; `attempts`
    (a shared counter) counts the attempts made."""
    with pinned({1}):

        def loop(attacker: Callable[[int, Path, multiprocessing.synchronize.Event], int]) -> None:
            while not stop.is_set():
                count = attacker(port, cert, stop)
                with attempts.get_lock():
                    attempts.value += count

        threads = [threading.Thread(target=loop, args=(a,)) for a in ATTACKS[name]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


# --- The run ---------------------------------------------------------------------------------


def _trainer_token(data: Path) -> str:
    engine = open_database(locations(data).db_url)
    try:
        now = datetime.now(UTC)
        accounts.add_user(engine, "trainer", frozenset({Role.TRAINER}), now=now, by="bench")
        return accounts.issue_token(
            engine, "trainer", now=now, label="bench", lifetime=timedelta(days=1), by="bench"
        )
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="5 s windows (smoke run)")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    if (os.cpu_count() or 1) < 2:
        sys.exit("vault_abuse: needs two CPUs (vault on one, clients on the other)")
    with tempfile.TemporaryDirectory(prefix="callreel-abuse-") as work_dir:
        work = Path(work_dir)
        with running_vault(work, core=0) as vault:
            bearer = _trainer_token(vault.data)
            pid = vault.process.pid
            progress(f"idle window, {seconds:.0f} s")
            windows = [measure(vault.url, vault.cert, bearer, pid, seconds=seconds, name="idle")]
            for name in ATTACKS:
                progress(f"{name}, {seconds:.0f} s")
                stop = multiprocessing.Event()
                attempts = multiprocessing.Value("i", 0)
                attackers = multiprocessing.Process(
                    target=attack_process, args=(name, vault.port, vault.cert, stop, attempts)
                )
                attackers.start()
                time.sleep(1.0)  # the attack under way before measuring
                window = measure(vault.url, vault.cert, bearer, pid, seconds=seconds, name=name)
                stop.set()
                attackers.join(120)
                window.attack_attempts = int(attempts.value)
                windows.append(window)
                vault.check_alive()
    report(windows, seconds)


def report(windows: list[Window], seconds: float) -> None:
    idle = windows[0]
    print(f"\nvault_abuse: {cpu_model()}, {seconds:.0f} s windows, vault pinned to CPU 0\n")
    print("| window | attempts | peak RSS (MB) | growth (MB) | p50 (ms) | p99 (ms) | p99 / idle |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    failed = []
    for window in windows:
        growth = window.peak_rss_mb - idle.peak_rss_mb
        ratio = window.p99_ms / idle.p99_ms
        print(
            f"| {window.name} | {window.attack_attempts} | {window.peak_rss_mb:.1f} |"
            f" {growth:+.1f} | {window.p50_ms:.1f} | {window.p99_ms:.1f} | {ratio:.2f}x |"
        )
        if window is not idle and (growth >= GROWTH_TARGET_MB or ratio >= P99_TARGET_RATIO):
            failed.append(window.name)
    verdict = "missed by: " + ", ".join(failed) if failed else "all met"
    print(
        f"\ntargets: growth < {GROWTH_TARGET_MB:.0f} MB, p99 < {P99_TARGET_RATIO:.0f}x idle:"
        f" {verdict}"
    )


if __name__ == "__main__":
    main()
