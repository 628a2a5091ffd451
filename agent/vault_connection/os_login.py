"""The login name of the user the agent runs as, from the operating system, never from the
environment: a fleet token maps it to an agent account, so a user who could set USERNAME or
LOGNAME could otherwise enrol as a colleague."""

from __future__ import annotations

import os
import sys


def os_login() -> str:
    """`CORP\\alice` on a Windows domain, `alice` elsewhere."""
    # Through a variable, so the type checker treats every branch as reachable on any system.
    platform: str = sys.platform
    if platform == "win32":
        return _windows_login()
    import pwd  # noqa: PLC0415 - POSIX only

    return pwd.getpwuid(os.geteuid()).pw_name


def _windows_login() -> str:
    import ctypes  # noqa: PLC0415
    from ctypes import wintypes  # noqa: PLC0415

    name_sam_compatible = 2  # EXTENDED_NAME_FORMAT: DOMAIN\user
    size = wintypes.ULONG(256)
    buffer = ctypes.create_unicode_buffer(size.value)
    secur32 = ctypes.WinDLL("secur32")  # type: ignore[attr-defined]
    if not secur32.GetUserNameExW(name_sam_compatible, buffer, ctypes.byref(size)):
        # Not on a domain (or no domain controller reachable): the local account name.
        size = wintypes.ULONG(256)
        advapi32 = ctypes.WinDLL("advapi32")  # type: ignore[attr-defined]
        if not advapi32.GetUserNameW(buffer, ctypes.byref(size)):
            raise OSError(ctypes.get_last_error(), "GetUserNameW failed")  # type: ignore[attr-defined]
    return buffer.value
