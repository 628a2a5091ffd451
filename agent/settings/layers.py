"""The agent's effective settings: defaults < user settings < managed policy (R22).

IT's managed policy always wins. The user's own file (`agent.toml`) may set only what the
field's rule allows (agent/settings/fields.py): device names and the pause hotkey freely
unless IT set them, the notice lead time only longer and the upload limit only lower, and
nothing else. A user value that breaks a rule is ignored and reported, so a bad line never
stops the agent; a bad managed value stops it (PolicyError), because falling back to a default
could widen what IT set.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomli_w

from agent.settings.fields import (
    DEFAULTS,
    FIELDS,
    AgentSettings,
    FieldSpec,
    Rule,
    check,
    format_value,
    parse_text,
    shown_value,
)
from agent.settings.managed_policy import ManagedSource, PolicyError
from protocol.atomic_files import atomic_output

__all__ = [
    "AgentSettings",
    "EffectiveSettings",
    "PolicyError",
    "SettingRefusedError",
    "SettingShown",
    "SettingSource",
    "load_settings",
    "save_user_setting",
    "unset_user_setting",
]

MAX_USER_FILE_BYTES = 64 * 1024
_FIX_POLICY = "ask IT to fix the policy"


class SettingSource(StrEnum):
    DEFAULT = "default"
    USER = "user"
    MANAGED = "managed"


@dataclass(frozen=True, slots=True)
class SettingShown:
    """One effective setting as the tray lists it."""

    name: str
    value: str
    source: str
    """'default', 'user' or 'managed'; managed values cannot be changed by the agent."""


class SettingRefusedError(Exception):
    """A user setting that may not be saved; the message says why and what is allowed."""


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    values: AgentSettings
    sources: Mapping[str, SettingSource]
    problems: tuple[str, ...] = ()
    """User values that were ignored, each with the file, the key and why."""
    managed_source: str = field(default="no managed policy")
    """Where managed values came from, for people."""

    def source_of(self, name: str) -> SettingSource:
        try:
            return self.sources[name]
        except KeyError:
            raise ValueError(_unknown(name)) from None

    def shown(self) -> tuple[SettingShown, ...]:
        """Every setting for people (`settings show`, `doctor`, the agent window): secrets
        only say whether they are set."""
        return tuple(
            SettingShown(
                name,
                "(set, not shown)"
                if spec.secret and getattr(self.values, name)
                else format_value(getattr(self.values, name)),
                str(self.sources[name]),
            )
            for name, spec in FIELDS.items()
        )


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown setting {name!r}; {hint}`callreel-agent settings show` lists every setting"


def _with(base: AgentSettings, values: Mapping[str, object]) -> AgentSettings:
    # Every value was checked against its field; __post_init__ checks them again.
    changes: dict[str, Any] = dict(values)
    return replace(base, **changes)


def _read_managed(managed: ManagedSource) -> dict[str, object]:
    where = managed.describe()
    checked: dict[str, object] = {}
    for key, value in managed.read().items():
        spec = FIELDS.get(key)
        if spec is None:
            raise PolicyError(f"{where}: {_unknown(key)}; {_FIX_POLICY}")
        try:
            checked[key] = check(spec, value)
        except ValueError as exc:
            raise PolicyError(
                f"{where}: {key} = {shown_value(FIELDS[key], value)} is not valid: {exc};"
                f" {_FIX_POLICY}"
            ) from None
    return checked


def _read_user_table(path: Path) -> dict[str, Any]:
    """The user's TOML table ({} if there is no file); ValueError says what is wrong with it."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_USER_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValueError(
            f"cannot read your settings file {path}: {exc.strerror or exc}; fix its permissions"
            " or delete it"
        ) from None
    if len(data) > MAX_USER_FILE_BYTES:
        raise ValueError(
            f"your settings file {path} is larger than {MAX_USER_FILE_BYTES // 1024} KiB;"
            " delete it and set what you need with `callreel-agent settings set`"
        )
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(
            f"your settings file {path} is not valid TOML ({exc}); fix it or delete it"
        ) from None


