"""The console's recording list on a vault of 100,000 recordings, on SQLite and PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/console_list.py [--recordings 100000] [--requests 60]
    PYTHONPATH=. .venv/bin/python bench/console_list.py --quick      # 5,000 recordings

A real `callreel-vault serve` on each database, seeded directly in its tables (400 agents in
20 teams, five purposes, a year of calls), then a signed-in reviewer asks for list pages as a
browser does (one connection kept, the console's cookie): the first page, filtered by agent,
by team, by purpose and state, by a week, and a page deep in the list reached by position.
Reported per case: p50 and p95, and the p95's ratio to the vault's health check on the same
connection in the same run (the floor of any request). Target (issue 14): p95 under 200 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from machine import cpu_model
from vault_ingest import progress, running_vault

from protocol.pinned_tls import client_ssl_context
from testbed.postgres import running_postgres
from vault import accounts
from vault.db.opening import open_database
from vault.db.tables import devices, recordings, training_sessions, users
from vault.roles import Role

PASSWORD = "a long enough bench password"  # noqa: S105  (a throwaway vault's user)
TARGET_P95_MS = 200.0
AGENTS = 400
TEAMS = 20
PURPOSES = ["training", "quality", "dispute", "abuse", "agreement-verification"]
STATES = ["complete"] * 8 + ["incomplete", "interrupted"]
YEAR = timedelta(days=365)


def seed(url: str, count: int) -> datetime:
    """`count` recordings of AGENTS agents over the year before the returned moment."""
    engine = open_database(url)
    now = datetime.now(UTC)
    rng = random.Random(14)
    try:
        accounts.add_user(engine, "rob", frozenset({Role.REVIEWER}), now=now, by="bench",
                          password=PASSWORD)  # fmt: skip
        with engine.begin() as connection:
            connection.execute(
                users.insert(),
                [{"username": f"agent{n:03d}", "roles": "agent", "team": f"team{n % TEAMS:02d}",
                  "created_at": now} for n in range(AGENTS)],
            )  # fmt: skip
            agent_ids = list(
                connection.execute(
                    sa.select(users.c.id).where(users.c.roles == "agent").order_by(users.c.id)
                ).scalars()
            )
            trainer = connection.execute(
                sa.select(users.c.id).where(users.c.username == "rob")
            ).scalar_one()
            device_of, session_of = {}, {}
            for agent in agent_ids:
                device_of[agent], session_of[agent] = uuid.uuid4(), uuid.uuid4()
            connection.execute(
                devices.insert(),
                [{"id": device_of[a], "agent_user_id": a, "public_key": "x", "hostname": "pc",
                  "enrolled_at": now} for a in agent_ids],
            )  # fmt: skip
            connection.execute(
                training_sessions.insert(),
                [{"id": session_of[a], "trainer_id": trainer, "agent_user_id": a,
                  "calls_allowed": 100, "calls_used": 0, "purpose": "training",
                  "notice_text": "bench", "created_at": now - YEAR, "expires_at": now}
                 for a in agent_ids],
            )  # fmt: skip
            batch = []
            for number in range(count):
                agent = rng.choice(agent_ids)
                started = now - YEAR * rng.random()
                batch.append({
                    "id": uuid.uuid4(), "session_id": session_of[agent],
                    "device_id": device_of[agent], "agent_user_id": agent,
                    "purpose": rng.choice(PURPOSES), "started_at": started,
                    "registered_at": started, "state": rng.choice(STATES),
                    "media_segments": 30, "keep_until": started + YEAR,
                    "delete_at": started + YEAR,
                })  # fmt: skip
                if len(batch) == 10_000 or number == count - 1:
                    connection.execute(recordings.insert(), batch)
                    batch = []
                    progress(f"seeded {number + 1} recordings")
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                connection.execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()
    return now


def cases(now: datetime) -> dict[str, str]:
    week = (now - timedelta(days=100)).date()
    return {
        "first page": "/console/recordings",
        "one agent": "/console/recordings?agent=agent123",
        "one team": "/console/recordings?team=team07",
        "purpose and state": "/console/recordings?purpose=dispute&state=incomplete",
        "one week": f"/console/recordings?since={week}&until={week + timedelta(days=6)}",
        "team, purpose, month": (
            f"/console/recordings?team=team03&purpose=quality&since={week}"
            f"&until={week + timedelta(days=30)}"
        ),
    }


def timed(client: httpx.Client, path: str, requests: int) -> list[float]:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    return samples


def deep_page(client: httpx.Client, pages: int) -> str:
    """The address of the list `pages` pages in, followed as a reader would."""
    path = "/console/recordings"
    for _ in range(pages):
        page = client.get(path).text
        marker = 'rel="next"'
        end = page.index(marker)
        start = page.rindex('href="', 0, end) + len('href="')
        path = page[start : page.index('"', start)].replace("&amp;", "&")
    return path


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def measure(label: str, url: str | None, work: Path, count: int, requests: int) -> list[str]:
    with running_vault(work, core=0, db=url) as vault:
        now = seed(url or f"sqlite:///{vault.data / 'vault.db'}", count)
        origin = vault.url
        with httpx.Client(
            base_url=origin, verify=client_ssl_context(vault.cert), timeout=60,
            headers={"Origin": origin},
        ) as client:  # fmt: skip
            signed_in = client.post(
                "/console/sign-in", data={"username": "rob", "password": PASSWORD}
            )
            if signed_in.status_code != 303:
                raise RuntimeError(f"sign-in failed: {signed_in.text[:300]}")
            floor = p95(timed(client, "/api/v1/health", requests))
            found = cases(now)
            deep = 200 if count >= 20_000 else 20
            found[f"page {deep} (by position)"] = deep_page(client, deep)
            rows = []
            for case, path in found.items():
                samples = timed(client, path, requests)
                high = p95(samples)
                verdict = "meets" if high < TARGET_P95_MS else "MISSES"
                rows.append(
                    f"| {label} | {case} | {statistics.median(samples):.1f} | {high:.1f} |"
                    f" {high / floor:.1f}x | {verdict} |"
                )
                progress(rows[-1])
    return [*rows, f"| {label} | health check (floor) | | {floor:.1f} | 1.0x | |"]


@contextlib.contextmanager
def databases(work: Path) -> Iterator[list[tuple[str, str | None]]]:
    with running_postgres(work / "postgres") as server:
        yield [("SQLite", None), ("PostgreSQL", server.rsplit("/", 1)[0] + "/postgres")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="5,000 recordings, 20 requests")
    args = parser.parse_args()
    count, requests = (5_000, 20) if args.quick else (args.recordings, args.requests)
    print(f"# console list: {count} recordings, {requests} requests per case; {cpu_model()}")
    lines = ["| database | case | p50 ms | p95 ms | p95 / health | under 200 ms |",
             "|---|---|---:|---:|---:|---|"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="callreel-bench-") as scratch:
        work = Path(scratch)
        (work / "postgres").mkdir()
        with databases(work) as found:
            for label, url in found:
                (work / label).mkdir()
                lines += measure(label, url, work / label, count, requests)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
