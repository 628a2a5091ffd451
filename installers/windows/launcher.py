"""The agent's named executables: python-embedded-launcher's stub with our boot code appended.

The stub loads python3-minimal\\python3*.dll beside itself and runs the __main__.py of the zip
appended to it, passing its own path as the only argument. The boot code (ours: the package's
helper module opens .pth files with the 'rU' mode Python 3.11 removed) puts the install's
site-packages on sys.path through `site`, restores the real command line and runs the agent.
The embeddable Python's ._pth file keeps it isolated: PYTHONPATH and the user's site-packages
are ignored, so a user cannot put code in front of the agent's.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile

from installers.reproducible import BuildError

CONSOLE_SUBSYSTEM = 3
WINDOWS_SUBSYSTEM = 2

BOOT_CODE = '''\
"""Callreel agent boot code (installers/windows/launcher.py)."""
import sys

# The install directory is the MSI's: bytecode written there by an administrator's run would
# outlive an uninstall (and a standard user cannot write there anyway).
sys.dont_write_bytecode = True
import os
import site

site.addsitedir(os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "Lib", "site-packages"))


def _command_line():
    # The stub replaced the arguments with its own path; Windows still has the real ones.
    import ctypes
    from ctypes import wintypes

    kernel32, shell32 = ctypes.windll.kernel32, ctypes.windll.shell32
    kernel32.GetCommandLineW.restype = wintypes.LPCWSTR
    shell32.CommandLineToArgvW.argtypes = [wintypes.LPCWSTR, ctypes.POINTER(ctypes.c_int)]
    shell32.CommandLineToArgvW.restype = ctypes.POINTER(wintypes.LPWSTR)
    kernel32.LocalFree.argtypes = [wintypes.HLOCAL]
    count = ctypes.c_int()
    argv = shell32.CommandLineToArgvW(kernel32.GetCommandLineW(), ctypes.byref(count))
    try:
        return [argv[index] for index in range(count.value)]
    finally:
        kernel32.LocalFree(argv)


sys.argv = _command_line()
from {module} import {function}

sys.exit({function}())
'''


def boot_zip(entry_point: str, epoch: int) -> bytes:
    """A zip holding __main__.py that runs `module:function`, dated `epoch`."""
    module, _, function = entry_point.partition(":")
    if not module or not function:
        raise BuildError(f"entry point {entry_point!r} is not module:function")
    info = zipfile.ZipInfo("__main__.py", date_time=time.gmtime(epoch)[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, BOOT_CODE.format(module=module, function=function))
    return buffer.getvalue()


def with_subsystem(executable: bytes, subsystem: int) -> bytes:
    """The PE image with its optional header's Subsystem field set: WINDOWS_SUBSYSTEM runs
    without a console window (for the start at logon), CONSOLE_SUBSYSTEM with one."""
    if executable[:2] != b"MZ":
        raise BuildError("the launcher stub is not a Windows executable (no MZ header)")
    (pe_offset,) = struct.unpack_from("<I", executable, 0x3C)
    if executable[pe_offset : pe_offset + 4] != b"PE\0\0":
        raise BuildError("the launcher stub has no PE header where its MZ header points")
    field = pe_offset + 24 + 68  # the signature, the COFF header, then Subsystem's offset
    patched = bytearray(executable)
    struct.pack_into("<H", patched, field, subsystem)
    return bytes(patched)


def subsystem_of(executable: bytes) -> int:
    (pe_offset,) = struct.unpack_from("<I", executable, 0x3C)
    (subsystem,) = struct.unpack_from("<H", executable, pe_offset + 24 + 68)
    return int(subsystem)


def launcher(stub: bytes, entry_point: str, epoch: int, *, console: bool) -> bytes:
    subsystem = CONSOLE_SUBSYSTEM if console else WINDOWS_SUBSYSTEM
    return with_subsystem(stub, subsystem) + boot_zip(entry_point, epoch)
