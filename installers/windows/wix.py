"""The agent MSI's WiX source, for wixl (msitools), generated from the staged tree and the
settings declaration.

Every setting is a public property (its field name in capitals) written, when given, to
HKLM\\SOFTWARE\\Policies\\Callreel\\Agent as REG_SZ text in the form `callreel-agent settings
set` takes: the agent's registry reader accepts that for every kind of setting, and Windows
Installer can read text back unchanged for an upgrade (a DWORD comes back as "#1"). An upgrade
that is not given a property keeps the installed value: AppSearch reads it into PREVIOUS_NAME
and a custom action copies it to NAME only when NAME was not given (reading straight into NAME
would let the old value override the command line's).

What wixl cannot express (component conditions, SecureCustomProperties, MsiHiddenProperties)
is added to the built database by installers/windows/msi_tables.py.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from installers.policy.settings_view import PolicySetting, msi_property_name

WIX_NAMESPACE = "http://schemas.microsoft.com/wix/2006/wi"
UPGRADE_CODE = "{6D0B3F58-8A62-4C2A-9C39-3A0E3B1F0C11}"
"""The agent's product family: every version shares it, so each replaces the one before."""
COMPONENT_NAMESPACE = uuid.UUID("2f1d4c0e-6a53-4b8e-9a55-3c1f0b7d9e21")
PRODUCT_NAME = "Callreel agent"
MANUFACTURER = "Callreel"
INSTALL_FOLDER = ("Callreel", "Agent")
LAUNCHER = "callreel-agent.exe"
"""With a console: for IT and for commands (doctor, settings, enrol)."""
WINDOWED_LAUNCHER = "callreel-agentw.exe"
"""Without a console window: what starts at logon."""
RUN_KEY = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "Callreel agent"
POLICY_KEY = r"SOFTWARE\Policies\Callreel\Agent"
SPOOL_NOTE = (
    r"Each user's unsent recordings stay in %LOCALAPPDATA%\callreel\spool (sealed; only the"
    " vault can open them) until the user's profile is deleted; reinstalling the agent uploads"
    " them."
)


PROPERTY_ALIASES = {"ENROLL_TOKEN": "enrolment_token"}
"""Other spellings IT types (other agents' MSIs say ENROLL_TOKEN), each setting its setting's
property when given: an unknown property would be ignored without a word."""


def aliases_of(settings: list[PolicySetting]) -> list[tuple[str, PolicySetting]]:
    by_name = {setting.name: setting for setting in settings}
    return [(alias, by_name[name]) for alias, name in PROPERTY_ALIASES.items() if name in by_name]


def alias_action_name(alias: str) -> str:
    return f"Alias_{alias}"


def property_name(setting_name: str) -> str:
    return msi_property_name(setting_name)


def previous_property_name(setting_name: str) -> str:
    return f"PREVIOUS_{property_name(setting_name)}"


def component_guid(key: str) -> str:
    """The same component (file path or registry value) keeps its GUID in every build, as the
    component rules require for upgrades."""
    return "{" + str(uuid.uuid5(COMPONENT_NAMESPACE, key)).upper() + "}"


def element_id(prefix: str, key: str) -> str:
    return f"{prefix}{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def keep_action_name(setting_name: str) -> str:
    return f"Keep_{setting_name}"


def policy_component_id(setting_name: str) -> str:
    return f"Policy_{setting_name}"


@dataclass(frozen=True, slots=True)
class MsiSource:
    stage: Path
    """The tree installed under Program Files\\Callreel\\Agent."""
    wxs_dir: Path
    """Where the .wxs is written: wixl takes files' paths relative to it."""
    version: str
    settings: list[PolicySetting]


def _sub(parent: ET.Element, tag: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{WIX_NAMESPACE}}}{tag}", attributes)


def _files(
    directory: ET.Element, source: Path, relative: Path, wxs_dir: Path, components: list[str]
) -> None:
    for entry in sorted(source.iterdir()):
        key = (relative / entry.name).as_posix()
        if entry.is_dir():
            child = _sub(directory, "Directory", Id=element_id("d", key), Name=entry.name)
            _files(child, entry, relative / entry.name, wxs_dir, components)
            continue
        component_id = element_id("c", key)
        component = _sub(
            directory, "Component", Id=component_id, Guid=component_guid(key), Win64="yes"
        )
        source_path = os.path.relpath(entry, wxs_dir)
        _sub(component, "File", Id=element_id("f", key), Source=source_path, KeyPath="yes")
        components.append(component_id)


