"""The macOS configuration profile IT deploys with its MDM (Jamf, Intune, Kandji...): the
agent's managed preferences (domain com.callreel.agent, read by
agent/settings/managed_policy.py), the privacy payload that lets a standard user approve
Screen Recording for the agent, and the restriction that stops macOS's periodic "still
recording your screen?" alert. Values are the settings' defaults; IT edits them, the keys
and types stay those of the settings declaration."""

from __future__ import annotations

import plistlib
import uuid

from agent.settings.managed_policy import MAC_PREFERENCES_DOMAIN
from installers.policy.settings_view import policy_settings
from protocol.version import VERSION

BUNDLE_ID = MAC_PREFERENCES_DOMAIN
PROFILE_ID = "com.callreel.agent.profile"
_NAMESPACE = uuid.UUID("5d3b1a53-3a0b-4f55-9a63-1f2c0f6b6a10")
"""Payload UUIDs derive from it, so each build of the profile is the same profile to MDMs."""


def _uuid(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name)).upper()


def code_requirement(team_id: str) -> str:
    """The designated requirement of the agent signed with IT's Developer ID team."""
    return (
        f'identifier "{BUNDLE_ID}" and anchor apple generic and'
        f" certificate 1[field.1.2.840.113635.100.6.2.6] /* exists */ and"
        f" certificate leaf[field.1.2.840.113635.100.6.1.13] /* exists */ and"
        f' certificate leaf[subject.OU] = "{team_id}"'
    )


def managed_preferences() -> dict[str, object]:
    """Every setting at its default, typed as the agent's plist reader takes it. Secrets and
    empty texts are left out: IT adds what it sets."""
    chosen: dict[str, object] = {}
    for setting in policy_settings():
        value = setting.default
        if setting.spec.secret or value == "":
            continue
        chosen[setting.name] = list(value) if isinstance(value, tuple) else value
    return chosen


def _payload(kind: str, name: str, content: dict[str, object]) -> dict[str, object]:
    return {
        "PayloadType": kind,
        "PayloadIdentifier": f"{PROFILE_ID}.{name}",
        "PayloadUUID": _uuid(name),
        "PayloadVersion": 1,
        "PayloadDisplayName": f"Callreel agent: {name}",
        **content,
    }


def configuration_profile(team_id: str) -> bytes:
    preferences = _payload(
        "com.apple.ManagedClient.preferences",
        "preferences",
        {
            "PayloadContent": {
                BUNDLE_ID: {"Forced": [{"mcx_preference_settings": managed_preferences()}]}
            }
        },
    )
    privacy = _payload(
        "com.apple.TCC.configuration-profile-policy",
        "privacy",
        {
            "Services": {
                # A profile cannot grant Screen Recording; this lets a standard user approve it.
                "ScreenCapture": [
                    {
                        "Identifier": BUNDLE_ID,
                        "IdentifierType": "bundleID",
                        "CodeRequirement": code_requirement(team_id),
                        "Authorization": "AllowStandardUserToSetSystemService",
                    }
                ],
            }
        },
    )
    restrictions = _payload(
        "com.apple.applicationaccess",
        "screen-capture-alert",
        {"forceBypassScreenCaptureAlert": True},
    )
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": PROFILE_ID,
        "PayloadUUID": _uuid("profile"),
        "PayloadDisplayName": "Callreel agent",
        "PayloadDescription": f"Managed settings and privacy approvals for Callreel {VERSION}.",
        "PayloadOrganization": "Callreel",
        "PayloadScope": "System",
        "PayloadContent": [preferences, privacy, restrictions],
    }
    return plistlib.dumps(profile, sort_keys=True)
