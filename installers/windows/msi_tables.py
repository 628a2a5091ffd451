"""Rows wixl cannot write, added to the built MSI with msibuild's SQL (msitools).

- each policy component's Condition: a registry value is written only for a property that was
  given (or kept from the installed version), so an unset setting stays unset;
- SecureCustomProperties: the public properties that may pass from the user interface to the
  elevated install (Windows Installer drops the others);
- MsiHiddenProperties: secret settings' properties, kept out of the installer's log;
- the sequence of the custom actions that keep installed values: right after AppSearch and
  before costing evaluates the component conditions (wixl places some `After="AppSearch"`
  actions at the end of the sequence instead).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from installers.policy.settings_view import PolicySetting
from installers.reproducible import BuildError
from installers.windows.wix import (
    alias_action_name,
    aliases_of,
    keep_action_name,
    policy_component_id,
    previous_property_name,
    property_name,
)

APP_SEARCH, LAUNCH_CONDITIONS = 50, 100
"""Their places in InstallExecuteSequence; the keep actions go between them."""


def _quoted(text: str) -> str:
    """msibuild takes SQL text only, without parameters; the values are names from the
    settings declaration, and one holding a quote is refused rather than escaped."""
    if "'" in text:
        raise BuildError(f"{text!r} cannot be quoted in MSI SQL")
    return f"'{text}'"


def table_queries(settings: list[PolicySetting], secure_already: str) -> list[str]:
    """`secure_already`: SecureCustomProperties as wixl wrote it (its upgrade properties)."""
    queries = [
        f"UPDATE `Component` SET `Condition` = {_quoted(property_name(s.name))}"  # noqa: S608
        f" WHERE `Component` = {_quoted(policy_component_id(s.name))}"
        for s in settings
    ]
    aliases = aliases_of(settings)
    public = [
        name for s in settings for name in (property_name(s.name), previous_property_name(s.name))
    ] + [alias for alias, _ in aliases]
    hidden = [
        name
        for s in settings
        if s.spec.secret
        for name in (property_name(s.name), previous_property_name(s.name))
    ] + [alias for alias, setting in aliases if setting.spec.secret]
    # After AppSearch, before costing: first the aliases, then the keeps (a value given under
    # either spelling wins over the installed one).
    actions = [alias_action_name(alias) for alias, _ in aliases]
    actions += [keep_action_name(s.name) for s in settings]
    if len(actions) >= LAUNCH_CONDITIONS - APP_SEARCH:
        raise BuildError(f"{len(actions)} actions do not fit between AppSearch and costing")
    queries += [
        f"UPDATE `InstallExecuteSequence` SET `Sequence` = {APP_SEARCH + 1 + index}"  # noqa: S608
        f" WHERE `Action` = {_quoted(action)}"
        for index, action in enumerate(actions)
    ]
    secure = ";".join([*filter(None, secure_already.split(";")), *public])
    queries.append(
        f"UPDATE `Property` SET `Value` = {_quoted(secure)}"  # noqa: S608
        " WHERE `Property` = 'SecureCustomProperties'"
        if secure_already
        else "INSERT INTO `Property` (`Property`, `Value`)"  # noqa: S608
        f" VALUES ('SecureCustomProperties', {_quoted(secure)})"
    )
    if hidden:
        queries.append(
            "INSERT INTO `Property` (`Property`, `Value`)"  # noqa: S608
            f" VALUES ('MsiHiddenProperties', {_quoted(';'.join(hidden))})"
        )
    return queries


def property_value(msi: Path, name: str) -> str:
    """A row of the MSI's Property table ('' when there is none)."""
    done = subprocess.run(
        ["msiinfo", "export", str(msi), "Property"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BuildError(f"msiinfo cannot read {msi.name}'s Property table: {done.stderr}")
    for line in done.stdout.splitlines()[3:]:
        key, _, value = line.partition("\t")
        if key == name:
            return value
    return ""


def add_rows(msi: Path, settings: list[PolicySetting]) -> None:
    for query in table_queries(settings, property_value(msi, "SecureCustomProperties")):
        done = subprocess.run(
            ["msibuild", str(msi), "-q", query], capture_output=True, text=True, check=False
        )
        if done.returncode != 0 or done.stderr.strip():
            raise BuildError(f"msibuild could not run {query!r}: {done.stderr.strip()}")
