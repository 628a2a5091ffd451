"""Which proxy, if any, the agent reaches the vault through: the `vault_proxy` setting's
syntax and its meaning. Loads nothing but the standard library: the settings check it, and
the settings readers run under Wine.

Empty means the system's proxy as Python's urllib finds it: HTTPS_PROXY and NO_PROXY (any
case) from the environment, and on Windows, when those are unset, the Internet Settings in
the registry (per user, else per machine). A proxy auto-config (PAC) script is not evaluated:
set vault_proxy explicitly where the system's proxy comes from one (docs/deploy.md).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DIRECT = "direct"
SYSTEM = ""
PROXY_EXAMPLE = "http://proxy.example.com:3128"


class ProxyChoiceError(ValueError):
    """A proxy that cannot be used; the message says what to set instead."""


@dataclass(frozen=True, slots=True)
class ProxyChoice:
    url: str | None
    """None: straight to the vault."""
    source: str
    """Where it came from, for messages: 'vault_proxy', 'the system's proxy settings'."""

    def describe(self) -> str:
        """For logs and doctor: never the proxy's user name or password."""
        if self.url is None:
            return f"direct ({self.source})"
        parts = urlsplit(self.url)
        return f"through {parts.scheme}://{parts.hostname}:{parts.port} ({self.source})"


def proxy_url_problem(url: str, *, allow_credentials: bool) -> str | None:
    """Why `url` is not an http:// or https:// proxy address with a host and port, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return f"must be a proxy address such as {PROXY_EXAMPLE} (http:// or https://, a port)"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"must be only a proxy address such as {PROXY_EXAMPLE}, with no path"
    if (parts.username or parts.password) and not allow_credentials:
        return "must not hold a user name or password (policy is readable by every user)"
    return None


def vault_proxy_problem(value: object) -> str | None:
    """The `vault_proxy` setting's check: empty, 'direct', or a proxy URL."""
    text = str(value)
    if text in (SYSTEM, DIRECT):
        return None
    problem = proxy_url_problem(text, allow_credentials=False)
    return None if problem is None else f"{problem}; or empty (the system's proxy), or direct"


def choose_proxy(
    vault_url: str,
    setting: str,
    *,
    system_proxies: Callable[[], Mapping[str, str]] = urllib.request.getproxies,
    bypassed: Callable[[str], object] = urllib.request.proxy_bypass,
) -> ProxyChoice:
    """The proxy for requests to `vault_url` under the `vault_proxy` setting."""
    if setting == DIRECT:
        return ProxyChoice(None, "vault_proxy = direct")
    if setting != SYSTEM:
        problem = vault_proxy_problem(setting)
        if problem is not None:
            raise ProxyChoiceError(f"vault_proxy {setting!r} {problem}")
        return ProxyChoice(setting, "vault_proxy")
    source = "the system's proxy settings"
    host = urlsplit(vault_url).hostname or ""
    system = system_proxies().get("https")
    if not system or bypassed(host):
        return ProxyChoice(None, source)
    if "://" not in system:
        system = f"http://{system}"  # HTTPS_PROXY=host:port means an HTTP proxy there
    problem = proxy_url_problem(system, allow_credentials=True)
    if problem is not None:
        raise ProxyChoiceError(
            f"the system's proxy for https ({urlsplit(system).scheme}://...) {problem}; set"
            " vault_proxy in the policy to the proxy to use, or to direct"
        )
    return ProxyChoice(system, source)
