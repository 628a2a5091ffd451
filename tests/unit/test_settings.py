"""Effective settings: defaults < user settings < managed policy, and who may set what (R22).

Managed policy comes from a real root-owned policy file (the tests run as root); user
settings from a real agent.toml.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import stat
import tomllib
from pathlib import Path

import pytest

from agent.commands.settings import add_settings_parser, run_command
from agent.hotkey.base import HotkeyError, parse_hotkey
from agent.session.vocabulary import CallPolicy
from agent.settings.fields import FIELDS, Rule
from agent.settings.layers import (
    AgentSettings,
    EffectiveSettings,
    SettingRefusedError,
    SettingShown,
    SettingSource,
    load_settings,
    save_user_setting,
    unset_user_setting,
)
from agent.settings.managed_policy import ManagedSource, PolicyError, PolicyFile, no_managed_policy

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="managed policy files must be root's, so these tests run as root",
)

POLICY_ONLY_SAMPLES: dict[str, str] = {
    "vault_url": 'vault_url = "https://vault.example"',
    "vault_ca_file": 'vault_ca_file = "/tmp/ca.pem"',
    "vault_tls_pins": 'vault_tls_pins = ["LJsUr5sFmNCuwcgKcRng9SgTi0ne1iRp0dgRLXc2Utg="]',
    "vault_proxy": 'vault_proxy = "direct"',
    "enrolment_token": f'enrolment_token = "crf_{"a" * 32}"',
    "window_title_pattern": 'window_title_pattern = "^Mail"',
    "window_executable": 'window_executable = "thunderbird"',
    "window_class": 'window_class = "Mail"',
    "detectors": 'detectors = ["pulse"]',
    "softphone_executable": 'softphone_executable = "zoiper"',
    "baresip_ctrl_address": 'baresip_ctrl_address = "127.0.0.1:5555"',
    "consent_required": "consent_required = true",
    "consent_timeout_s": "consent_timeout_s = 600.0",
    "personal_calls_allowed": "personal_calls_allowed = false",
    "payment_title_pattern": 'payment_title_pattern = ""',
    "fps": "fps = 30.0",
    "codec": 'codec = "vp9"',
    "video_width": "video_width = 640",
    "video_height": "video_height = 480",
    "segment_seconds": "segment_seconds = 2.0",
    "spool_dir": 'spool_dir = "/tmp/elsewhere"',
    "spool_max_mb": "spool_max_mb = 64",
    "session_wait_s": "session_wait_s = 0.0",
    "session_poll_s": "session_poll_s = 3600.0",
    "heartbeat_s": "heartbeat_s = 3600.0",
}


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    return tmp_path / "home" / "config" / "agent.toml"


def write_user(user_file: Path, text: str) -> None:
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text(text, encoding="utf-8")


def policy(tmp_path: Path, text: str = "") -> PolicyFile:
    directory = tmp_path / "etc"
    directory.mkdir(mode=0o755, exist_ok=True)
    directory.chmod(0o755)
    path = directory / "policy.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    return PolicyFile(path)


def load(user_file: Path, managed: ManagedSource | None = None) -> EffectiveSettings:
    return load_settings(user_file, managed if managed is not None else no_managed_policy())


def only_problem(effective: EffectiveSettings) -> str:
    assert len(effective.problems) == 1, effective.problems
    return effective.problems[0]


# --- The model ------------------------------------------------------------------------------


def test_every_field_has_exactly_one_rule() -> None:
    names = {f.name for f in dataclasses.fields(AgentSettings)}
    assert set(FIELDS) == names
    user = {n for n, s in FIELDS.items() if s.rule is Rule.USER}
    narrow = {n for n, s in FIELDS.items() if s.rule is Rule.NARROW}
    assert user == {"microphone", "far_end", "pause_hotkey"}
    assert narrow == {"notice_lead_time_s", "upload_limit_kbps"}
    assert names - user - narrow == set(POLICY_ONLY_SAMPLES)


def test_defaults_and_call_policy() -> None:
    settings = AgentSettings()
    assert settings.detectors == ("hook", "pulse")
    assert settings.codec == "h264"
    assert (settings.video_width, settings.video_height) == (1280, 720)
    assert settings.call_policy() == CallPolicy(
        notice_lead_time_s=5.0,
        consent_required=False,
        consent_timeout_s=30.0,
        personal_calls_allowed=True,
    )
    strict = AgentSettings(notice_lead_time_s=20, consent_required=True, consent_timeout_s=90)
    assert strict.call_policy() == CallPolicy(20.0, True, 90.0, True)
    assert isinstance(strict.notice_lead_time_s, float)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"window_title_pattern": "(unclosed"}, "not a valid regular expression"),
        ({"payment_title_pattern": "[a-"}, "not a valid regular expression"),
        ({"vault_url": "http://vault.example"}, "https://"),
        ({"detectors": ("hook", "telepathy")}, "unknown detector"),
        ({"detectors": ()}, "at least one detector"),
        ({"baresip_ctrl_address": "localhost"}, "host:port"),
        ({"baresip_ctrl_address": "localhost:99999"}, "host:port"),
        ({"notice_lead_time_s": 121.0}, "0 to 120"),
        ({"notice_lead_time_s": float("nan")}, "finite"),
        ({"consent_timeout_s": 0.0}, "above 0"),
        ({"consent_timeout_s": 601.0}, "at most 600"),
        ({"upload_limit_kbps": -1}, ">= 0"),
        ({"session_poll_s": 0.5}, "1 to 3600"),
        ({"heartbeat_s": 4.0}, "5 to 3600"),
        ({"fps": 31.0}, "1 to 30"),
        ({"codec": "mjpeg"}, "h264, vp9"),
        ({"video_width": 1279}, "even"),
        ({"video_height": 2162}, "160 to 2160"),
        ({"segment_seconds": 61.0}, "1 to 60"),
        ({"spool_max_mb": 63}, ">= 64"),
        ({"pause_hotkey": "P"}, "Ctrl\\+Alt\\+P"),
        ({"pause_hotkey": "Hyper+P"}, "unknown modifier"),
        ({"softphone_executable": ""}, "must not be empty"),
        ({"fps": True}, "expected a number"),
        ({"video_width": 1280.0}, "expected a whole number"),
    ],
)
def test_invalid_values_are_rejected_with_what_is_allowed(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        AgentSettings(**changes)  # type: ignore[arg-type]
    assert next(iter(changes)) in str(caught.value)


def test_valid_edge_values_are_accepted() -> None:
    AgentSettings(
        vault_url="https://[::1]:8443/",
        baresip_ctrl_address="[::1]:4444",
        detectors=("windows-mic",),
        payment_title_pattern="",
        notice_lead_time_s=0.0,
        consent_timeout_s=600.0,
        video_width=3840,
        video_height=2160,
        pause_hotkey="Ctrl+Shift+F9",
    )


# --- Precedence -----------------------------------------------------------------------------


def test_no_files_gives_the_defaults(user_file: Path, tmp_path: Path) -> None:
    effective = load(user_file, PolicyFile(tmp_path / "no-such" / "policy.toml"))
    assert effective.values == AgentSettings()
    assert effective.problems == ()
    assert {effective.source_of(name) for name in FIELDS} == {SettingSource.DEFAULT}


def test_managed_beats_user_beats_default(user_file: Path, tmp_path: Path) -> None:
    write_user(user_file, 'microphone = "Mine"\nfar_end = "Speakers monitor"\n')
    managed = policy(tmp_path, 'microphone = "IT headset"\nfps = 10\n')
    effective = load(user_file, managed)
    assert effective.values.microphone == "IT headset"
    assert effective.source_of("microphone") is SettingSource.MANAGED
    assert effective.values.far_end == "Speakers monitor"
    assert effective.source_of("far_end") is SettingSource.USER
    assert effective.values.fps == 10.0
    assert effective.source_of("fps") is SettingSource.MANAGED
    assert effective.values.pause_hotkey == "Ctrl+Alt+P"
    assert effective.source_of("pause_hotkey") is SettingSource.DEFAULT
    problem = only_problem(effective)
    assert str(user_file) in problem
    assert "microphone" in problem
    assert "'IT headset'" in problem


def test_shown_lists_every_field_with_its_source(user_file: Path, tmp_path: Path) -> None:
    write_user(user_file, 'pause_hotkey = "Ctrl+Alt+F12"\n')
    effective = load(user_file, policy(tmp_path, 'detectors = ["hook", "baresip"]\n'))
    shown = {s.name: s for s in effective.shown()}
    assert list(shown) == list(FIELDS)
    assert shown["detectors"] == SettingShown("detectors", "hook,baresip", "managed")
    assert shown["pause_hotkey"] == SettingShown("pause_hotkey", "Ctrl+Alt+F12", "user")
    assert shown["consent_required"] == SettingShown("consent_required", "false", "default")
    assert shown["notice_lead_time_s"].value == "5.0"
    with pytest.raises(ValueError, match=r"unknown setting 'fsp'.*did you mean 'fps'"):
        effective.source_of("fsp")


# --- Policy-only ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(POLICY_ONLY_SAMPLES))
def test_user_file_cannot_set_policy_only_fields(user_file: Path, name: str) -> None:
    write_user(user_file, POLICY_ONLY_SAMPLES[name] + "\n")
    effective = load(user_file)
    assert getattr(effective.values, name) == getattr(AgentSettings(), name)
    assert effective.source_of(name) is SettingSource.DEFAULT
    problem = only_problem(effective)
    assert str(user_file) in problem
    assert f"only IT can set {name}" in problem
    assert f"settings unset {name}" in problem


def test_policy_only_field_is_honoured_from_managed_policy(user_file: Path, tmp_path: Path) -> None:
    text = "\n".join(POLICY_ONLY_SAMPLES.values()) + "\n"
    effective = load(user_file, policy(tmp_path, text))
    assert effective.values.consent_required is True
    assert effective.values.personal_calls_allowed is False
    assert effective.values.codec == "vp9"
    assert effective.values.payment_title_pattern == ""
    assert all(effective.source_of(n) is SettingSource.MANAGED for n in POLICY_ONLY_SAMPLES)


# --- Narrowing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("managed_text", "user_value", "expected", "source"),
    [
        ("", 10.0, 10.0, SettingSource.USER),
        ("", 5.0, 5.0, SettingSource.USER),
        ("", 2.0, 5.0, SettingSource.DEFAULT),
        ("notice_lead_time_s = 20.0", 30.0, 30.0, SettingSource.USER),
        ("notice_lead_time_s = 20.0", 10.0, 20.0, SettingSource.MANAGED),
        ("notice_lead_time_s = 0.0", 0.0, 0.0, SettingSource.USER),
    ],
)
def test_notice_lead_time_may_only_get_longer(
    user_file: Path,
    tmp_path: Path,
    *,
    managed_text: str,
    user_value: float,
    expected: float,
    source: SettingSource,
) -> None:
    write_user(user_file, f"notice_lead_time_s = {user_value}\n")
    effective = load(user_file, policy(tmp_path, managed_text))
    assert effective.values.notice_lead_time_s == expected
    assert effective.values.call_policy().notice_lead_time_s == expected
    assert effective.source_of("notice_lead_time_s") is source
    if source is SettingSource.USER:
        assert effective.problems == ()
    else:
        assert "only be shown longer" in only_problem(effective)


@pytest.mark.parametrize(
    ("managed_text", "user_value", "expected", "source", "problem"),
    [
        ("", 500, 500, SettingSource.USER, None),
        ("", 0, 0, SettingSource.USER, None),
        ("upload_limit_kbps = 1000", 500, 500, SettingSource.USER, None),
        ("upload_limit_kbps = 1000", 1000, 1000, SettingSource.USER, None),
        ("upload_limit_kbps = 1000", 2000, 1000, SettingSource.MANAGED, "only be lowered"),
        ("upload_limit_kbps = 1000", 0, 1000, SettingSource.MANAGED, "0 means unlimited"),
    ],
)
def test_upload_limit_may_only_get_lower(
    user_file: Path,
    tmp_path: Path,
    *,
    managed_text: str,
    user_value: int,
    expected: int,
    source: SettingSource,
    problem: str | None,
) -> None:
    write_user(user_file, f"upload_limit_kbps = {user_value}\n")
    effective = load(user_file, policy(tmp_path, managed_text))
    assert effective.values.upload_limit_kbps == expected
    assert effective.source_of("upload_limit_kbps") is source
    if problem is None:
        assert effective.problems == ()
    else:
        message = only_problem(effective)
        assert problem in message
        assert "choose 1 to 1000" in message


# --- Strict types and bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('notice_lead_time_s = "10"', "expected a number such as 10 or 7.5, got text"),
        ("upload_limit_kbps = 10.0", "expected a whole number"),
        ("upload_limit_kbps = true", "expected a whole number such as 500, got true/false"),
        ("pause_hotkey = 5", "expected text in quotes"),
        ('microphone = ["a"]', "expected text in quotes"),
        ("notice_lead_time_s = inf", "expected a finite number"),
        ("notice_lead_time_s = 500.0", "0 to 120"),
    ],
)
def test_user_values_of_the_wrong_type_are_ignored(
    user_file: Path, line: str, message: str
) -> None:
    write_user(user_file, line + "\nfar_end = 'Monitor'\n")
    effective = load(user_file)
    problem = only_problem(effective)
    assert message in problem
    assert str(user_file) in problem
    assert line.split(" ", maxsplit=1)[0] in problem
    assert effective.values.far_end == "Monitor"


def test_unknown_user_key_is_reported_and_the_rest_applies(user_file: Path) -> None:
    write_user(user_file, 'microphon = "Headset"\nfar_end = "Monitor"\n')
    effective = load(user_file)
    assert "unknown setting 'microphon'; did you mean 'microphone'" in only_problem(effective)
    assert effective.values.far_end == "Monitor"


def test_user_file_that_is_not_toml_is_reported_and_ignored(user_file: Path) -> None:
    write_user(user_file, "microphone = \n")
    effective = load(user_file)
    assert effective.values == AgentSettings()
    problem = only_problem(effective)
    assert "not valid TOML" in problem
    assert "fix it or delete it" in problem


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("consent_required = 1", "consent_required = 1 is not valid: expected true or false"),
        ("fps = true", "fps = True is not valid: expected a number"),
        ('fps = "10"', "expected a number such as 10 or 7.5, got text"),
        ("video_width = 1280.0", "expected a whole number"),
        ("fps = 60.0", "1 to 30"),
        ('detectors = ["hook", "psychic"]', "unknown detector"),
        ('window_title_pattern = "(CRM"', "not a valid regular expression"),
        ("notice_lead_time_s = -1.0", "0 to 120"),
        ('vault_urll = "https://x"', "unknown setting 'vault_urll'"),
        ("[agent]\nfps = 10", "unknown setting 'agent'"),
    ],
)
def test_invalid_managed_values_fail_closed(
    user_file: Path, tmp_path: Path, text: str, message: str
) -> None:
    managed = policy(tmp_path, text + "\n")
    with pytest.raises(PolicyError) as caught:
        load(user_file, managed)
    error = str(caught.value)
    assert message in error
    assert managed.describe() in error
    assert "ask IT to fix the policy" in error


# --- Saving ---------------------------------------------------------------------------------


def test_save_writes_a_private_toml_file(user_file: Path, tmp_path: Path) -> None:
    effective = save_user_setting(user_file, "microphone", "USB Headset", policy(tmp_path))
    assert effective.values.microphone == "USB Headset"
    assert effective.source_of("microphone") is SettingSource.USER
    assert stat.S_IMODE(user_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(user_file.parent.stat().st_mode) == 0o700
    save_user_setting(user_file, "notice_lead_time_s", "12.5", no_managed_policy())
    save_user_setting(user_file, "upload_limit_kbps", "250", no_managed_policy())
    with user_file.open("rb") as handle:
        assert tomllib.load(handle) == {
            "microphone": "USB Headset",
            "notice_lead_time_s": 12.5,
            "upload_limit_kbps": 250,
        }
    assert list(user_file.parent.iterdir()) == [user_file]


def test_save_tightens_an_existing_directory(user_file: Path) -> None:
    user_file.parent.mkdir(parents=True, mode=0o755)
    save_user_setting(user_file, "far_end", "Monitor", no_managed_policy())
    assert stat.S_IMODE(user_file.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("managed_text", "name", "value", "message"),
    [
        ("", "fps", "10", "only IT can set fps, through managed policy (policy file"),
        ("", "consent_required", "false", "only IT can set consent_required"),
        ('microphone = "IT"', "microphone", "Mine", "IT set microphone to 'IT'"),
        ("", "notice_lead_time_s", "4.9", "only be shown longer than the default 5 s"),
        ("notice_lead_time_s = 30.0", "notice_lead_time_s", "29", "managed (policy file"),
        ("upload_limit_kbps = 800", "upload_limit_kbps", "0", "0 means unlimited"),
        ("upload_limit_kbps = 800", "upload_limit_kbps", "801", "choose 1 to 800"),
        ("", "notice_lead_time_s", "ten", "'ten' is not a number"),
        ("", "upload_limit_kbps", "1.5", "'1.5' is not a whole number"),
        ("", "upload_limit_kbps", "-5", "allowed: a whole number >= 0"),
        ("", "notice_lead_time_s", "nan", "finite"),
        ("", "pause_hotkey", "P", "e.g. Ctrl+Alt+P"),
        ("", "micropone", "x", "did you mean 'microphone'"),
    ],
)
def test_save_refuses_what_the_rules_forbid(
    user_file: Path, tmp_path: Path, *, managed_text: str, name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingRefusedError, match="cannot set") as caught:
        save_user_setting(user_file, name, value, policy(tmp_path, managed_text))
    assert message in str(caught.value)
    assert not user_file.exists()


@pytest.mark.parametrize(
    ("managed_text", "name", "value"),
    [
        ("notice_lead_time_s = 30.0", "notice_lead_time_s", "30"),
        ("notice_lead_time_s = 30.0", "notice_lead_time_s", "60"),
        ("upload_limit_kbps = 800", "upload_limit_kbps", "1"),
        ("", "upload_limit_kbps", "0"),
        ("", "upload_limit_kbps", "100000"),
        ('microphone = "IT"', "far_end", "Monitor"),
    ],
)
def test_save_allows_what_the_rules_allow(
    user_file: Path, tmp_path: Path, managed_text: str, name: str, value: str
) -> None:
    effective = save_user_setting(user_file, name, value, policy(tmp_path, managed_text))
    assert effective.source_of(name) is SettingSource.USER
    assert effective.problems == ()


def test_save_keeps_other_lines_and_refuses_to_overwrite_a_broken_file(user_file: Path) -> None:
    write_user(user_file, 'fps = 10.0\nfar_end = "Monitor"\n')
    save_user_setting(user_file, "microphone", "Headset", no_managed_policy())
    with user_file.open("rb") as handle:
        assert tomllib.load(handle) == {"fps": 10.0, "far_end": "Monitor", "microphone": "Headset"}
    write_user(user_file, "far_end = \n")
    with pytest.raises(SettingRefusedError, match="not valid TOML"):
        save_user_setting(user_file, "microphone", "Headset", no_managed_policy())
    assert user_file.read_text(encoding="utf-8") == "far_end = \n"


def test_save_with_an_untrusted_policy_fails_closed(user_file: Path, tmp_path: Path) -> None:
    managed = policy(tmp_path, "")
    managed.path.chmod(0o666)
    with pytest.raises(PolicyError, match="writable by group/others"):
        save_user_setting(user_file, "microphone", "Headset", managed)
    assert not user_file.exists()


def test_unset_removes_a_value_and_cleans_up_ignored_ones(user_file: Path) -> None:
    write_user(user_file, 'fps = 10.0\nmicrophone = "Headset"\ntypo = 1\n')
    effective = unset_user_setting(user_file, "microphone", no_managed_policy())
    assert effective.source_of("microphone") is SettingSource.DEFAULT
    effective = unset_user_setting(user_file, "fps", no_managed_policy())
    effective = unset_user_setting(user_file, "typo", no_managed_policy())
    assert effective.problems == ()
    assert user_file.read_text(encoding="utf-8") == ""
    assert stat.S_IMODE(user_file.stat().st_mode) == 0o600
    unset_user_setting(user_file, "far_end", no_managed_policy())
    with pytest.raises(SettingRefusedError, match="cannot unset nosuch: unknown setting"):
        unset_user_setting(user_file, "nosuch", no_managed_policy())


# --- The command ----------------------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="callreel-agent")
    add_settings_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.command == "settings"
    return run_command(args)


def test_command_show_set_unset(
    tmp_path: Path, user_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    managed = policy(tmp_path, "fps = 10\n")
    common = ["--config-dir", str(user_file.parent), "--policy-file", str(managed.path)]
    assert run(["settings", "set", *common, "microphone", "Headset"]) == 0
    assert capsys.readouterr().out == "microphone = Headset (user)\n"
    assert run(["settings", "show", *common]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["fps"] == ["10.0", "managed", "(locked)"]
    assert lines["microphone"] == ["Headset", "user"]
    assert lines["far_end"] == ['""', "default"]
    assert f"policy file {managed.path}" in out
    assert str(user_file) in out
    assert run(["settings", "unset", *common, "microphone"]) == 0
    assert capsys.readouterr().out == 'microphone = "" (default)\n'


def test_command_refusals_exit_1_with_the_reason(
    tmp_path: Path, user_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    managed = policy(tmp_path, "upload_limit_kbps = 800\n")
    common = ["--config-dir", str(user_file.parent), "--policy-file", str(managed.path)]
    assert run(["settings", "set", *common, "upload_limit_kbps", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("callreel-agent settings: cannot set upload_limit_kbps: 0 means")
    assert run(["settings", "set", *common, "codec", "vp9"]) == 1
    assert "only IT can set codec" in capsys.readouterr().err
    managed.path.chmod(0o664)
    assert run(["settings", "show", *common]) == 1
    assert "writable by group/others" in capsys.readouterr().err
    assert not user_file.exists()


def test_command_show_lists_ignored_user_values(
    tmp_path: Path, user_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_user(user_file, "consent_required = false\n")
    managed = policy(tmp_path, "consent_required = true\n")
    common = ["--config-dir", str(user_file.parent), "--policy-file", str(managed.path)]
    assert run(["settings", "show", *common]) == 0
    out = capsys.readouterr().out
    assert "consent_required        true" in out
    assert "ignored: " in out
    assert "only IT can set consent_required" in out


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("Ctrl+Alt+P", True),
        ("Control+Alt+P", True),  # the settings check once refused this spelling
        ("ctrl + alt + p", True),
        ("Win+pgdn", True),
        ("Cmd+Shift+9", True),
        ("F12", True),  # keys that type nothing may stand alone
        ("Pause", True),
        ("Shift+F5", True),
        ("P", False),
        ("Shift+A", False),
        ("Hyper+P", False),
        ("Ctrl+", False),
        ("Ctrl+Alt+P+Q", False),
        ("Ctrl+Ctrl+P", False),
        ("Ctrl+Alt+Banana", False),
        ("", False),
    ],
)
def test_the_settings_check_and_the_hotkey_parser_agree(text: str, accepted: bool) -> None:
    """One syntax for the pause hotkey: the parser's, which the settings check asks."""
    try:
        parse_hotkey(text)
    except HotkeyError:
        parsed = False
    else:
        parsed = True
    try:
        AgentSettings(pause_hotkey=text)
    except ValueError:
        checked = False
    else:
        checked = True
    assert (parsed, checked) == (accepted, accepted)
