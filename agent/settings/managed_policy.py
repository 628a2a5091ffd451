"""Where IT's managed settings come from on each platform (R22).

Keys are the field names of agent.settings.fields.AgentSettings in every backend: TOML keys
in the Linux policy file, registry value names under HKLM\\SOFTWARE\\Policies\\Callreel\\Agent
on Windows, and plist keys in managed preferences on macOS. A backend only reads and converts
types; agent/settings/layers.py checks the values and fails closed on anything it cannot trust.
"""

from __future__ import annotations

import getpass
import os
import plistlib
import stat
import sys
import tomllib
from abc import ABC, abstractmethod
from pathlib import Path

from agent.settings.fields import FIELDS, FieldSpec, Kind, parse_text

DEFAULT_POLICY_FILE = Path("/etc/callreel/policy.toml")
MAX_POLICY_BYTES = 64 * 1024
"""Policy is a few dozen keys; anything bigger is not a policy file."""

WINDOWS_POLICY_KEY = r"SOFTWARE\Policies\Callreel\Agent"
MAC_PREFERENCES_DOMAIN = "com.callreel.agent"

# winreg's type constants, here so that the conversion is testable on any platform.
REG_SZ = 1
REG_EXPAND_SZ = 2
REG_DWORD = 4
REG_MULTI_SZ = 7
REG_QWORD = 11
_REG_TYPE_NAMES = {
    REG_SZ: "REG_SZ",
    REG_EXPAND_SZ: "REG_EXPAND_SZ",
    REG_DWORD: "REG_DWORD",
    REG_MULTI_SZ: "REG_MULTI_SZ",
    REG_QWORD: "REG_QWORD",
}

_FIX = "ask IT to fix the policy"


class PolicyError(Exception):
    """Managed policy exists but cannot be read or trusted; the agent must not start on it."""


class ManagedSource(ABC):
    @abstractmethod
    def read(self) -> dict[str, object]:
        """The managed settings by field name; {} when IT set none. Raises PolicyError."""

    @abstractmethod
    def describe(self) -> str:
        """Where the settings come from, for people: 'policy file /etc/callreel/policy.toml'."""


class _NoManagedPolicy(ManagedSource):
    def read(self) -> dict[str, object]:
        return {}

    def describe(self) -> str:
        return "no managed policy"


def no_managed_policy() -> ManagedSource:
    return _NoManagedPolicy()


