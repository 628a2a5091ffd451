"""The agent's settings: each declared once, with its default, its type, what values are
allowed, who may set it and, for protective settings, which way a user may move it.

This module only describes and checks values; agent/settings/layers.py merges the three
sources (defaults < user settings < managed policy) and agent/settings/managed_policy.py reads
the managed one. A check that belongs to another part (the hotkey's syntax, a detector's name
or address, a codec's name) is that part's own, imported from a module that loads nothing
heavy: these readers also run under Wine, where numpy, cryptography and PyAV do not load.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.capture.codec_names import CodecName
from agent.capture.window.base import WindowMatch
from agent.detect.addresses import HOST_PORT_EXAMPLE, parse_host_port
from agent.detect.names import DetectorName
from agent.hotkey.base import HotkeyError, parse_hotkey
from agent.paths import AgentPaths
from agent.session.vocabulary import CallPolicy
from agent.vault_connection.proxy_choice import PROXY_EXAMPLE, vault_proxy_problem
from protocol.tls_pins import MAX_KEPT_PINS, parse_pins


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
    """The user may only move the value in the protective direction (see `narrow`)."""


Check = Callable[[object], str | None]
"""The reason a value of the right type is not allowed, or None."""
Narrowing = Callable[[Any, Any, str], str | None]
"""(the user's value, the value below it, where that came from) -> why it widens, or None."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: Kind
    rule: Rule
    allowed: str
    """What is allowed, for error messages: 'a number from 0 to 120 (seconds)'."""
    check: Check
    about: str
    """What the setting does, in one or two sentences, for IT: the policy file's comments,
    the Group Policy templates and docs/deploy.md are generated from it."""
    narrow: Narrowing | None = None
    """For Rule.NARROW: which way the user may move it."""
    secret: bool = False
    """Never shown: `settings show` and `doctor` say only whether it is set."""


_SPEC = "callreel.setting"


def _setting(  # noqa: PLR0917 - each declaration reads as one row of the table
    default: object,
    kind: Kind,
    rule: Rule,
    allowed: str,
    check: Check,
    about: str,
    *,
    narrow: Narrowing | None = None,
    secret: bool = False,
) -> Any:
    """A field of AgentSettings with everything about it in one place."""
    if (rule is Rule.NARROW) != (narrow is not None):
        raise TypeError("a NARROW setting needs its narrowing rule, and only it")
    spec = (kind, rule, allowed, check, about, narrow, secret)
    return field(default=default, metadata={_SPEC: spec})


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


def _enrolment_token(value: object) -> str | None:
    text = str(value)
    if text and not re.fullmatch(r"crf_[A-Za-z0-9_-]{32}", text):
        return "is not a fleet enrolment token (crf_ and 32 letters, digits, '_' or '-')"
    return None


def _tls_pins(value: object) -> str | None:
    pins = value if isinstance(value, tuple | list) else ()
    try:
        parse_pins(pins, MAX_KEPT_PINS)
    except ValueError as exc:
        return str(exc)
    return None


def _non_empty(value: object) -> str | None:
    if str(value).strip() == "":
        return "must not be empty"
    return _single_line(value)


def _detectors(value: object) -> str | None:
    names = value if isinstance(value, tuple | list) else ()
    if not names:
        return "must name at least one detector, or no call would ever be recognised"
    unknown = [name for name in names if name not in set(DetectorName)]
    if unknown:
        return f"has unknown detector(s) {', '.join(map(repr, unknown))}"
    if len(set(names)) != len(names):
        return "names a detector twice"
    return None


def _host_port(value: object) -> str | None:
    try:
        parse_host_port(str(value))
    except ValueError as exc:
        return str(exc)
    return None


def _hotkey(value: object) -> str | None:
    try:
        parse_hotkey(str(value))
    except HotkeyError as exc:
        return str(exc)
    return None


def _codec(value: object) -> str | None:
    return None if value in set(CodecName) else "is not a known codec"


def _between(low: float, high: float, *, low_open: bool = False) -> Check:
    def within(value: object) -> str | None:
        number = float(value)  # type: ignore[arg-type]  # coerce() ran first
        too_low = number <= low if low_open else number < low
        if not math.isfinite(number) or too_low or number > high:
            return "is out of range"
        return None

    return within


def _at_least(low: int) -> Check:
    def within(value: object) -> str | None:
        return "is out of range" if int(value) < low else None  # type: ignore[call-overload]

    return within


def _even_between(low: int, high: int) -> Check:
    def within(value: object) -> str | None:
        number = int(value)  # type: ignore[call-overload]
        if not low <= number <= high or number % 2:
            return "is out of range or odd (video encoders need even sizes)"
        return None

    return within


# --- Narrowing: which way a user may move a protective setting -----------------------------


def _only_longer(value: float, below: float, origin: str) -> str | None:
    if value < below:
        return (
            f"the notice may only be shown longer than the {origin} {below:g} s before"
            f" recording starts, not shorter; choose {below:g} to 120"
        )
    return None


def _only_lower_limit(value: int, below: int, origin: str) -> str | None:
    if below == 0:
        return None
    if value == 0:
        return f"0 means unlimited, but the {origin} limit is {below} kbps; choose 1 to {below}"
    if value > below:
        return (
            f"the upload limit may only be lowered from the {origin} {below} kbps, not"
            f" raised; choose 1 to {below}"
        )
    return None


_P, _U, _N = Rule.POLICY_ONLY, Rule.USER, Rule.NARROW
_TEXT, _NUMBER, _WHOLE, _BOOL = Kind.TEXT, Kind.NUMBER, Kind.WHOLE, Kind.BOOLEAN


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """The effective settings; construction rejects any value a source could not set."""

    vault_url: str = _setting(
        "",
        _TEXT,
        _P,
        "an https:// URL, or empty for the local vault",
        _vault_url,
        "The vault's address, such as https://vault.example.com:8443. Empty: the embedded"
        " local vault, for trying Callreel out on one machine.",
    )
    enrolment_token: str = _setting(
        "",
        _TEXT,
        _P,
        "a fleet enrolment token (crf_...), or empty",
        _enrolment_token,
        "The fleet enrolment token from `callreel-vault fleet-token create`: at its first start"
        " each user of this machine enrols with it as the agent their login names (needs"
        " vault_url and vault_ca_file). Empty: enrol with `callreel-agent enrol`.",
        secret=True,
    )
    vault_ca_file: str = _setting(
        "",
        _TEXT,
        _P,
        "a path to a PEM file, or empty",
        _single_line,
        "The vault's certificate to trust (a PEM file). Empty: the one saved at enrolment.",
    )
    vault_tls_pins: tuple[str, ...] = _setting(
        (),
        Kind.NAMES,
        _P,
        f"up to {MAX_KEPT_PINS} pins (base64 SHA-256 of the key, 44 characters), or none",
        _tls_pins,
        "More vault TLS keys to trust, by pin (`callreel-vault tls status` prints them), besides"
        " the one of enrolment and those the vault announces: for a key the vault could not"
        " announce to every device in time. None: only those.",
    )
    vault_proxy: str = _setting(
        "",
        _TEXT,
        _P,
        f"empty, direct, or a proxy address such as {PROXY_EXAMPLE}",
        vault_proxy_problem,
        "How the agent reaches the vault: empty for the system's proxy (HTTPS_PROXY and"
        " NO_PROXY, or Windows' Internet Settings; not a PAC script), direct for none, or an"
        " HTTP proxy's address. The vault's key is checked through the proxy too.",
    )
    window_title_pattern: str = _setting(
        "",
        _TEXT,
        _P,
        "a regular expression, or empty",
        _regex,
        "A regular expression the business application's window title must match. Only that"
        " window is recorded; with no window setting, nothing of the screen is kept.",
    )
    window_executable: str = _setting(
        "",
        _TEXT,
        _P,
        "a process name, or empty",
        _single_line,
        "The business application's process name, such as crm.exe.",
    )
    window_class: str = _setting(
        "",
        _TEXT,
        _P,
        "a window class, or empty",
        _single_line,
        "The business application's window class (WM_CLASS on Linux, the class name on Windows).",
    )
    microphone: str = _setting(
        "",
        _TEXT,
        _U,
        "a sound server source or PortAudio device name, or empty",
        _single_line,
        "The agent's microphone: on Linux a PulseAudio/PipeWire source name (read from the"
        " sound server) or an ALSA device name (through PortAudio); elsewhere a PortAudio"
        " device name. Empty: the system default.",
    )
    far_end: str = _setting(
        "",
        _TEXT,
        _U,
        "a sound server source or PortAudio device name, or empty",
        _single_line,
        "The device that carries the caller's voice, named as for the microphone (on Linux"
        " e.g. a sink's monitor source). Empty: the monitor of the default output.",
    )
    detectors: tuple[str, ...] = _setting(
        (DetectorName.HOOK.value, DetectorName.PULSE.value),
        Kind.NAMES,
        _P,
        f"one or more of {', '.join(DetectorName)}",
        _detectors,
        "How the agent knows a call is in progress: from the softphone's hook command, its"
        " sound streams or its control interface.",
    )
    softphone_executable: str = _setting(
        "baresip",
        _TEXT,
        _P,
        "the softphone's program: a full path, or a name on PATH",
        _non_empty,
        "The softphone whose calls are recorded; sound streams and hook commands of any other"
        " program do not count as calls.",
    )
    baresip_ctrl_address: str = _setting(
        "127.0.0.1:4444",
        _TEXT,
        _P,
        f"host:port, e.g. {HOST_PORT_EXAMPLE}",
        _host_port,
        "Where baresip's control interface listens, for the baresip detector.",
    )
    notice_lead_time_s: float = _setting(
        5.0,
        _NUMBER,
        _N,
        "a number from 0 to 120 (seconds)",
        _between(0, 120),
        "How long the notice is on screen before recording starts. Agents may only make it longer.",
        narrow=_only_longer,
    )
    consent_required: bool = _setting(
        False,
        _BOOL,
        _P,
        "true or false",
        _anything,
        "Whether the agent must confirm the notice before anything is recorded.",
    )
    consent_timeout_s: float = _setting(
        30.0,
        _NUMBER,
        _P,
        "a number above 0, at most 600 (seconds)",
        _between(0, 600, low_open=True),
        "How long the agent has to confirm the notice; unconfirmed, the call is not recorded.",
    )
    personal_calls_allowed: bool = _setting(
        True,
        _BOOL,
        _P,
        "true or false",
        _anything,
        "Whether an agent may declare a call personal, so that it is not recorded.",
    )
    payment_title_pattern: str = _setting(
        r"(?i)\b(payment|card details|checkout)\b",
        _TEXT,
        _P,
        "a regular expression, or empty to disable",
        _regex,
        "A regular expression for payment windows: recording pauses while one is in front."
        " Empty: no automatic pause.",
    )
    pause_hotkey: str = _setting(
        "Ctrl+Alt+P",
        _TEXT,
        _U,
        "a key combination, e.g. Ctrl+Alt+P",
        _hotkey,
        "The key combination that pauses and resumes recording, for card details.",
    )
    upload_limit_kbps: int = _setting(
        0,
        _WHOLE,
        _N,
        "a whole number >= 0 (0: unlimited)",
        _at_least(0),
        "Upload bandwidth limit in kilobits per second; 0: unlimited. Agents may only lower it.",
        narrow=_only_lower_limit,
    )
    session_wait_s: float = _setting(
        25.0,
        _NUMBER,
        _P,
        "a number from 0 to 30 (seconds)",
        _between(0, 30),
        "How long each request for training sessions waits at the vault for a trainer's"
        " change. 0: none, ask every session_poll_s (for a proxy that cuts waiting requests).",
    )
    session_poll_s: float = _setting(
        15.0,
        _NUMBER,
        _P,
        "a number from 1 to 3600 (seconds)",
        _between(1, 3600),
        "How often to ask for training sessions where the vault cannot wait for a change.",
    )
    heartbeat_s: float = _setting(
        60.0,
        _NUMBER,
        _P,
        "a number from 5 to 3600 (seconds)",
        _between(5, 3600),
        "How often the agent tells the vault it is running, for the console's device list.",
    )
    fps: float = _setting(
        5.0,
        _NUMBER,
        _P,
        "a number from 1 to 30",
        _between(1, 30),
        "Frames per second of the recorded window.",
    )
    codec: str = _setting(
        CodecName.H264.value,
        _TEXT,
        _P,
        f"one of {', '.join(CodecName)}",
        _codec,
        "The video codec of recordings.",
    )
    video_width: int = _setting(
        1280,
        _WHOLE,
        _P,
        "an even number from 160 to 3840",
        _even_between(160, 3840),
        "Width of the recorded video in pixels; the window is scaled to fit.",
    )
    video_height: int = _setting(
        720,
        _WHOLE,
        _P,
        "an even number from 160 to 2160",
        _even_between(160, 2160),
        "Height of the recorded video in pixels; the window is scaled to fit.",
    )
    segment_seconds: float = _setting(
        10.0,
        _NUMBER,
        _P,
        "a number from 1 to 60 (seconds)",
        _between(1, 60),
        "Length of each sealed segment; an agent stopped mid-call loses at most the open one.",
    )
    spool_dir: str = _setting(
        "",
        _TEXT,
        _P,
        "a directory path, or empty",
        _single_line,
        "Where sealed segments wait for upload. Empty: each user's own data directory.",
    )
    spool_max_mb: int = _setting(
        2048,
        _WHOLE,
        _P,
        "a whole number >= 64 (MB)",
        _at_least(64),
        "How much unsent recording the spool may hold, in megabytes.",
    )

    def __post_init__(self) -> None:
        for spec in FIELDS.values():
            value = getattr(self, spec.name)
            try:
                coerced = check(spec, value)
            except ValueError as exc:
                raise ValueError(f"{spec.name} = {shown_value(spec, value)}: {exc}") from None
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

    def window_match(self) -> WindowMatch | None:
        """The business window's whitelist; None when policy names none (nothing is kept)."""
        if not (self.window_title_pattern or self.window_executable or self.window_class):
            return None
        return WindowMatch(
            executable=self.window_executable or None,
            window_class=self.window_class or None,
            title_pattern=self.window_title_pattern or None,
        )

    def spool_root(self, paths: AgentPaths) -> Path:
        return Path(self.spool_dir) if self.spool_dir else paths.spool_dir


FIELDS: dict[str, FieldSpec] = {
    declared.name: FieldSpec(declared.name, *declared.metadata[_SPEC])
    for declared in fields(AgentSettings)
}


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


def shown_value(spec: FieldSpec, value: object) -> str:
    """A value as messages show it: a secret only says whether it is set."""
    if spec.secret:
        return "(set, not shown)" if value else "(not set)"
    return repr(value)


def coerce(spec: FieldSpec, value: object) -> object:
    """`value` as the field's type, strictly: true is not 1 and the text "5" is not 5."""
    got = f"got {_type_name(value)} ({shown_value(spec, value)})"
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