def _judge_user_value(
    spec: FieldSpec,
    raw: object,
    below: AgentSettings,
    managed_values: Mapping[str, object],
    where: str,
) -> object:
    """The user's value for `spec`, checked; ValueError says why it may not apply."""
    if spec.rule is Rule.POLICY_ONLY:
        raise ValueError(f"only IT can set {spec.name}, through managed policy ({where})")
    if spec.rule is Rule.USER and spec.name in managed_values:
        shown = format_value(managed_values[spec.name])
        raise ValueError(
            f"IT set {spec.name} to {shown!r} in managed policy ({where}), so it cannot be"
            " changed here"
        )
    value = check(spec, raw)
    if spec.narrow is not None:  # declared for exactly the NARROW settings
        origin = f"managed ({where})" if spec.name in managed_values else "default"
        reason = spec.narrow(value, getattr(below, spec.name), origin)
        if reason is not None:
            raise ValueError(reason)
    return value


def _managed_layer(managed: ManagedSource) -> tuple[dict[str, object], AgentSettings]:
    managed_values = _read_managed(managed)
    try:
        return managed_values, _with(DEFAULTS, managed_values)
    except ValueError as exc:
        raise PolicyError(f"{managed.describe()}: {exc}; {_FIX_POLICY}") from None


def load_settings(user_file: Path, managed: ManagedSource) -> EffectiveSettings:
    """The effective settings. Raises PolicyError if the managed policy cannot be trusted."""
    managed_values, below = _managed_layer(managed)
    where = managed.describe()
    sources = {
        name: SettingSource.MANAGED if name in managed_values else SettingSource.DEFAULT
        for name in FIELDS
    }
    problems: list[str] = []
    try:
        user_table = _read_user_table(user_file)
    except ValueError as exc:
        problems.append(f"{exc}; until then none of it applies")
        user_table = {}
    chosen: dict[str, object] = {}
    for key, raw in user_table.items():
        spec = FIELDS.get(key)
        if spec is None:
            problems.append(f"{user_file}: {key} ignored: {_unknown(key)}")
            continue
        try:
            chosen[key] = _judge_user_value(spec, raw, below, managed_values, where)
        except ValueError as exc:
            fix = f"; remove it with `callreel-agent settings unset {key}`"
            problems.append(f"{user_file}: {key} ignored: {exc}{fix}")
            continue
        sources[key] = SettingSource.USER
    return EffectiveSettings(
        values=_with(below, chosen),
        sources=MappingProxyType(sources),
        problems=tuple(problems),
        managed_source=where,
    )


def _write_user_table(user_file: Path, table: Mapping[str, Any]) -> None:
    directory = user_file.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkdir's mode does not apply to a directory that already existed.
        directory.chmod(0o700)
        with atomic_output(user_file, mode=0o600) as handle:
            handle.write(tomli_w.dumps(table).encode("utf-8"))
    except OSError as exc:
        raise SettingRefusedError(
            f"cannot write your settings file {user_file}: {exc.strerror or exc}; check that"
            f" {directory} is yours and writable"
        ) from None


def _user_table_for_change(user_file: Path) -> dict[str, Any]:
    try:
        return _read_user_table(user_file)
    except ValueError as exc:
        # Rewriting it would throw away whatever the user had in it.
        raise SettingRefusedError(str(exc)) from None


def save_user_setting(
    user_file: Path, name: str, value_text: str, managed: ManagedSource
) -> EffectiveSettings:
    """Set `name` in the user's file, if its rule allows; raises SettingRefusedError if not."""
    spec = FIELDS.get(name)
    if spec is None:
        raise SettingRefusedError(f"cannot set {name}: {_unknown(name)}")
    managed_values, below = _managed_layer(managed)
    try:
        value = _judge_user_value(
            spec, parse_text(spec, value_text), below, managed_values, managed.describe()
        )
    except ValueError as exc:
        raise SettingRefusedError(f"cannot set {name}: {exc}") from None
    table = _user_table_for_change(user_file)
    table[name] = list(value) if isinstance(value, tuple) else value
    _write_user_table(user_file, table)
    return load_settings(user_file, managed)


def unset_user_setting(user_file: Path, name: str, managed: ManagedSource) -> EffectiveSettings:
    """Remove `name` from the user's file (also a key no rule lets the user set, to clean up)."""
    table = _user_table_for_change(user_file)
    if name not in table and name not in FIELDS:
        raise SettingRefusedError(f"cannot unset {name}: {_unknown(name)}")
    if name in table:
        del table[name]
        _write_user_table(user_file, table)
    return load_settings(user_file, managed)
