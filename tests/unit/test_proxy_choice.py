"""Which proxy the agent reaches the vault through: the vault_proxy setting, or the system's
(here: the environment, read by Python's own urllib as on Linux and macOS). Through a real
CONNECT proxy: tests/integration/test_vault_tls_rotation.py."""

from __future__ import annotations

import pytest

from agent.settings.fields import AgentSettings
from agent.vault_connection.proxy_choice import (
    DIRECT,
    ProxyChoice,
    ProxyChoiceError,
    choose_proxy,
    vault_proxy_problem,
)

VAULT = "https://vault.example.com:8443"


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                 "ALL_PROXY", "no_proxy", "NO_PROXY", "REQUEST_METHOD"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_direct_and_an_explicit_proxy_ignore_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://system-proxy:8080")
    assert choose_proxy(VAULT, DIRECT).url is None
    chosen = choose_proxy(VAULT, "http://policy-proxy:3128")
    assert chosen == ProxyChoice("http://policy-proxy:3128", "vault_proxy")


def test_empty_means_the_systems_proxy_and_its_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_proxy(VAULT, "").url is None
    monkeypatch.setenv("HTTPS_PROXY", "http://system-proxy:8080")
    assert choose_proxy(VAULT, "").url == "http://system-proxy:8080"
    monkeypatch.setenv("NO_PROXY", ".example.com")
    assert choose_proxy(VAULT, "").url is None
    assert choose_proxy("https://vault.elsewhere:8443", "").url == "http://system-proxy:8080"


def test_a_system_proxy_as_host_port_is_an_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "proxy.corp:3128")
    assert choose_proxy(VAULT, "").url == "http://proxy.corp:3128"


def test_an_unusable_system_proxy_says_to_set_vault_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.corp:1080")
    with pytest.raises(ProxyChoiceError, match=r"socks5://\.\.\..*set vault_proxy"):
        choose_proxy(VAULT, "")


def test_the_proxys_password_is_never_described(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://me:secret@proxy.corp:3128")
    chosen = choose_proxy(VAULT, "")
    assert chosen.url == "http://me:secret@proxy.corp:3128"
    assert "secret" not in chosen.describe()
    assert "me" not in chosen.describe().split("(")[0]
    assert chosen.describe() == "through http://proxy.corp:3128 (the system's proxy settings)"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("proxy.corp:3128", "must be a proxy address"),
        ("http://proxy.corp", "must be a proxy address"),
        ("socks5://proxy.corp:1080", "must be a proxy address"),
        ("http://proxy.corp:3128/path", "with no path"),
        ("http://me:pw@proxy.corp:3128", "must not hold a user name or password"),
        ("http://proxy.corp:99999", "is not a URL"),
    ],
)
def test_the_vault_proxy_setting_is_checked(value: str, problem: str) -> None:
    found = vault_proxy_problem(value)
    assert found is not None
    assert problem in found
    assert "or direct" in found
    with pytest.raises(ValueError, match="vault_proxy"):
        AgentSettings(vault_proxy=value)


@pytest.mark.parametrize("value", ["", "direct", "http://proxy.corp:3128", "https://[::1]:443"])
def test_good_vault_proxy_settings(value: str) -> None:
    assert vault_proxy_problem(value) is None
    assert AgentSettings(vault_proxy=value).vault_proxy == value
