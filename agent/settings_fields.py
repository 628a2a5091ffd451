"""The agent's settings: every field, its type, what values are allowed and who may set it.

This module only describes and checks values; agent/settings.py merges the three sources
(defaults < user settings < managed policy) and agent/managed_policy.py reads the managed one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from urllib.parse import urlsplit

from agent.session import CallPolicy

DETECTOR_NAMES = ("hook", "pulse", "baresip", "windows-mic")
CODEC_NAMES = ("h264", "vp9")
HOTKEY_MODIFIERS = frozenset({"ctrl", "alt", "shift", "meta", "super", "win", "cmd"})


class Kind(StrEnum):
    """A setting's type, as TOML, plists and the command line spell it."""

    TEXT = "text"
    NUMBER = "number"
    WHOLE = "whole number"
    BOOLEAN = "true or false"
    NAMES = "list of names"


class Rule(StrEnum):
    """Who may set a field (R22: agents cannot switch recording off or widen it)."""

    POLICY_ONLY = "policy-only"
    """Only managed policy; a user value is ignored and reported."""
    USER = "user"
    """The user's choice, unless managed policy sets it (then locked)."""
    NARROW = "narrow"
    """The user may only move the value in the protective direction."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: Kind
    rule: Rule
    allowed: str
    """What is allowed, for error messages: 'a number from 0 to 120 (seconds)'."""
    check: Callable[[object], str | None]
    """The reason a value of the right type is not allowed, or None."""


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """The effective settings; construction rejects any value a source could not set."""

    vault_url: str = ""
    """Empty: the embedded local vault."""
    vault_ca_file: str = ""
    """PEM of the vault's certificate to pin; empty: the one the enrolment saved."""
    window_title_pattern: str = ""
    window_executable: str = ""
    window_class: str = ""
    microphone: str = ""
    """PortAudio device name; empty: the system default."""
    far_end: str = ""
    detectors: tuple[str, ...] = ("hook", "pulse")
    softphone_executable: str = "baresip"
    baresip_ctrl_address: str = "127.0.0.1:4444"
    notice_lead_time_s: float = 5.0
    consent_required: bool = False
    consent_timeout_s: float = 30.0
    personal_calls_allowed: bool = True
    payment_title_pattern: str = r"(?i)\b(payment|card details|checkout)\b"
    """Empty: no automatic pause on payment windows."""
    pause_hotkey: str = "Ctrl+Alt+P"
    upload_limit_kbps: int = 0
    """Kilobits per second; 0: unlimited."""
    session_poll_s: float = 15.0
    heartbeat_s: float = 60.0
    fps: float = 5.0
    codec: str = "h264"
    video_width: int = 1280
    video_height: int = 720
    segment_seconds: float = 10.0
    spool_dir: str = ""
    """Empty: AgentPaths.spool_dir."""
    spool_max_mb: int = 2048

    def __post_init__(self) -> None:
        for spec in FIELDS.values():
            value = getattr(self, spec.name)
            try:
                coerced = check(spec, value)
            except ValueError as exc:
                raise ValueError(f"{spec.name} = {value!r}: {exc}") from None
            # Stored as the field's type, so `fps=10` and `detectors=[...]` compare equal to
            # what a TOML file with 10.0 or a registry REG_MULTI_SZ gives.
            object.__setattr__(self, spec.name, coerced)

    def call_policy(self) -> CallPolicy:
        return CallPolicy(
            notice_lead_time_s=self.notice_lead_time_s,
            consent_required=self.consent_required,
            consent_timeout_s=self.consent_timeout_s,
            personal_calls_allowed=self.personal_calls_allowed,
        )


# --- Checks: each returns why a value is not allowed, or None ------------------------------


def _anything(_value: object) -> str | None:
    return None


def _single_line(value: object) -> str | None:
    text = str(value)
    if any(ch in text for ch in "\0\r\n"):
        return "must be a single line of text"
    return None


def _regex(value: object) -> str | None:
    try:
        re.compile(str(value))
    except re.error as exc:
        return f"is not a valid regular expression ({exc})"
    return None