def _untrusted(path: Path, st: os.stat_result, what: str, fix: str) -> str | None:
    if st.st_uid != 0:
        return (
            f"{what} {path} is owned by uid {st.st_uid}, not root, so it cannot be trusted as"
            f" managed policy; {fix}"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (
            f"{what} {path} is writable by group/others, so it cannot be trusted as managed"
            f" policy; {fix}"
        )
    return None


def read_trusted_file(path: Path) -> bytes | None:
    """The bytes of a root-owned file that only root can write; None if it does not exist.

    A 'policy' that the agent's user could write would let them widen what IT set, so any
    doubt raises PolicyError rather than being skipped.
    """
    try:
        # Non-blocking, so a FIFO put in the file's place cannot hang the agent at start.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PolicyError(
            f"cannot open managed policy {path}: {exc.strerror or exc}; {_FIX}"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        # The checks are on the open file, so a file swapped in after them is never read.
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise PolicyError(f"managed policy {path} is not a regular file; {_FIX}")
        problem = _untrusted(path, st, "managed policy", "chown root and chmod 644")
        # Whoever can write the directory can replace the file, so it must be root's too;
        # a symlink's own directory and its target's both count.
        for directory in dict.fromkeys((path.parent, Path(os.path.realpath(path)).parent)):
            problem = problem or _untrusted(
                directory, directory.stat(), "the directory of", "chown root and chmod 755"
            )
        if problem is not None:
            raise PolicyError(problem)
        data = handle.read(MAX_POLICY_BYTES + 1)
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(
            f"managed policy {path} is larger than {MAX_POLICY_BYTES // 1024} KiB, so it is"
            f" not a policy file; {_FIX}"
        )
    return data


class PolicyFile(ManagedSource):
    """Linux (and any POSIX system): a TOML file that only root can write."""

    def __init__(self, path: Path = DEFAULT_POLICY_FILE) -> None:
        self.path = path

    def describe(self) -> str:
        return f"policy file {self.path}"

    def read(self) -> dict[str, object]:
        data = read_trusted_file(self.path)
        if data is None:
            return {}
        try:
            return dict(tomllib.loads(data.decode("utf-8")))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(
                f"policy file {self.path} is not valid TOML ({exc}); {_FIX}"
            ) from None


class MacManagedPreferences(ManagedSource):
    """macOS: the plist an MDM profile installs for the preference domain com.callreel.agent.

    The computer-wide file applies to everyone; the user's own file (from a user-scoped
    profile) is more specific, so its keys win over the computer-wide ones.
    """

    def __init__(self, user: str | None = None, root: Path = Path("/")) -> None:
        self.user = user
        self.root = root

    def _files(self) -> tuple[Path, Path]:
        base = self.root / "Library" / "Managed Preferences"
        user = self.user if self.user is not None else getpass.getuser()
        name = f"{MAC_PREFERENCES_DOMAIN}.plist"
        return base / user / name, base / name

    def describe(self) -> str:
        user_file, computer_file = self._files()
        return f"managed preferences {user_file} and {computer_file}"

    def read(self) -> dict[str, object]:
        user_file, computer_file = self._files()
        merged: dict[str, object] = {}
        for path in (computer_file, user_file):
            data = read_trusted_file(path)
            if data is None:
                continue
            try:
                loaded = plistlib.loads(data)
            except (plistlib.InvalidFileException, ValueError) as exc:
                raise PolicyError(
                    f"managed preferences {path} are not a valid plist ({exc}); {_FIX}"
                ) from None
            if not isinstance(loaded, dict):
                raise PolicyError(
                    f"managed preferences {path} hold a {type(loaded).__name__}, not a"
                    f" dictionary of settings; {_FIX}"
                )
            merged.update({str(key): _from_plist(value) for key, value in loaded.items()})
        return merged


def _from_plist(value: object) -> object:
    # plistlib gives arrays as lists; settings take name lists as tuples.
    return tuple(value) if isinstance(value, list) else value


def registry_values_to_settings(values: list[tuple[str, int, object]]) -> dict[str, object]:
    """(value name, registry type, raw value) as winreg.EnumValue gives them -> settings.

    Registry values have no boolean or floating point type, so Group Policy sets booleans as
    REG_DWORD 0/1 and numbers with a fraction as REG_SZ text. Any setting may also be REG_SZ
    text as `callreel-agent settings set` takes it (true/false, 500, names separated by
    commas): the MSI writes its properties so, because Windows Installer reads a value back
    for an upgrade exactly only as text. Names that are not settings pass through unchanged,
    for agent/settings/layers.py to refuse as unknown.
    """
    settings: dict[str, object] = {}
    for name, reg_type, raw in values:
        spec = FIELDS.get(name)
        if spec is None:
            settings[name] = raw
            continue
        converted = _from_registry(spec, reg_type, raw)
        if converted is None:
            expected = {
                Kind.TEXT: "REG_SZ text",
                Kind.NUMBER: "REG_SZ text such as 7.5 (or a REG_DWORD whole number)",
                Kind.WHOLE: "a REG_DWORD or REG_QWORD, or REG_SZ text such as 500",
                Kind.BOOLEAN: "a REG_DWORD 0 (false) or 1 (true), or REG_SZ text true or false",
                Kind.NAMES: "a REG_MULTI_SZ list of names, or REG_SZ names separated by commas",
            }[spec.kind]
            got = _REG_TYPE_NAMES.get(reg_type, f"registry type {reg_type}")
            raise PolicyError(
                f"registry value {name} under HKLM\\{WINDOWS_POLICY_KEY} is {got} {raw!r};"
                f" expected {expected}; {_FIX}"
            )
        settings[name] = converted
    return settings


def _from_registry(spec: FieldSpec, reg_type: int, raw: object) -> object | None:
    """The setting's value, or None when the registry type does not fit the field."""
    kind = spec.kind
    if reg_type == REG_SZ and isinstance(raw, str):
        try:
            return parse_text(spec, raw)
        except ValueError:
            return None
    if reg_type in (REG_DWORD, REG_QWORD) and isinstance(raw, int):
        if kind is Kind.WHOLE:
            return raw
        if kind is Kind.NUMBER:
            return float(raw)
        if kind is Kind.BOOLEAN and raw in (0, 1):
            return raw == 1
        return None
    if kind is Kind.NAMES and reg_type == REG_MULTI_SZ and isinstance(raw, list | tuple):
        return tuple(str(item) for item in raw)
    return None


class WindowsRegistryPolicy(ManagedSource):
    """Windows: values under HKLM\\SOFTWARE\\Policies\\Callreel\\Agent (Group Policy, MSI)."""

    def describe(self) -> str:
        return f"registry key HKLM\\{WINDOWS_POLICY_KEY}"

    def read(self) -> dict[str, object]:
        if sys.platform == "win32":
            return registry_values_to_settings(_registry_values())
        raise PolicyError(
            "the Windows registry policy can only be read on Windows; use a policy file"
            " (--policy-file) on this system"
        )


if sys.platform == "win32":
    # winreg exists only on Windows; defined under this check so the module imports, and
    # type checks, everywhere.
    import winreg

    def _registry_values() -> list[tuple[str, int, object]]:
        try:
            key = winreg.OpenKey(
                winreg.HKEY_LOCAL_MACHINE,
                WINDOWS_POLICY_KEY,
                0,
                winreg.KEY_READ | winreg.KEY_WOW64_64KEY,
            )
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise PolicyError(
                f"cannot open registry key HKLM\\{WINDOWS_POLICY_KEY}: {exc}; {_FIX}"
            ) from None
        values: list[tuple[str, int, object]] = []
        with key:
            count = winreg.QueryInfoKey(key)[1]
            for index in range(count):
                name, raw, reg_type = winreg.EnumValue(key, index)
                values.append((name, reg_type, raw))
        return values


def default_managed_source() -> ManagedSource:
    # Through a variable, so the type checker treats every branch as reachable on any system.
    platform: str = sys.platform
    if platform == "win32":
        return WindowsRegistryPolicy()
    if platform == "darwin":
        return MacManagedPreferences()
    return PolicyFile(DEFAULT_POLICY_FILE)
