"""The Group Policy templates (ADMX and its en-US ADML) for the agent's settings under
HKLM\\SOFTWARE\\Policies\\Callreel\\Agent, where agent/settings/managed_policy.py reads them.

Each setting is one policy whose display name is its key, so the Group Policy editor, the
registry, the Linux policy file and docs/deploy.md all use the same word. The registry types
are those the agent's reader converts: text and numbers with a fraction as REG_SZ, whole
numbers as REG_DWORD, true/false as REG_DWORD 0/1, lists as REG_MULTI_SZ.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agent.settings.fields import Kind, format_value
from agent.settings.managed_policy import WINDOWS_POLICY_KEY
from installers.policy.settings_view import PolicySetting, policy_settings
from protocol.version import VERSION

NAMESPACE = "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"
TARGET_NAMESPACE = "Callreel.Policies.Agent"
CATEGORY = "Callreel_Agent"
SUPPORTED_ON = "windows:SUPPORTED_Windows_10_0"
MAX_DWORD = 2**31 - 1
"""Whole-number settings' own checks bound them; the template only keeps them a DWORD."""
MAX_TEXT = 1023
REVISION = "1.0"


def _element(parent: ET.Element, tag: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, tag, attributes)


def _explain(setting: PolicySetting) -> str:
    return (
        f"{setting.spec.about}\n\nAllowed: {setting.spec.allowed}.\nDefault when not"
        f" configured: {setting.default_text}.\nWho may change it: {setting.who_may_change}."
        f"\n\nRegistry value {setting.name} under HKLM\\{WINDOWS_POLICY_KEY}."
    )


def admx_text() -> str:
    root = ET.Element("policyDefinitions", revision=REVISION, schemaVersion="1.0")
    root.set("xmlns", NAMESPACE)
    namespaces = _element(root, "policyNamespaces")
    _element(namespaces, "target", prefix="callreel", namespace=TARGET_NAMESPACE)
    _element(namespaces, "using", prefix="windows", namespace="Microsoft.Policies.Windows")
    _element(root, "resources", minRequiredRevision=REVISION)
    categories = _element(root, "categories")
    _element(categories, "category", name=CATEGORY, displayName=f"$(string.{CATEGORY})")
    policies = _element(root, "policies")
    for setting in policy_settings():
        _policy(policies, setting)
    return _serialise(root)


def _policy(policies: ET.Element, setting: PolicySetting) -> None:
    name = setting.name
    policy = _element(
        policies,
        "policy",
        name=name,
        **{"class": "Machine"},
        displayName=f"$(string.{name})",
        explainText=f"$(string.{name}_Explain)",
        key=WINDOWS_POLICY_KEY,
    )
    kind = setting.spec.kind
    if kind is Kind.BOOLEAN:
        policy.set("valueName", name)
    else:
        policy.set("presentation", f"$(presentation.{name})")
    _element(policy, "parentCategory", ref=CATEGORY)
    _element(policy, "supportedOn", ref=SUPPORTED_ON)
    if kind is Kind.BOOLEAN:
        _element(_element(policy, "enabledValue"), "decimal", value="1")
        _element(_element(policy, "disabledValue"), "decimal", value="0")
        return
    elements = _element(policy, "elements")
    if kind in (Kind.TEXT, Kind.NUMBER):
        _element(elements, "text", id=name, valueName=name, maxLength=str(MAX_TEXT))
    elif kind is Kind.WHOLE:
        _element(
            elements, "decimal", id=name, valueName=name, minValue="0", maxValue=str(MAX_DWORD)
        )
    else:
        _element(elements, "multiText", id=name, valueName=name)


def adml_text() -> str:
    root = ET.Element("policyDefinitionResources", revision=REVISION, schemaVersion="1.0")
    root.set("xmlns", NAMESPACE)
    ET.SubElement(root, "displayName").text = "Callreel agent"
    ET.SubElement(root, "description").text = (
        f"Managed settings of the Callreel agent {VERSION}, generated from its settings"
        " declaration."
    )
    resources = _element(root, "resources")
    strings = _element(resources, "stringTable")
    presentations = _element(resources, "presentationTable")
    _element(strings, "string", id=CATEGORY).text = "Callreel agent"
    for setting in policy_settings():
        name = setting.name
        _element(strings, "string", id=name).text = name
        _element(strings, "string", id=f"{name}_Explain").text = _explain(setting)
        if setting.spec.kind is not Kind.BOOLEAN:
            _presentation(_element(presentations, "presentation", id=name), setting)
    return _serialise(root)


def _presentation(presentation: ET.Element, setting: PolicySetting) -> None:
    name, kind, label = setting.name, setting.spec.kind, f"{setting.name}:"
    if kind is Kind.WHOLE:
        box = _element(presentation, "decimalTextBox", refId=name)
        box.set("defaultValue", str(setting.default))
        box.text = label
    elif kind is Kind.NAMES:
        _element(presentation, "multiTextBox", refId=name).text = label
    else:
        box = _element(presentation, "textBox", refId=name)
        ET.SubElement(box, "label").text = label
        ET.SubElement(box, "defaultValue").text = format_value(setting.default)


def _serialise(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'