def _vault_url(value: object) -> str | None:
    text = str(value)
    if text == "":
        return None
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname:
        return "must be an https:// URL such as https://vault.example.com:8443, or empty"
    return None


def _non_empty(value: object) -> str | None:
    if str(value).strip() == "":
        return "must not be empty"
    return _single_line(value)


def _detectors(value: object) -> str | None:
    names = value if isinstance(value, tuple | list) else ()
    if not names:
        return "must name at least one detector, or no call would ever be recognised"
    unknown = [name for name in names if name not in DETECTOR_NAMES]
    if unknown:
        return f"has unknown detector(s) {', '.join(map(repr, unknown))}"
    if len(set(names)) != len(names):
        return "names a detector twice"
    return None


def _host_port(value: object) -> str | None:
    text = str(value)
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        if not bracket:
            port = ""
    else:
        host, _, port = text.rpartition(":")
        if ":" in host:
            host = ""
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return "must be host:port, e.g. 127.0.0.1:4444 or [::1]:4444"
    return None


def _hotkey(value: object) -> str | None:
    parts = str(value).split("+")
    *modifiers, key = parts
    if not key.strip() or not modifiers:
        return "must be modifiers and a key joined by '+', e.g. Ctrl+Alt+P"
    bad = [m for m in modifiers if m.strip().lower() not in HOTKEY_MODIFIERS]
    if bad:
        return f"has unknown modifier(s) {', '.join(map(repr, bad))}"
    return None


def _between(low: float, high: float, *, low_open: bool = False) -> Callable[[object], str | None]:
    def within(value: object) -> str | None:
        number = float(value)  # type: ignore[arg-type]  # coerce() ran first
        too_low = number <= low if low_open else number < low
        if not math.isfinite(number) or too_low or number > high:
            return "is out of range"
        return None

    return within


def _at_least(low: int) -> Callable[[object], str | None]:
    def within(value: object) -> str | None:
        return "is out of range" if int(value) < low else None  # type: ignore[call-overload]

    return within


def _even_between(low: int, high: int) -> Callable[[object], str | None]:
    def within(value: object) -> str | None:
        number = int(value)  # type: ignore[call-overload]
        if not low <= number <= high or number % 2:
            return "is out of range or odd (video encoders need even sizes)"
        return None

    return within


def _codec(value: object) -> str | None:
    return None if value in CODEC_NAMES else "is not a known codec"


