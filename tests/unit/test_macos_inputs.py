"""The macOS pkg's inputs: plists that round-trip, the LaunchAgent and profile keys Apple
documents, managed preferences the agent's own reader takes, and a Distribution and
PackageInfo with the parts productbuild and the installer look for."""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET
from typing import Any

from agent.settings.fields import DEFAULTS, FIELDS, AgentSettings
from agent.settings.managed_policy import MAC_PREFERENCES_DOMAIN
from installers.macos.pkg_inputs import (
    APP,
    EXECUTABLE,
    PKG_ID,
    distribution,
    info_plist,
    launch_agent,
    package_info,
)
from installers.policy.mac_profile import (
    code_requirement,
    configuration_profile,
    managed_preferences,
)
from protocol.version import VERSION


def _round_trip(value: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = plistlib.loads(plistlib.dumps(value))
    assert loaded == value
    return loaded


def test_the_launch_agent_starts_the_agent_in_each_graphical_login() -> None:
    agent = _round_trip(launch_agent())
    assert agent["Label"] == MAC_PREFERENCES_DOMAIN
    assert agent["ProgramArguments"] == [f"/{APP}/Contents/MacOS/{EXECUTABLE}", "run"]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["LimitLoadToSessionType"] == "Aqua"
    assert agent["ProcessType"] == "Interactive"


def test_the_app_is_a_menu_bar_app_that_says_why_it_needs_the_microphone() -> None:
    info = _round_trip(info_plist())
    assert info["CFBundleIdentifier"] == MAC_PREFERENCES_DOMAIN
    assert info["CFBundleExecutable"] == EXECUTABLE
    assert info["CFBundleShortVersionString"] == VERSION
    assert info["LSUIElement"] is True
    assert info["NSMicrophoneUsageDescription"]


def test_the_profile_carries_preferences_privacy_and_the_alert_bypass() -> None:
    profile = plistlib.loads(configuration_profile("ABCDE12345"))
    assert profile == plistlib.loads(configuration_profile("ABCDE12345")), "the same every build"
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadScope"] == "System"
    payloads = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert set(payloads) == {
        "com.apple.ManagedClient.preferences",
        "com.apple.TCC.configuration-profile-policy",
        "com.apple.applicationaccess",
    }
    for payload in payloads.values():
        assert {"PayloadIdentifier", "PayloadUUID", "PayloadVersion"} <= set(payload)
    (screen,) = payloads["com.apple.TCC.configuration-profile-policy"]["Services"]["ScreenCapture"]
    assert screen["Authorization"] == "AllowStandardUserToSetSystemService"
    assert screen["IdentifierType"] == "bundleID"
    assert screen["CodeRequirement"] == code_requirement("ABCDE12345")
    assert 'certificate leaf[subject.OU] = "ABCDE12345"' in screen["CodeRequirement"]
    assert payloads["com.apple.applicationaccess"]["forceBypassScreenCaptureAlert"] is True
    forced = payloads["com.apple.ManagedClient.preferences"]["PayloadContent"]
    (settings,) = forced[MAC_PREFERENCES_DOMAIN]["Forced"]
    assert settings["mcx_preference_settings"] == managed_preferences()


def test_managed_preferences_are_typed_as_the_agents_plist_reader_takes_them() -> None:
    preferences = managed_preferences()
    assert set(preferences) <= set(FIELDS)
    assert "enrolment_token" not in preferences, "a secret is never written into a template"
    read: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in plistlib.loads(plistlib.dumps(preferences)).items()
    }
    assert AgentSettings(**read) == DEFAULTS


def test_package_info_and_distribution_name_the_same_package() -> None:
    info = ET.fromstring(package_info(3, 12))
    assert (info.get("identifier"), info.get("version"), info.get("install-location")) == (
        PKG_ID, VERSION, "/",
    )  # fmt: skip
    scripts = info.find("scripts")
    assert scripts is not None
    assert {child.tag for child in scripts} == {"preinstall", "postinstall"}
    payload = info.find("payload")
    assert payload is not None
    assert payload.get("numberOfFiles") == "3"
    product = ET.fromstring(distribution())
    refs = product.findall("pkg-ref")
    assert [ref.get("id") for ref in refs] == [PKG_ID]
    assert refs[0].get("version") == VERSION
    choice = product.find("choice")
    assert choice is not None
    assert choice.find("pkg-ref") is not None
    outline = product.find("choices-outline/line")
    assert outline is not None
    assert outline.get("choice") == choice.get("id")
    versions = product.find("allowed-os-versions/os-version")
    assert versions is not None
    assert versions.get("min")
