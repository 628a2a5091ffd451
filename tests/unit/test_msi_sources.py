"""The MSI's pure parts: the WiX source from the settings declaration, the SQL for what wixl
cannot write, the launcher's PE patch and boot code, and the signature rules. The built MSI
installed under Wine: tests/installers/test_agent_msi.py."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from installers.policy.settings_view import policy_settings
from installers.reproducible import BuildError
from installers.windows.authenticode import (
    MICROSOFT_PUBLISHERS,
    PYTHON_PUBLISHER,
    Signature,
    pinned_roots,
    problem_with,
)
from installers.windows.embedded_python import _safe_name
from installers.windows.launcher import (
    CONSOLE_SUBSYSTEM,
    WINDOWS_SUBSYSTEM,
    boot_zip,
    launcher,
    subsystem_of,
)
from installers.windows.msi_tables import table_queries
from installers.windows.wix import (
    WIX_NAMESPACE,
    MsiSource,
    component_guid,
    product_wxs,
    property_name,
)

W = f"{{{WIX_NAMESPACE}}}"


def _fake_pe(subsystem: int) -> bytes:
    """An MZ header pointing at a PE header whose optional header has `subsystem`."""
    image = bytearray(512)
    image[:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x80)
    image[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<H", image, 0x80 + 24 + 68, subsystem)
    return bytes(image)


def test_the_windowed_launcher_differs_from_the_console_one_only_in_its_subsystem() -> None:
    stub = _fake_pe(CONSOLE_SUBSYSTEM)
    console = launcher(stub, "agent.cli:main", 1_700_000_000, console=True)
    windowed = launcher(stub, "agent.cli:main", 1_700_000_000, console=False)
    assert subsystem_of(console) == CONSOLE_SUBSYSTEM
    assert subsystem_of(windowed) == WINDOWS_SUBSYSTEM
    assert len(console) == len(windowed)
    assert [a != b for a, b in zip(console, windowed, strict=True)].count(True) == 1


def test_a_file_that_is_not_a_windows_program_is_refused() -> None:
    with pytest.raises(BuildError, match="MZ"):
        launcher(b"\x7fELF" + bytes(600), "agent.cli:main", 0, console=True)


def test_the_boot_code_runs_the_entry_point_and_is_the_same_for_one_commit() -> None:
    made = boot_zip("agent.cli:main", 1_700_000_000)
    assert made == boot_zip("agent.cli:main", 1_700_000_000)
    with zipfile.ZipFile(io.BytesIO(made)) as archive:
        code = archive.read("__main__.py").decode()
    compile(code, "__main__.py", "exec")
    assert "from agent.cli import main" in code
    assert "sys.dont_write_bytecode = True" in code
    assert '"Lib", "site-packages"' in code
    with pytest.raises(BuildError):
        boot_zip("agent.cli", 0)


@pytest.fixture
def wxs(tmp_path: Path) -> ET.Element:
    stage = tmp_path / "stage"
    (stage / "python3-minimal").mkdir(parents=True)
    (stage / "python3-minimal" / "python313.dll").write_bytes(b"dll")
    (stage / "callreel-agent.exe").write_bytes(b"exe")
    text = product_wxs(MsiSource(stage, tmp_path, "1.2.3", policy_settings()))
    return ET.fromstring(text)


def test_every_setting_is_a_property_kept_on_upgrade_and_written_to_policy(
    wxs: ET.Element,
) -> None:
    product = wxs.find(f"{W}Product")
    assert product is not None
    assert product.get("Version") == "1.2.3"
    searches = {
        p.get("Id")
        for p in product.iter(f"{W}Property")
        if p.find(f"{W}RegistrySearch") is not None
    }
    keeps = {c.get("Property"): c.get("Value") for c in product.iter(f"{W}CustomAction")}
    written = {r.get("Name"): r.get("Value") for r in product.iter(f"{W}RegistryValue")}
    for setting in policy_settings():
        name = property_name(setting.name)
        assert f"PREVIOUS_{name}" in searches
        assert keeps[name] == f"[PREVIOUS_{name}]"
        assert written[setting.name] == f"[{name}]"


def test_files_are_named_relative_to_the_source_and_keep_their_component_guid(
    wxs: ET.Element,
) -> None:
    sources = sorted(f.get("Source") or "" for f in wxs.iter(f"{W}File"))
    assert sources == ["stage/callreel-agent.exe", "stage/python3-minimal/python313.dll"]
    assert component_guid("python3-minimal/python313.dll") == component_guid(
        "python3-minimal/python313.dll"
    )
    assert component_guid("a") != component_guid("b")


def test_the_sql_conditions_each_policy_value_and_hides_secrets() -> None:
    queries = table_queries(policy_settings(), "WIX_UPGRADE_DETECTED")
    assert (
        "UPDATE `Component` SET `Condition` = 'VAULT_URL' WHERE `Component` = 'Policy_vault_url'"
        in queries
    )
    secure = next(q for q in queries if "SecureCustomProperties" in q)
    assert secure.startswith("UPDATE")
    assert "'WIX_UPGRADE_DETECTED;VAULT_URL;" in secure
    hidden = next(q for q in queries if "MsiHiddenProperties" in q)
    assert "ENROLMENT_TOKEN;PREVIOUS_ENROLMENT_TOKEN" in hidden
    assert "VAULT_URL" not in hidden
    assert table_queries(policy_settings(), "")[-2].startswith("INSERT")


def test_the_enroll_spelling_sets_the_token_before_the_installed_value_is_kept(
    wxs: ET.Element,
) -> None:
    actions = {c.get("Id"): c for c in wxs.iter(f"{W}CustomAction")}
    alias = actions["Alias_ENROLL_TOKEN"]
    assert (alias.get("Property"), alias.get("Value")) == ("ENROLMENT_TOKEN", "[ENROLL_TOKEN]")
    queries = table_queries(policy_settings(), "")
    order = [q.split("`Action` = ")[1] for q in queries if "InstallExecuteSequence" in q]
    assert order.index("'Alias_ENROLL_TOKEN'") < order.index("'Keep_enrolment_token'")
    hidden = next(q for q in queries if "MsiHiddenProperties" in q)
    assert "ENROLL_TOKEN" in hidden


def _signature(name: str, signer: str, *, intact: bool = True, trusted: bool = True) -> Signature:
    return Signature(Path(name), (signer,), intact, trusted)


def test_only_the_python_publishers_intact_and_chained_signatures_pass() -> None:
    assert problem_with(_signature("python313.dll", PYTHON_PUBLISHER)) is None
    assert "not by" in (problem_with(_signature("python313.dll", "/CN=Someone Else")) or "")
    assert "changed after signing" in (
        problem_with(_signature("python.exe", PYTHON_PUBLISHER, intact=False)) or ""
    )
    assert "pinned root" in (
        problem_with(_signature("python.exe", PYTHON_PUBLISHER, trusted=False)) or ""
    )
    assert "not signed" in (problem_with(Signature(Path("x.pyd"), (), False, False)) or "")
    # Microsoft's runtime: its own publisher, its chain not checkable offline.
    runtime = _signature("vcruntime140.dll", MICROSOFT_PUBLISHERS[0], trusted=False)
    assert problem_with(runtime) is None
    assert problem_with(_signature("vcruntime140.dll", PYTHON_PUBLISHER)) is not None


def test_the_pinned_roots_file_holds_exactly_the_pinned_certificates() -> None:
    assert pinned_roots().is_file()


def test_archive_members_outside_the_interpreter_are_refused() -> None:
    assert str(_safe_name("cp313/python.exe", "cp313/")) == "python.exe"
    assert _safe_name("cp312/python.exe", "cp313/") is None
    for hostile in ("/etc/passwd", "cp313/../../x", "cp313\\..\\x"):
        with pytest.raises(BuildError):
            _safe_name(hostile, "cp313/")