_P, _U, _N = Rule.POLICY_ONLY, Rule.USER, Rule.NARROW
_SPECS = (
    FieldSpec(
        "vault_url", Kind.TEXT, _P, "an https:// URL, or empty for the local vault", _vault_url
    ),
    FieldSpec("vault_ca_file", Kind.TEXT, _P, "a path to a PEM file, or empty", _single_line),
    FieldSpec("window_title_pattern", Kind.TEXT, _P, "a regular expression, or empty", _regex),
    FieldSpec("window_executable", Kind.TEXT, _P, "a process name, or empty", _single_line),
    FieldSpec("window_class", Kind.TEXT, _P, "a window class, or empty", _single_line),
    FieldSpec("microphone", Kind.TEXT, _U, "a PortAudio device name, or empty", _single_line),
    FieldSpec("far_end", Kind.TEXT, _U, "a PortAudio device name, or empty", _single_line),
    FieldSpec(
        "detectors", Kind.NAMES, _P, f"one or more of {', '.join(DETECTOR_NAMES)}", _detectors
    ),
    FieldSpec("softphone_executable", Kind.TEXT, _P, "a process name", _non_empty),
    FieldSpec("baresip_ctrl_address", Kind.TEXT, _P, "host:port", _host_port),
    FieldSpec(
        "notice_lead_time_s", Kind.NUMBER, _N, "a number from 0 to 120 (seconds)", _between(0, 120)
    ),
    FieldSpec("consent_required", Kind.BOOLEAN, _P, "true or false", _anything),
    FieldSpec(
        "consent_timeout_s",
        Kind.NUMBER,
        _P,
        "a number above 0, at most 600 (seconds)",
        _between(0, 600, low_open=True),
    ),
    FieldSpec("personal_calls_allowed", Kind.BOOLEAN, _P, "true or false", _anything),
    FieldSpec(
        "payment_title_pattern", Kind.TEXT, _P, "a regular expression, or empty to disable", _regex
    ),
    FieldSpec("pause_hotkey", Kind.TEXT, _U, "a key combination such as Ctrl+Alt+P", _hotkey),
    FieldSpec(
        "upload_limit_kbps", Kind.WHOLE, _N, "a whole number >= 0 (0: unlimited)", _at_least(0)
    ),
    FieldSpec(
        "session_poll_s", Kind.NUMBER, _P, "a number from 1 to 3600 (seconds)", _between(1, 3600)
    ),
    FieldSpec(
        "heartbeat_s", Kind.NUMBER, _P, "a number from 5 to 3600 (seconds)", _between(5, 3600)
    ),
    FieldSpec("fps", Kind.NUMBER, _P, "a number from 1 to 30", _between(1, 30)),
    FieldSpec("codec", Kind.TEXT, _P, f"one of {', '.join(CODEC_NAMES)}", _codec),
    FieldSpec(
        "video_width", Kind.WHOLE, _P, "an even number from 160 to 3840", _even_between(160, 3840)
    ),
    FieldSpec(
        "video_height", Kind.WHOLE, _P, "an even number from 160 to 2160", _even_between(160, 2160)
    ),
    FieldSpec(
        "segment_seconds", Kind.NUMBER, _P, "a number from 1 to 60 (seconds)", _between(1, 60)
    ),
    FieldSpec("spool_dir", Kind.TEXT, _P, "a directory path, or empty", _single_line),
    FieldSpec("spool_max_mb", Kind.WHOLE, _P, "a whole number >= 64 (MB)", _at_least(64)),
)
FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in _SPECS}

if set(FIELDS) != {f.name for f in fields(AgentSettings)}:
    # A field without a rule would be settable by nobody or by anybody; refuse to start.
    raise RuntimeError("agent/settings_fields.py: FIELDS and AgentSettings disagree")


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def coerce(spec: FieldSpec, value: object) -> object:
    """`value` as the field's type, strictly: true is not 1 and the text "5" is not 5."""
    got = f"got {_type_name(value)} ({value!r})"
    if spec.kind is Kind.TEXT:
        if isinstance(value, str):
            return value
        raise ValueError(f"expected text in quotes, {got}")
    if spec.kind is Kind.NUMBER:
        # A whole number is a number: `fps = 10` must not need `10.0`.
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"expected a finite number, {got}")
            return float(value)
        raise ValueError(f"expected a number such as 10 or 7.5, {got}")
    if spec.kind is Kind.WHOLE:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"expected a whole number such as 500, {got}")
    if spec.kind is Kind.BOOLEAN:
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true or false, {got}")
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(f'expected a list of names such as ["hook", "pulse"], {got}')


def check(spec: FieldSpec, value: object) -> object:
    """The value coerced and checked; ValueError says what was wrong and what is allowed."""
    coerced = coerce(spec, value)
    reason = spec.check(coerced)
    if reason is not None:
        raise ValueError(f"{reason}; allowed: {spec.allowed}")
    return coerced


def parse_text(spec: FieldSpec, text: str) -> object:
    """A value typed on the command line, as the field's type (then `check` it)."""
    if spec.kind is Kind.TEXT:
        return text
    if spec.kind is Kind.NUMBER:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a number; allowed: {spec.allowed}") from None
    if spec.kind is Kind.WHOLE:
        try:
            return int(text.strip(), 10)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number; allowed: {spec.allowed}") from None
    if spec.kind is Kind.BOOLEAN:
        word = text.strip().lower()
        if word in {"true", "false"}:
            return word == "true"
        raise ValueError(f"{text!r} is not true or false")
    return tuple(name.strip() for name in text.split(",") if name.strip())


def format_value(value: object) -> str:
    """A value as `settings set` would accept it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


DEFAULTS = AgentSettings()
