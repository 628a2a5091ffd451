"""A throwaway PostgreSQL 15 cluster on a free 127.0.0.1 port, fsync off, trust auth.

PostgreSQL refuses to run as root, so under root the cluster runs as `nobody` (via `setpriv`)
in a directory of its own under the system temp dir: a caller's private temp dir would be out
of `nobody`'s reach. Its log is copied into `root` on exit.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from testbed.ports import free_port
from testbed.programs import TestbedError, require_program, tail

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def run_step(
    command: list[str], what: str, log: Path, timeout: float = 60, cwd: Path | None = None
) -> str:
    """Run a set-up step; fail with its output (and the tail of `log`) if it does not work."""
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired:
        raise TestbedError(f"{what} timed out after {timeout} s: {command}\n{tail(log)}") from None
    if result.returncode != 0:
        raise TestbedError(
            f"{what} failed ({result.returncode}): {command}\n{result.stdout}{result.stderr}\n"
            f"{tail(log)}"
        )
    return result.stdout


@contextlib.contextmanager
def running_postgres(root: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields its SQLAlchemy URL (user `test`, no password)."""
    initdb = str(POSTGRES_BIN / "initdb")
    pg_ctl = str(POSTGRES_BIN / "pg_ctl")
    if not Path(initdb).exists():
        raise TestbedError(
            f"{initdb} is missing: install the Debian package postgresql (scripts/setup dev)"
        )
    as_user: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        as_user = [require_program("setpriv"), "--reuid=nobody", "--regid=nogroup",
                   "--clear-groups", "--"]  # fmt: skip
        cluster = Path(tempfile.mkdtemp(prefix="callreel-postgres-"))
        os.chown(cluster, nobody.pw_uid, nobody.pw_gid)
    else:
        cluster = root / "cluster"
        cluster.mkdir()
    data, log = cluster / "data", cluster / "postgres.log"
    started = False
    try:
        run_step([*as_user, initdb, "-D", str(data), "-U", "test", "--auth=trust", "-E", "UTF8",
              "--locale=C.UTF-8", "--no-sync"], "initdb", log, cwd=cluster)  # fmt: skip
        for _attempt in range(3):  # another process may take the free port before we bind it
            port = free_port()
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
            if "could not bind" not in tail(log):
                break
        if not started:
            raise TestbedError(f"PostgreSQL did not start: {result.stderr}\n{tail(log)}")
        yield f"postgresql+psycopg://test@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60, check=False, cwd=cluster)  # fmt: skip
        if log.exists():
            shutil.copyfile(log, root / "postgres.log")
        shutil.rmtree(cluster, ignore_errors=True)