def _policy(product: ET.Element, install_dir: ET.Element, source: MsiSource) -> list[str]:
    components = []
    sequence = _sub(product, "InstallExecuteSequence")
    for alias, setting in aliases_of(source.settings):
        _sub(product, "CustomAction", Id=alias_action_name(alias),
             Property=property_name(setting.name), Value=f"[{alias}]")  # fmt: skip
        _sub(sequence, "Custom", Action=alias_action_name(alias), After="AppSearch").text = alias
    for setting in source.settings:
        name, previous = property_name(setting.name), previous_property_name(setting.name)
        found = _sub(product, "Property", Id=previous)
        _sub(
            found, "RegistrySearch", Id=f"Find_{setting.name}", Root="HKLM", Key=POLICY_KEY,
            Name=setting.name, Type="raw", Win64="yes",
        )  # fmt: skip
        _sub(product, "CustomAction", Id=keep_action_name(setting.name), Property=name,
             Value=f"[{previous}]")  # fmt: skip
        keep = _sub(sequence, "Custom", Action=keep_action_name(setting.name), After="AppSearch")
        keep.text = f"{previous} AND NOT {name}"
        component_id = policy_component_id(setting.name)
        component = _sub(
            install_dir, "Component", Id=component_id,
            Guid=component_guid(f"policy/{setting.name}"), Win64="yes",
        )  # fmt: skip
        _sub(
            component, "RegistryValue", Root="HKLM", Key=POLICY_KEY, Name=setting.name,
            Type="string", Value=f"[{name}]", KeyPath="yes",
        )  # fmt: skip
        components.append(component_id)
    return components


def product_wxs(source: MsiSource) -> str:
    wix = ET.Element(f"{{{WIX_NAMESPACE}}}Wix")
    product = _sub(
        wix, "Product", Id="*", Name=PRODUCT_NAME, Language="1033", Version=source.version,
        Manufacturer=MANUFACTURER, UpgradeCode=UPGRADE_CODE,
    )  # fmt: skip
    _sub(
        product, "Package", InstallerVersion="500", Compressed="yes", InstallScope="perMachine",
        Description=f"{PRODUCT_NAME} {source.version}",
        Comments="Records the business application and the call, for training, while a"
        " trainer's session is open. Settings: docs/deploy.md.",
    )  # fmt: skip
    _sub(product, "MajorUpgrade", DowngradeErrorMessage=f"A newer {PRODUCT_NAME} is installed.")
    _sub(product, "Media", Id="1", Cabinet="agent.cab", EmbedCab="yes")
    _sub(product, "Property", Id="ARPCOMMENTS", Value=SPOOL_NOTE)
    _sub(product, "Property", Id="ARPNOMODIFY", Value="1")
    # Written to the installer's log on removal, where IT looks.
    _sub(product, "Property", Id="CALLREEL_SPOOL_NOTE", Value=SPOOL_NOTE)
    target = _sub(product, "Directory", Id="TARGETDIR", Name="SourceDir")
    program_files = _sub(target, "Directory", Id="ProgramFiles64Folder")
    vendor = _sub(program_files, "Directory", Id="CALLREELDIR", Name=INSTALL_FOLDER[0])
    install_dir = _sub(vendor, "Directory", Id="INSTALLDIR", Name=INSTALL_FOLDER[1])
    components: list[str] = []
    _files(install_dir, source.stage, Path(), source.wxs_dir, components)
    components += _policy(product, install_dir, source)
    run = _sub(
        install_dir, "Component", Id="StartAtLogon", Guid=component_guid("run-at-logon"),
        Win64="yes",
    )  # fmt: skip
    _sub(
        run, "RegistryValue", Root="HKLM", Key=RUN_KEY, Name=RUN_VALUE, Type="string",
        Value=f'"[INSTALLDIR]{WINDOWED_LAUNCHER}" run', KeyPath="yes",
    )  # fmt: skip
    components.append("StartAtLogon")
    feature = _sub(product, "Feature", Id="Agent", Level="1", Title=PRODUCT_NAME)
    for component_id in components:
        _sub(feature, "ComponentRef", Id=component_id)
    ET.register_namespace("", WIX_NAMESPACE)
    ET.indent(wix)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(wix, encoding="unicode")
