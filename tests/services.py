"""Real backing services for the vault's tests: a throwaway PostgreSQL and a one-node Ceph RGW.

The root conftest.py registers this module as a plugin (`pytest_plugins`). Fixtures:

- `postgres_server` (session): a PostgreSQL 15 cluster on a free 127.0.0.1 port, fsync off;
  its SQLAlchemy URL (`postgresql+psycopg://test@127.0.0.1:PORT/postgres`, trust auth).
- `fresh_postgres_url` (per test): a new, empty database on it; dropped afterwards.
- `ceph_rgw` (session): a Ceph cluster of one monitor, one memstore OSD and a RADOS Gateway
  on free 127.0.0.1 ports, with an S3 user with random keys; an `S3Endpoint`.
- `fresh_s3_bucket` (per test): a new bucket with Object Lock enabled; its
  `s3://bucket/segments` URL, with the `AWS_*` variables pointing at the gateway meanwhile.

`running_postgres` and `running_ceph_rgw` are the same services as plain context managers.
The programs come from Debian's postgresql, ceph-mon, ceph-osd and radosgw packages
(`scripts/setup dev`); a missing one fails the test rather than skipping it.

PostgreSQL refuses to run as root, so under root the cluster runs as `nobody` (via
`setpriv`) in a directory of its own under the system temp dir: pytest's base temp dir is
private to root and `nobody` could not reach it. Its log is copied into `root` on exit.

PYTEST_DONT_REWRITE: test modules import `S3Endpoint` from here before pytest registers the
plugin.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
import sqlalchemy

from tests.processes import stop_processes

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
_START_TIMEOUT = 90.0


def _require(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(
            f"{program} is missing: install the Debian package {package} (run scripts/setup dev)"
        )
    return path


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, size: int = 3000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else f"({path} missing)"


def _run(
    command: list[str], what: str, log: Path, timeout: float = 60, cwd: Path | None = None
) -> str:
    """Run a set-up step; fail with its output (and the tail of `log`) if it does not work."""
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} timed out after {timeout} s: {command}\n{_tail(log)}")
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed ({result.returncode}): {command}\n{result.stdout}{result.stderr}\n"
            f"{_tail(log)}"
        )
    return result.stdout


# PostgreSQL -----------------------------------------------------------------------------------


@contextlib.contextmanager
def running_postgres(root: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields its SQLAlchemy URL (user `test`, no password)."""
    initdb = str(POSTGRES_BIN / "initdb")
    pg_ctl = str(POSTGRES_BIN / "pg_ctl")
    if not Path(initdb).exists():
        pytest.fail(f"{initdb} is missing: install the Debian package postgresql "
                    "(run scripts/setup dev)")  # fmt: skip
    as_user: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        as_user = [_require("setpriv", "util-linux"), "--reuid=nobody", "--regid=nogroup",
                   "--clear-groups", "--"]  # fmt: skip
        cluster = Path(tempfile.mkdtemp(prefix="callreel-postgres-"))
        os.chown(cluster, nobody.pw_uid, nobody.pw_gid)
    else:
        cluster = root / "cluster"
        cluster.mkdir()
    data, log = cluster / "data", cluster / "postgres.log"
    started = False
    try:
        _run([*as_user, initdb, "-D", str(data), "-U", "test", "--auth=trust", "-E", "UTF8",
              "--locale=C.UTF-8", "--no-sync"], "initdb", log, cwd=cluster)  # fmt: skip
        for _attempt in range(3):  # another process may take the free port before we bind it
            port = _free_port()
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            result = subprocess.run(
                [*as_user, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60",
                 "-o", options, "start"],
                capture_output=True, text=True, timeout=90, check=False, cwd=cluster,
            )  # fmt: skip
            if result.returncode == 0:
                started = True
                break
            if "could not bind" not in _tail(log):
                break
        if not started:
            pytest.fail(f"PostgreSQL did not start: {result.stderr}\n{_tail(log)}")
        yield f"postgresql+psycopg://test@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60, check=False, cwd=cluster)  # fmt: skip
        if log.exists():
            shutil.copyfile(log, root / "postgres.log")
        shutil.rmtree(cluster, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database (random name) on the session's server; dropped after the test."""
    name = f"test_{secrets.token_hex(6)}"
    engine = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


# Ceph RADOS Gateway ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    url: str
    """e.g. `http://127.0.0.1:40123`"""
    access_key: str
    secret_key: str
    region: str = "default"

    def env(self) -> dict[str, str]:
        """The `AWS_*` variables that point boto3's standard chain at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )


_CEPH_CONF = """\
[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{mon_port}
public network = 127.0.0.1/32
auth cluster required = none
auth service required = none
auth client required = none
run dir = {root}/run
log file = {root}/log/$name.log
pid file = {root}/run/$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon max pg per osd = 1000
osd crush chooseleaf type = 0
# The OSD's own crush update on start races its first monitor map ("wrong fsid", exit 1);
# the harness places it in the crush map before starting it instead.
osd crush update on start = false
osd class update on start = false
paxos propose interval = 0.05
paxos min wait = 0.01
osd mon report interval = 1
mon data avail crit = 0
ms bind msgr2 = false
[mon.a]
mon data = {root}/mon
public addr = v1:127.0.0.1:{mon_port}
[osd.0]
osd data = {root}/osd0
osd objectstore = memstore
memstore device bytes = 2147483648
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
"""


def _wait(
    condition: Callable[[], bool], what: str, log: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Poll `condition()` until true; fail if a daemon exits or `_START_TIMEOUT` passes."""
    deadline = time.monotonic() + _START_TIMEOUT
    while not condition():
        dead = [p.args for p in processes if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            reason = f"exited: {dead}" if dead else f"timed out after {_START_TIMEOUT} s"
            pytest.fail(f"Ceph: {what} ({reason})\n{_tail(log)}")
        time.sleep(0.2)


def _http_up(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status < 500
    except OSError:
        return False
    finally:
        connection.close()


@contextlib.contextmanager
def running_ceph_rgw(root: Path) -> Iterator[S3Endpoint]:
    """Monitor, memstore OSD and RADOS Gateway under `root` (empty); all stopped on exit."""
    ceph_mon = _require("ceph-mon", "ceph-mon")
    ceph_osd = _require("ceph-osd", "ceph-osd")
    radosgw = _require("radosgw", "radosgw")
    radosgw_admin = _require("radosgw-admin", "radosgw")
    ceph = _require("ceph", "ceph-common")
    for directory in ("mon", "osd0", "log", "run"):
        (root / directory).mkdir()
    mon_port = _free_port()
    rgw_port = _free_port()
    while rgw_port == mon_port:
        rgw_port = _free_port()
    conf = root / "ceph.conf"
    conf.write_text(
        _CEPH_CONF.format(fsid=uuid.uuid4(), mon_port=mon_port, rgw_port=rgw_port, root=root)
    )
    c = ["-c", str(conf)]
    logs = root / "log"
    daemons: list[subprocess.Popen[bytes]] = []

    def daemon(command: list[str], name: str) -> None:
        with (logs / f"{name}.out").open("wb") as out:
            daemons.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT))

    try:
        _run([ceph_mon, *c, "-i", "a", "--mkfs"], "ceph-mon --mkfs", logs / "mon.a.log")
        daemon([ceph_mon, *c, "-i", "a", "-f"], "mon.a")
        osd_uuid = str(uuid.uuid4())
        osd_id = _run([ceph, *c, "--connect-timeout", "60", "osd", "new", osd_uuid],
                      "ceph osd new", logs / "mon.a.log", timeout=90).strip()  # fmt: skip
        _run([ceph, *c, "--connect-timeout", "60", "osd", "crush", "add", f"osd.{osd_id}", "1.0",
              "root=default"], "ceph osd crush add", logs / "mon.a.log")  # fmt: skip
        _run([ceph_osd, *c, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid], "ceph-osd --mkfs",
             logs / f"osd.{osd_id}.log")  # fmt: skip
        daemon([ceph_osd, *c, "-i", osd_id, "-f"], f"osd.{osd_id}")

        def osd_up() -> bool:
            stat = subprocess.run(
                [ceph, *c, "--connect-timeout", "10", "osd", "stat"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            return " 1 up" in stat.stdout

        _wait(osd_up, "the OSD did not come up", logs / f"osd.{osd_id}.log", daemons)
        daemon([radosgw, *c, "-n", "client.rgw.a", "-f"], "client.rgw.a")
        _wait(lambda: _http_up(rgw_port), "the RADOS Gateway did not answer",
              logs / "client.rgw.a.log", daemons)  # fmt: skip
        endpoint = S3Endpoint(
            url=f"http://127.0.0.1:{rgw_port}",
            access_key=secrets.token_hex(10).upper(),
            secret_key=secrets.token_urlsafe(30),
        )
        _run([radosgw_admin, *c, "user", "create", "--uid=test", "--display-name=test",
              f"--access-key={endpoint.access_key}", f"--secret={endpoint.secret_key}"],
             "radosgw-admin user create", logs / "client.rgw.a.log")  # fmt: skip
        yield endpoint
    finally:
        # One at a time, gateway first: a gateway whose OSD is already gone takes seconds to exit.
        for process in reversed(daemons):
            stop_processes([process], timeout=15)


@pytest.fixture(scope="session")
def ceph_rgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with running_ceph_rgw(tmp_path_factory.mktemp("ceph")) as endpoint:
        yield endpoint


@pytest.fixture
def fresh_s3_bucket(
    ceph_rgw: S3Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """A new bucket with Object Lock enabled; yields `s3://<bucket>/segments`.

    For the test, the `AWS_*` variables point boto3's standard chain at the gateway (and away
    from any AWS config or credentials files of the machine).
    """
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name, value in ceph_rgw.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"test-{secrets.token_hex(8)}"
    client = ceph_rgw.client()
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    yield f"s3://{bucket}/segments"
    # Best effort: governance-locked test objects go; compliance-locked ones stay until the
    # gateway stops (it keeps everything in memory).
    with contextlib.suppress(Exception):
        listing = client.list_object_versions(Bucket=bucket)
        for entry in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]:
            client.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"],
                                 BypassGovernanceRetention=True)  # fmt: skip
        client.delete_bucket(Bucket=bucket)
