"""Which Origin headers count as the vault's own, for cookie-authenticated changes."""

from __future__ import annotations

import pytest

from vault.api.same_origin import same_origin


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://vault.example.com", "vault.example.com"),
        ("https://vault.example.com:443", "vault.example.com"),
        ("https://vault.example.com", "vault.example.com:443"),
        ("https://127.0.0.1:8443", "127.0.0.1:8443"),
        ("https://[::1]:8443", "[::1]:8443"),
        ("https://Vault.Example.com", "vault.example.com"),
    ],
)
def test_the_vaults_own_origin_is_accepted(origin: str, host: str) -> None:
    assert same_origin(origin, host)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://intranet.example.com", "vault.example.com"),
        ("https://vault.example.com.evil.test", "vault.example.com"),
        ("http://vault.example.com", "vault.example.com"),
        ("https://vault.example.com:8443", "vault.example.com"),
        ("https://127.0.0.1:8444", "127.0.0.1:8443"),
        ("null", "vault.example.com"),
        (None, "vault.example.com"),
        ("", "vault.example.com"),
        ("https://vault.example.com", None),
        ("https://user@vault.example.com", "vault.example.com"),
        ("https://vault.example.com:99999", "vault.example.com"),
        ("https://vault.example.com/path", "vault.example.com"),
    ],
)
def test_anything_else_is_refused(origin: str | None, host: str | None) -> None:
    assert not same_origin(origin, host)
