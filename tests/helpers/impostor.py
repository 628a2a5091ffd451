"""A forged softphone: another local user binds the softphone's control port and announces a
call, as an attacker would with baresip down (issue: a recording with no call in progress).

It runs as `IMPOSTOR_USER`, a system account that `scripts/setup dev` creates (so `.ci/run`
has it), under the system's own Python: the test's interpreter lives in root's home.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from testbed.programs import require_program, stop_processes

IMPOSTOR_USER = "callreel-impostor"
SYSTEM_PYTHON = "/usr/bin/python3"
_FORGED_CALL = b'{"event":true,"type":"CALL_ESTABLISHED","id":"forged-call"}'

# Listens, then tells every client a call was answered and keeps the connection open.
_SCRIPT = f"""
import socket, sys, threading, time
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
payload = {_FORGED_CALL!r}
message = str(len(payload)).encode() + b":" + payload + b","
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)
    try:
        connection.sendall(message)
    except OSError:
        pass
"""


def _impostor() -> pwd.struct_passwd:
    if os.getuid() != 0:
        pytest.fail(f"the forged-softphone test runs a process as {IMPOSTOR_USER}: run it as root")
    try:
        return pwd.getpwnam(IMPOSTOR_USER)
    except KeyError:
        pytest.fail(
            f"no user {IMPOSTOR_USER}: scripts/setup dev creates it"
            f" (or: useradd --system --no-create-home {IMPOSTOR_USER})"
        )


@contextmanager
def impostor_listening(port: int) -> Iterator[int]:
    """Another user's process on 127.0.0.1:`port`, forging CALL_ESTABLISHED; yields its pid."""
    user = _impostor()
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} is missing: install Debian's python3")
    process = subprocess.Popen(
        [require_program("setpriv"), f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
         "--clear-groups", SYSTEM_PYTHON, "-c", _SCRIPT, str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/",
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == b"ready", line + process.stdout.read()
        yield process.pid
    finally:
        stop_processes([process], timeout=5.0)
        if process.stdout is not None:
            process.stdout.close()
