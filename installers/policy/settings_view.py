"""The declared settings as IT sees them: the same words and values in every template."""

from __future__ import annotations

from dataclasses import dataclass

from agent.settings.fields import DEFAULTS, FIELDS, FieldSpec, Kind, Rule, format_value
from agent.settings.managed_policy import WINDOWS_POLICY_KEY

WHO_MAY_CHANGE = {
    Rule.POLICY_ONLY: "policy only",
    Rule.USER: "each agent, unless policy sets it",
    Rule.NARROW: "policy; agents only in the protective direction",
}

REGISTRY_TYPE = {
    Kind.TEXT: "REG_SZ",
    Kind.NUMBER: "REG_SZ (or REG_DWORD for a whole number)",
    Kind.WHOLE: "REG_DWORD (or REG_SZ text)",
    Kind.BOOLEAN: "REG_DWORD 0 or 1 (or REG_SZ true/false)",
    Kind.NAMES: "REG_MULTI_SZ (or REG_SZ, separated by commas)",
}
"""What Group Policy writes; the MSI writes every value as REG_SZ text, which the agent's
registry reader takes for every kind."""

PLIST_TYPE = {
    Kind.TEXT: "string",
    Kind.NUMBER: "real",
    Kind.WHOLE: "integer",
    Kind.BOOLEAN: "boolean",
    Kind.NAMES: "array of strings",
}

REGISTRY_KEY = f"HKLM\\{WINDOWS_POLICY_KEY}"


@dataclass(frozen=True, slots=True)
class PolicySetting:
    spec: FieldSpec
    default: object

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def default_text(self) -> str:
        """The default as the settings command shows it; '(empty)' for empty text."""
        shown = format_value(self.default)
        return shown if shown else "(empty)"

    @property
    def msi_property(self) -> str:
        """The MSI's public property for this setting: `msiexec /i ... VAULT_URL=...`."""
        return msi_property_name(self.name)

    @property
    def who_may_change(self) -> str:
        return WHO_MAY_CHANGE[self.spec.rule]


def msi_property_name(setting_name: str) -> str:
    return setting_name.upper()


def policy_settings() -> list[PolicySetting]:
    """Every setting, in declaration order (the order the policy file and tables use)."""
    return [PolicySetting(spec, getattr(DEFAULTS, spec.name)) for spec in FIELDS.values()]
