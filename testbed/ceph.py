"""A one-node Ceph cluster with its RADOS Gateway on loopback: real S3 with Object Lock.

One monitor, one memstore OSD and radosgw on free 127.0.0.1 ports, from Debian's ceph-mon,
ceph-osd and radosgw packages, with an S3 user with random keys.
"""

from __future__ import annotations

import contextlib
import http.client
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from testbed.ports import free_port
from testbed.postgres import run_step
from testbed.programs import TestbedError, require_program, stop_processes, tail

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

_START_TIMEOUT = 90.0


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
            raise TestbedError(f"Ceph: {what} ({reason})\n{tail(log)}")
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
    ceph_mon = require_program("ceph-mon")
    ceph_osd = require_program("ceph-osd")
    radosgw = require_program("radosgw")
    radosgw_admin = require_program("radosgw-admin")
    ceph = require_program("ceph")
    for directory in ("mon", "osd0", "log", "run"):
        (root / directory).mkdir()
    mon_port = free_port()
    rgw_port = free_port()
    while rgw_port == mon_port:
        rgw_port = free_port()
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
        run_step([ceph_mon, *c, "-i", "a", "--mkfs"], "ceph-mon --mkfs", logs / "mon.a.log")
        daemon([ceph_mon, *c, "-i", "a", "-f"], "mon.a")
        osd_uuid = str(uuid.uuid4())
        osd_id = run_step([ceph, *c, "--connect-timeout", "60", "osd", "new", osd_uuid],
                      "ceph osd new", logs / "mon.a.log", timeout=90).strip()  # fmt: skip
        run_step([ceph, *c, "--connect-timeout", "60", "osd", "crush", "add", f"osd.{osd_id}",
                  "1.0", "root=default"], "ceph osd crush add", logs / "mon.a.log")  # fmt: skip
        run_step([ceph_osd, *c, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid], "ceph-osd --mkfs",
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
        run_step([radosgw_admin, *c, "user", "create", "--uid=test", "--display-name=test",
              f"--access-key={endpoint.access_key}", f"--secret={endpoint.secret_key}"],
             "radosgw-admin user create", logs / "client.rgw.a.log")  # fmt: skip
        yield endpoint
    finally:
        # One at a time, gateway first: a gateway whose OSD is already gone takes seconds to exit.
        for process in reversed(daemons):
            stop_processes([process], timeout=15)
