"""Directories only their owner may enter, whether we create them or find them already there.

`mkdir(mode=0o700)` says nothing about a directory that already exists: a spool or data
directory left 0755 by an older install, a restore from backup or a hand-made `spool_dir`
would stay readable by every local user. So an existing one is brought to 0700, with the
files inside made owner-only, or refused with the command that fixes it.

Private keys (every `*.key` file Callreel writes) are the exception: a loose one is left as
found, for its reader to refuse as ssh does (protocol/keys.py), because a copy may already
have been taken and only a new key fixes that.

On Windows the user's profile directories carry their own ACLs and POSIX modes mean little:
there the directory is only created.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_OTHERS = 0o077
PRIVATE_KEY_SUFFIX = ".key"


class NotPrivateError(OSError):
    """A directory, or something in it, cannot be made private to this user."""


def make_private(directory: Path, what: str) -> list[Path]:
    """Create `directory` with mode 0700, or bring an existing one and everything in it to
    owner-only (directories 0700, files without group or other bits). Returns what it
    tightened; raises NotPrivateError, naming the fix, when something belongs to another user
    or refuses chmod. Symbolic links inside are left alone (they have no mode of their own),
    and so are loose private keys (see above)."""
    if directory.exists() and not directory.is_dir():
        raise NotPrivateError(f"the {what} {directory} is not a directory; move it out of the way")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise NotPrivateError(f"cannot create the {what} {directory}: {exc}") from exc
    if sys.platform == "win32":
        return []
    tightened = [path for path in _walk(directory) if _tighten(path, what)]
    if tightened:
        log.warning(
            "the %s %s was open to other users: made %d entries owner-only",
            what,
            directory,
            len(tightened),
        )
    return tightened


def _walk(directory: Path) -> list[Path]:
    found = [directory]
    for parent, directories, files in os.walk(directory, followlinks=False):
        found.extend(Path(parent, name) for name in (*directories, *files))
    return found


def _tighten(path: Path, what: str) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False  # removed meanwhile, e.g. a finished temporary file
    if stat.S_ISLNK(info.st_mode):
        return False
    if stat.S_ISREG(info.st_mode) and path.suffix == PRIVATE_KEY_SUFFIX:
        return False
    if info.st_uid != os.getuid():
        raise NotPrivateError(
            f"{path} in the {what} belongs to uid {info.st_uid}, not this user ({os.getuid()});"
            f" fix it with: sudo chown -R {os.getuid()} {path}"
        )
    mode = stat.S_IMODE(info.st_mode)
    if not mode & _OTHERS:
        return False
    try:
        path.chmod(mode & ~_OTHERS)
    except OSError as exc:
        raise NotPrivateError(
            f"{path} in the {what} has mode {mode:o} and cannot be made owner-only ({exc});"
            f" fix it with: chmod -R go-rwx {path}"
        ) from exc
    return True
