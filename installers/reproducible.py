"""What makes two builds of one commit byte-identical: one timestamp for every file
(SOURCE_DATE_EPOCH, the commit's time), fixed permissions, gzip without a name or time."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


class BuildError(RuntimeError):
    """A build cannot go on; the message says what is missing and how to get it."""


def run_step(command: list[str], what: str, *, cwd: Path | None = None) -> str:
    """Run one build tool; its standard output, or BuildError with the end of what it said."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        raise BuildError(
            f"{what} failed ({' '.join(command[:4])} ...):\n{(done.stdout + done.stderr)[-3000:]}"
        )
    return done.stdout


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH if set, else the time of the checkout's last commit."""
    given = os.environ.get("SOURCE_DATE_EPOCH")
    if given:
        if not given.isdigit():
            raise BuildError(f"SOURCE_DATE_EPOCH must be whole seconds, got {given!r}")
        return int(given)
    try:
        shown = subprocess.run(
            ["git", "-C", str(REPOSITORY), "log", "-1", "--format=%ct"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(
            f"cannot read the commit time for SOURCE_DATE_EPOCH ({exc}); build from a git"
            " checkout or set SOURCE_DATE_EPOCH"
        ) from None
    return int(shown)


def normalise_tree(root: Path, epoch: int) -> None:
    """Every entry under `root` gets the same time; directories and programs 0755, other
    files 0644; symlinks keep their target and only their own time changes."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_symlink():
            os.utime(path, (epoch, epoch), follow_symlinks=False)
            continue
        if path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o755 if _is_program(path) else 0o644)
        os.utime(path, (epoch, epoch))
    os.utime(root, (epoch, epoch))


def _is_program(path: Path) -> bool:
    """Marked executable and really a program: a script with #! or an ELF executable. Wheels
    mark shared libraries and some plain modules executable too."""
    if not path.stat().st_mode & 0o111:
        return False
    with path.open("rb") as handle:
        head = handle.read(18)
    if head.startswith(b"#!"):
        # A module inside a package is imported, never run: only bin/ holds entry points.
        return "site-packages" not in path.parts
    # ELF with e_type ET_EXEC (2) or, for position-independent programs, ET_DYN (3) that is
    # not named as a library.
    return head.startswith(b"\x7fELF") and (
        head[16] == 2 or (head[16] == 3 and ".so" not in path.name)
    )


def write_gzip(path: Path, data: bytes) -> None:
    """gzip -9n: no file name and no time in the header."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as packed,
    ):
        packed.write(data)
