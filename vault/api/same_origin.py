"""Cross-site request refusal for the console's cookie (R13).

`SameSite=Strict` keeps the cookie from other sites, but a sibling subdomain is the same
*site*: a page on intranet.example.com could post to vault.example.com with the cookie. So
every state change authenticated by the cookie must come from the vault's own origin, as the
browser states it in `Origin`. Scripts using a bearer token send no cookie and are unaffected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether `origin` (the Origin header) is https on exactly `host` (the Host header,
    with its port). A missing or opaque ('null') origin is not the same origin."""
    if not origin or not host or origin == "null" or len(origin) > 300:
        return False
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or parts.path or parts.query or parts.username:
        return False
    stated = parts.hostname or ""
    if ":" in stated:
        stated = f"[{stated}]"
    if port not in (None, 443):
        stated = f"{stated}:{port}"
    return stated == _normal_host(host)


def _normal_host(host: str) -> str:
    host = host.lower()
    return host.removesuffix(":443")
