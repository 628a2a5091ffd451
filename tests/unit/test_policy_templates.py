"""IT's policy templates say what the settings declaration says: every setting, its default,
and a registry type the agent's own reader turns back into the value IT chose."""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from agent.settings.fields import DEFAULTS, FIELDS, AgentSettings, Kind
from agent.settings.managed_policy import (
    REG_DWORD,
    REG_MULTI_SZ,
    REG_SZ,
    WINDOWS_POLICY_KEY,
    registry_values_to_settings,
)
from installers.policy.group_policy import NAMESPACE, adml_text, admx_text
from installers.policy.linux_file import policy_file_text
from installers.policy.reference_table import BEGIN, END, reference_table, with_reference_table

NS = {"p": NAMESPACE}
DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"

# A value of each setting other than its default, as IT would set it.
CHOSEN: dict[str, Any] = {
    "vault_url": "https://vault.example.com:8443",
    "enrolment_token": "crf_" + "Fleet-Token_0123456789abcdefghij",
    "vault_ca_file": r"C:\ProgramData\Callreel\vault.pem",
    "vault_tls_pins": ("LJsUr5sFmNCuwcgKcRng9SgTi0ne1iRp0dgRLXc2Utg=",),
    "vault_proxy": "http://proxy.example.com:3128",
    "window_title_pattern": r"^CRM - .*$",
    "window_executable": "crm.exe",
    "window_class": "CrmMainWindow",
    "microphone": "Headset Microphone",
    "far_end": "Headset Earphone",
    "detectors": ("pulse",),
    "softphone_executable": "microsip.exe",
    "baresip_ctrl_address": "127.0.0.1:4455",
    "notice_lead_time_s": 7.5,
    "consent_required": True,
    "consent_timeout_s": 45.0,
    "personal_calls_allowed": False,
    "payment_title_pattern": "",
    "pause_hotkey": "Ctrl+Shift+F9",
    "upload_limit_kbps": 800,
    "session_wait_s": 0.0,
    "session_poll_s": 30.0,
    "heartbeat_s": 120.0,
    "fps": 10.0,
    "codec": "vp9",
    "video_width": 1920,
    "video_height": 1080,
    "segment_seconds": 5.0,
    "spool_dir": r"D:\CallreelSpool",
    "spool_max_mb": 4096,
}


def test_every_setting_has_a_chosen_value_unlike_its_default() -> None:
    assert set(CHOSEN) == set(FIELDS)
    for name, value in CHOSEN.items():
        assert value != getattr(DEFAULTS, name), name
    AgentSettings(**CHOSEN)  # each is allowed


def test_the_linux_policy_file_lists_every_setting_commented_out_at_its_default() -> None:
    text = policy_file_text()
    assert tomllib.loads(text) == {}, "nothing may be set until IT uncomments it"
    uncommented = re.sub(r"^#(?=[a-z_]+ = )", "", text, flags=re.MULTILINE)
    assert tomllib.loads(uncommented) == {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in ((name, getattr(DEFAULTS, name)) for name in FIELDS)
    }


def test_the_linux_policy_file_says_what_each_setting_does() -> None:
    text = policy_file_text()
    for spec in FIELDS.values():
        block = text[: text.index(f"#{spec.name} = ")].rsplit("\n\n", 1)[-1]
        assert spec.about.split()[0] in block
        assert f"Allowed: {spec.allowed}." in block


def _policies() -> dict[str, ET.Element]:
    root = ET.fromstring(admx_text())
    return {policy.get("name", ""): policy for policy in root.iterfind(".//p:policy", NS)}


def _registry_value(policy: ET.Element, spec_kind: Kind, value: object) -> tuple[int, object]:
    """What the Group Policy client writes for this policy set to `value` (its schema's
    meaning of each element), as (registry type, raw value)."""
    if spec_kind is Kind.BOOLEAN:
        chosen = "enabledValue" if value else "disabledValue"
        decimal = policy.find(f"p:{chosen}/p:decimal", NS)
        assert decimal is not None
        return REG_DWORD, int(decimal.get("value", ""))
    elements = policy.find("p:elements", NS)
    assert elements is not None
    (element,) = list(elements)
    tag = element.tag.split("}")[1]
    if tag == "text":
        return REG_SZ, str(value)
    if tag == "decimal":
        assert (
            int(element.get("minValue", "0"))
            <= int(str(value))
            <= int(element.get("maxValue", "9999"))
        )
        return REG_DWORD, value
    assert tag == "multiText"
    return REG_MULTI_SZ, list(value)  # type: ignore[call-overload]


def test_each_group_policy_writes_a_value_the_agents_registry_reader_takes_back() -> None:
    policies = _policies()
    assert set(policies) == set(FIELDS)
    values = []
    for name, spec in FIELDS.items():
        policy = policies[name]
        assert policy.get("key") == WINDOWS_POLICY_KEY
        assert policy.get("class") == "Machine"
        reg_type, raw = _registry_value(policy, spec.kind, CHOSEN[name])
        values.append((name, reg_type, raw))
    read_back: dict[str, Any] = registry_values_to_settings(values)
    assert AgentSettings(**read_back) == AgentSettings(**CHOSEN)


def test_the_adml_defines_every_string_and_presentation_the_admx_names() -> None:
    admx, adml = admx_text(), ET.fromstring(adml_text())
    strings = {s.get("id") for s in adml.iterfind(".//p:stringTable/p:string", NS)}
    presentations = {
        p.get("id"): p for p in adml.iterfind(".//p:presentationTable/p:presentation", NS)
    }
    assert set(re.findall(r"\$\(string\.(\w+)\)", admx)) <= strings
    assert set(re.findall(r"\$\(presentation\.(\w+)\)", admx)) == set(presentations)
    for name, policy in _policies().items():
        elements = policy.find("p:elements", NS)
        if elements is None:
            continue
        ids = {element.get("id") for element in elements}
        presentation = presentations[name]
        assert {child.get("refId") for child in presentation} == ids
        explain = adml.find(f".//p:string[@id='{name}_Explain']", NS)
        assert explain is not None
        assert FIELDS[name].about in (explain.text or "")


def test_docs_deploy_holds_the_current_policy_reference() -> None:
    document = DEPLOY_DOC.read_text()
    assert with_reference_table(document) == document, (
        "docs/deploy.md's policy reference is out of date: run installers/build policy-docs"
    )
    for name in FIELDS:
        assert f"| `{name}` |" in reference_table()


def test_a_document_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="no generated policy reference"):
        with_reference_table(f"{END} then {BEGIN}")


def test_a_secret_setting_is_never_shown_in_a_message() -> None:
    secret = "crf_" + "x" * 31  # one short: refused, and the message must not echo it
    with pytest.raises(ValueError, match="enrolment_token") as refused:
        AgentSettings(enrolment_token=secret)
    assert secret not in str(refused.value)
