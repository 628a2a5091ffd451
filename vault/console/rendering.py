"""Rendering console pages from the templates beside this module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from protocol.version import VERSION
from vault.context import Actor
from vault.roles import Permission, allowed

HERE = Path(__file__).parent
STATIC = HERE / "static"

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    href: str
    permissions: tuple[Permission, ...]
    """Shown to whoever holds any of them."""

    def shown_to(self, actor: Actor) -> bool:
        return any(allowed(actor.roles, permission) for permission in self.permissions)


NAV = [
    NavLink("Sessions", "/console/sessions", (Permission.SESSION_LIST,)),
    NavLink("Recordings", "/console/recordings", (Permission.RECORDING_LIST,)),
    NavLink("My recordings", "/console/mine", (Permission.OWN_ACCESS_VIEW,)),
    NavLink("Releases", "/console/releases", (Permission.RELEASE_LIST, Permission.RELEASE_REQUEST)),
    NavLink("Access log", "/console/audit", (Permission.AUDIT_READ,)),
    NavLink(
        "Retention",
        "/console/retention",
        (Permission.RETENTION_RUN, Permission.LEGAL_HOLD, Permission.AUDIT_READ),
    ),
    NavLink("Devices", "/console/devices", (Permission.HEALTH_VIEW, Permission.DEVICE_MANAGE)),
]


def home_for(actor: Actor) -> str:
    """The first page a person's roles allow, in the navigation's order."""
    for link in NAV:
        if link.shown_to(actor):
            return link.href
    return "/console/account"


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def clock(seconds: float | None) -> str:
    """A moment of a recording as m:ss (h:mm:ss past an hour)."""
    if seconds is None:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


_environment.filters["when"] = when
_environment.filters["clock"] = clock


def page(
    request: Request,
    template: str,
    actor: Actor | None,
    *,
    title: str,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    nav = [] if actor is None else [n for n in NAV if n.shown_to(actor)]
    html = _environment.get_template(template).render(
        request_path=request.url.path,
        actor=actor,
        nav=nav,
        title=title,
        version=VERSION,
        can=lambda permission: actor is not None and allowed(actor.roles, Permission(permission)),
        **values,
    )
    return HTMLResponse(html, status_code=status)
